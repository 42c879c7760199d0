"""Reproduction: S2D, Sorted Speculative Decoding for more efficient deployment of nested LLMs
(Kavehzadeh et al. 2024, arXiv 2407.01955).

One sorted draft (zoo `s2d-draft-sorted`: 3 layers trained once with SoFT at exits 1, 2, 3) drafts for
several targets of different sizes (zoo `task-lm-large`, 2 layers d=128, and `task-lm-xl`, 4 layers
d=256); for each target, acceptance decides at run time which exit drafts. Per target, in one interleaved
run with the same prompts and the same token counting (tokenworks.methods.decoding.measure): the target
alone (greedy, KV cache), S2D with the run-time exit choice, S2D pinned to each exit, and the same
speculative decoder with a draft trained separately for that target (distilled from it, zoo
`s2d-draft-for-TARGET`). Workload: held-out task prompts and stdlib code prompts (test split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from tokenworks.config import Choice, IntRange, SearchSpace, TokenworksConfig
from tokenworks.pipelines.base import Claim, PaperClaim, Reproduction, Result, RunContext
from tokenworks.runtime import configure_threads

S2D, PER_TARGET = "s2d", "per-target-draft"


class S2DRepro(TokenworksConfig):
    targets: list[str] = Field(default_factory=lambda: ["task-lm-large", "task-lm-xl"],
                               description="zoo names of the target models (one tokenizer)")
    sorted_draft: str = Field("s2d-draft-sorted", description="zoo name of the sorted (multi-exit) draft")
    per_target_drafts: bool = Field(True, description="also run the separately trained draft of each target "
                                    "(zoo s2d-draft-for-TARGET)")
    task_prompts: int = Field(8, ge=0, le=400, description="held-out task prompts per task")
    code_prompts: int = Field(16, ge=0, le=500, description="held-out stdlib code prompts")
    prompt_tokens: int = Field(24, ge=4, le=512, description="code prompt length (the models' context is 64)")
    max_new_tokens: int = Field(32, ge=1, le=1024)
    repeats: int = Field(3, ge=1, le=20)
    draft_len: int = Field(5, ge=1, le=64, description="initial draft length, heuristic schedule [5]")
    explore_steps: int = Field(2, ge=1, le=1000)
    fixed_exit_arms: bool = Field(True, description="also run S2D pinned to each exit")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"targets": ["task-lm-large-micro", "task-lm-xl-micro"], "sorted_draft": "s2d-draft-sorted-micro",
                  "task_prompts": 1, "code_prompts": 1, "max_new_tokens": 12, "repeats": 1},
        "tiny": {},
        "paper": {"targets": ["lmsys/vicuna-7b-v1.3", "lmsys/vicuna-13b-v1.3", "meta-llama/Llama-2-70b-chat-hf"],
                  "sorted_draft": "parsakaveh/SD2-SoFT-Draft", "per_target_drafts": False, "task_prompts": 0,
                  "code_prompts": 80, "prompt_tokens": 512, "max_new_tokens": 1024, "repeats": 1},
    }


def base_name(target: str) -> str:
    """The name metrics use: the zoo name without a -micro suffix (the same keys for every preset)."""
    return target.removesuffix("-micro")


def per_target_draft_name(target: str) -> str:
    suffix = "-micro" if target.endswith("-micro") else ""
    return f"s2d-draft-for-{base_name(target)}{suffix}"


def workload(tokenizer, cfg: S2DRepro, source: str | None) -> list[str]:
    from tokenworks.zoo import code_prompts
    from tokenworks.zoo.task_models import heldout_examples

    texts = []
    if cfg.code_prompts:
        texts += code_prompts(tokenizer, cfg.code_prompts, split="test", prompt_tokens=cfg.prompt_tokens)
    if cfg.task_prompts and source:
        eos = tokenizer.eos_token
        texts += [eos + ex.prompt for ex in heldout_examples(source, "test", cfg.task_prompts)]
    return texts


class S2DReproduction(Reproduction):
    slug = "s2d"
    config_cls = S2DRepro
    kind = "mechanism"
    paper_claims: ClassVar[list[PaperClaim]] = [
        PaperClaim("average speedup across targets with one sorted draft", 1.55, "x",
                   "Vicuna-7B, Vicuna-13B, LLaMA-2-Chat-70B", "Spec-Bench (third-party summary of the paper)"),
        PaperClaim("one sorted draft beats per-target drafts for several targets", 1.0, "",
                   "Vicuna-7B/13B, LLaMA-2-Chat-70B", "Spec-Bench"),
        PaperClaim("output identical to the target's greedy output", 1.0, "", "any", "lossless greedy verification"),
    ]
    pareto_axes = ((f"{S2D}/mean_speedup", "max"), (f"{S2D}/mean_acceptance_length", "max"))

    def search_space(self) -> SearchSpace:
        return {"draft_len": IntRange(2, 8), "explore_steps": Choice((1, 2, 4))}

    def run(self, cfg: S2DRepro, ctx: RunContext) -> Result:
        from tokenworks.methods.decoding.measure import compare_decoders
        from tokenworks.methods.decoding.s2d.config import S2DConfig
        from tokenworks.methods.decoding.s2d.decoder import S2DDecoder
        from tokenworks.zoo import load_lm
        from tokenworks.zoo.recipes import ZOO, ensure_extensions

        configure_threads(ctx.num_threads)
        ensure_extensions()
        ctx.progress(f"s2d: loading the sorted draft {cfg.sorted_draft}")
        draft, _ = load_lm(cfg.sorted_draft)
        exits = tuple(range(1, draft.config.num_hidden_layers + 1))
        metrics: dict[str, float] = {}
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        for target_name in cfg.targets:
            name = base_name(target_name)
            ctx.progress(f"s2d: target {target_name}")
            target, tokenizer = load_lm(target_name)
            source = ZOO[target_name].data if target_name in ZOO and hasattr(ZOO[target_name], "data") else None
            prompts = workload(tokenizer, cfg, source)
            method = S2DConfig(draft_model=cfg.sorted_draft, draft_len=cfg.draft_len, explore_steps=cfg.explore_steps)
            decoders = {S2D: S2DDecoder(target, draft, tokenizer, method)}
            if cfg.fixed_exit_arms:
                for e in exits:
                    decoders[f"{S2D}-exit{e}"] = S2DDecoder(target, draft, tokenizer, method.model_copy(
                        update={"exit_layer": e}), costs=decoders[S2D].costs)
            if cfg.per_target_drafts:
                own, _ = load_lm(per_target_draft_name(target_name))
                decoders[PER_TARGET] = S2DDecoder(target, own, tokenizer, method.model_copy(
                    update={"exits": [own.config.num_hidden_layers]}))
            methods = ["greedy", *decoders]
            report = compare_decoders(target, tokenizer, methods, prompts, cfg.max_new_tokens, cfg.repeats,
                                      decoders=decoders, progress=True)
            for arm, row in report.rows.items():
                for key, value in row.items():
                    metrics[f"{arm}/{name}/{key}"] = float(value)
            metrics[f"{S2D}/{name}/exit_layer"] = float(decoders[S2D].best_exit())
            for e in exits:
                metrics[f"{S2D}/{name}/exit_{e}_steps"] = float(decoders[S2D].steps[e])
                metrics[f"{S2D}/{name}/exit_{e}_accept_rate"] = decoders[S2D].accept_rate(e)
            rows += [{**r, "target": name} for r in report.per_sample]
            notes.append(f"target {target_name}:\n{report.to_table()}")
        names = [base_name(t) for t in cfg.targets]
        metrics[f"{S2D}/mean_speedup"] = sum(metrics[f"{S2D}/{n}/speedup"] for n in names) / len(names)
        metrics[f"{S2D}/mean_acceptance_length"] = (
            sum(metrics[f"{S2D}/{n}/mean_acceptance_length"] for n in names) / len(names))
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        plot = plot_targets(metrics, names, exits, cfg, workdir / "s2d_targets.png")
        return Result(metrics=metrics, claims=claims(metrics, names, cfg), tables={"per_sample": rows},
                      plots={"targets": plot}, notes=notes)


def claims(m: dict[str, float], names: list[str], cfg: S2DRepro) -> list[Claim]:
    ours = (f"targets {', '.join(cfg.targets)}; draft {cfg.sorted_draft}; {cfg.code_prompts} code + "
            f"{3 * cfg.task_prompts} task prompts x {cfg.max_new_tokens} new tokens; median of {cfg.repeats} "
            "interleaved repeats; this CPU, 1 thread")
    paper_scale = not any(t.startswith("task-lm") for t in cfg.targets)
    per_target = ", ".join(f"{n} {m[f'{S2D}/{n}/speedup']:.2f}x (MAL {m[f'{S2D}/{n}/mean_acceptance_length']:.2f}, "
                           f"exit {int(m[f'{S2D}/{n}/exit_layer'])})" for n in names)
    out = [Claim("average speedup across targets", "~1.55x (7B-70B targets, Spec-Bench; third-party summary)",
                 f"{m[f'{S2D}/mean_speedup']:.2f}x mean over targets: {per_target}", ours,
                 "not comparable at this scale",
                 "" if paper_scale else "a few-M-parameter target on a CPU at batch 1 is overhead-bound: a draft "
                 "layer costs nearly as much as a target layer, so speculative decoding has little to save")]
    if cfg.per_target_drafts:
        diffs = {n: m[f"{S2D}/{n}/speedup"] - m[f"{PER_TARGET}/{n}/speedup"] for n in names}
        mal = ", ".join(f"{n} MAL {m[f'{S2D}/{n}/mean_acceptance_length']:.2f} vs "
                        f"{m[f'{PER_TARGET}/{n}/mean_acceptance_length']:.2f}, speedup "
                        f"{m[f'{S2D}/{n}/speedup']:.2f}x vs {m[f'{PER_TARGET}/{n}/speedup']:.2f}x" for n in names)
        wins = all(d >= -0.02 for d in diffs.values())
        out.append(Claim("one sorted draft serves several targets as well as per-target drafts",
                         "the SoFT draft beats per-target baselines for several targets at once",
                         f"sorted vs per-target (distilled) draft: {mal}",
                         ours + "; training: the sorted draft once for all targets, each per-target draft "
                         "separately (tiny: 400 vs 250 steps each, see zoo.task_models)",
                         "reproduced" if wins else "not reproduced",
                         "" if wins else "a draft distilled from the target is faster for: "
                         + ", ".join(n for n, d in diffs.items() if d < -0.02)))
    exact = min(m[f"{S2D}/{n}/exact_match"] for n in names)
    out.append(Claim("output identical to greedy", "lossless (greedy verification)",
                     f"exact match {exact:.3f} (worst target)", ours,
                     "reproduced" if exact == 1.0 else "not reproduced",
                     "" if exact == 1.0 else "some outputs differ from the target's greedy output"))
    return out


def plot_targets(m: dict[str, float], names: list[str], exits, cfg: S2DRepro, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [S2D] + ([f"{S2D}-exit{e}" for e in exits] if cfg.fixed_exit_arms else []) + (
        [PER_TARGET] if cfg.per_target_drafts else [])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / len(arms)
    for ax, key, title in ((axes[0], "mean_acceptance_length", "mean acceptance length"),
                           (axes[1], "speedup", "speedup over the target alone")):
        for i, arm in enumerate(arms):
            ax.bar([j + i * width for j in range(len(names))], [m[f"{arm}/{n}/{key}"] for n in names], width,
                   label=arm)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
