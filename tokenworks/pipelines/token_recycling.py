"""Reproduction: Turning Trash into Treasure: Accelerating Inference of LLMs with Token Recycling
(Luo et al. 2024, arXiv 2408.08696; ACL 2025).

Workload: held-out code prompts (zoo `code_prompts`), greedy, batch 1. Arms, in one interleaved run with
the same prompts and the same token counting (tokenworks.methods.decoding.measure): our greedy (KV cache),
Hugging Face greedy `generate`, Hugging Face prompt lookup, Token Recycling (hot global matrix, as the
official eval), the same drafter with a chain template (isolates the tree), and Token Recycling with a
cold matrix per request (isolates hot start). Speedups are over the faster of the two greedy baselines.

Knobs were chosen on the validation split with code-lm-tiny 378d75de74d5 (the unlikelihood recipe trained
1800 + 120 steps; greedy output varied: distinct-4-gram 0.79 on validation prompts): per-rank acceptance with
tree 2.2.2 -> RANK_ACCEPT; then top8/12/16/24 and 2.2.2 compared at one thread: top8 1.13x, top12 1.12x, top16
1.07x, top24 1.00x, 2.2.2 0.66x (MAL 1.96 / 2.12 / 2.21 / 2.42 / 2.89). Measured on the test split with the
current code-lm-tiny 4566db30eb82 (tiny preset, 2026-11-29, 2-core CPU, 1 thread, MLflow run
47719a9097f14604b000f206b4c19367): Token Recycling 1.23x over greedy (our greedy was faster than hf-greedy),
MAL 1.97, exact match 1.000, prompt lookup 0.98x (MAL 1.44); the paper's tree reaches MAL 2.91 but 0.84x,
because its 80-node verify forward costs 3.5x a one-token forward on this CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from tokenworks.config import Choice, SearchSpace, TokenworksConfig
from tokenworks.methods.decoding.measure import BenchReport, compare_decoders
from tokenworks.methods.decoding.token_recycling import TokenRecyclingConfig
from tokenworks.pipelines.base import Claim, PaperClaim, Reproduction, Result, RunContext
from tokenworks.runtime import configure_threads

TR, CHAIN, COLD = "token-recycling", "token-recycling-chain", "token-recycling-cold"
PAPER_TREE = "token-recycling-paper-tree"  # the official 80-node tree "2.2.2": the paper's acceptance setting
BASELINES = ("greedy", "hf-greedy")


class TokenRecyclingRepro(TokenworksConfig):
    model: str = Field("code-lm-tiny", description="zoo name, local path or Hugging Face id of the target")
    prompts: int = Field(30, ge=1, le=2000, description="held-out code prompts")
    prompt_tokens: int = Field(96, ge=8, le=4096)
    split: Literal["validation", "test"] = Field("test", description="choose knobs on validation, report test")
    max_new_tokens: int = Field(128, ge=1, le=4096)
    repeats: int = Field(3, ge=1, le=50)
    method: TokenRecyclingConfig = Field(default_factory=TokenRecyclingConfig)
    chain_length: int = Field(8, ge=1, le=32, description="nodes of the chain-template arm")
    prompt_lookup_num_tokens: int = Field(10, ge=1, le=128)
    cold_arm: bool = Field(True, description="also run Token Recycling with a cold matrix per request")
    paper_tree_arm: bool = Field(
        True, description="also run Token Recycling with the paper's 80-node tree 2.2.2 (its acceptance setting)"
    )
    warm_prompts: int = Field(
        0, ge=0, le=2000,
        description="validation prompts served by the global-matrix arms before measuring (hot start from other "
        "traffic); 0 = the matrix starts cold at the first measured prompt and warms over the stream",
    )

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"model": "code-lm-micro", "prompts": 3, "max_new_tokens": 16, "repeats": 1,
                  "method": {"tree": "top16"}},
        "tiny": {},
        "paper": {"model": "lmsys/vicuna-7b-v1.3", "prompts": 80, "prompt_tokens": 512, "max_new_tokens": 1024,
                  "repeats": 1, "method": {"tree": "2.2.2", "topk": 8, "persist": "global",
                                           "update_from_prefill": False}},
    }


def arm_options(cfg: TokenRecyclingRepro) -> dict[str, dict[str, Any]]:
    method = cfg.method.model_dump()
    options = {
        "prompt-lookup": {"num_tokens": cfg.prompt_lookup_num_tokens},
        TR: method,
        CHAIN: {**method, "decoder": TR, "tree": f"chain{cfg.chain_length}"},
    }
    if cfg.cold_arm:
        options[COLD] = {**method, "decoder": TR, "persist": "per_request"}
    if cfg.paper_tree_arm and cfg.method.tree != "2.2.2":
        options[PAPER_TREE] = {**method, "decoder": TR, "tree": "2.2.2", "topk": max(8, cfg.method.topk)}
    return options


def warm_decoders(model, tokenizer, cfg: TokenRecyclingRepro, options: dict[str, dict]) -> dict[str, Any]:
    """The global-matrix arms, each hot from serving `warm_prompts` validation-split prompts (drawn with seed 1)."""
    from tokenworks.methods.decoding.registry import make_decoder
    from tokenworks.zoo import code_prompts

    texts = code_prompts(tokenizer, cfg.warm_prompts, split="validation", prompt_tokens=cfg.prompt_tokens, seed=1)
    warmed = {}
    for arm in (a for a in (TR, CHAIN, PAPER_TREE) if a in options):
        opts = {k: v for k, v in options[arm].items() if k != "decoder"}
        warmed[arm] = make_decoder(TR, model, tokenizer, **opts)
        if cfg.method.persist == "global":
            warmed[arm].warm([tokenizer.encode(t) for t in texts], cfg.max_new_tokens)
    return warmed


class TokenRecyclingReproduction(Reproduction):
    slug = "token-recycling"
    config_cls = TokenRecyclingRepro
    kind = "faithful"
    paper_claims: ClassVar[list[PaperClaim]] = [
        PaperClaim("speedup over greedy", 2.0, "x", "Vicuna-7B", "Spec-Bench, greedy, batch 1, A100 (README: 2.09x)"),
        PaperClaim("mean acceptance length", 2.73, " tokens", "Vicuna-7B", "Spec-Bench, greedy (bonus included)"),
        PaperClaim("output identical to greedy", 1.0, "", "any", "lossless greedy verification"),
        PaperClaim("better than train-free baselines (PLD, Lookahead, REST)", 30.0, "%", "Vicuna-7B/13B/33B",
                   "Spec-Bench and MBPP"),
        PaperClaim("adjacency-matrix memory", 1.95, " MB", "Vicuna-7B (V=32000, k=8, int64)", "storage"),
    ]
    pareto_axes = ((f"{TR}/speedup", "max"), (f"{TR}/exact_match", "max"))

    def search_space(self) -> SearchSpace:
        return {
            "method.topk": Choice((4, 8, 12)),
            "method.tree": Choice(("top8", "top12", "top16", "top24", "chain4", "2.2.2")),
            "method.persist": Choice(("none", "per_request", "global")),
        }

    def run(self, cfg: TokenRecyclingRepro, ctx: RunContext) -> Result:
        from tokenworks.zoo import code_prompts, load_lm, zoo_bits_per_byte

        configure_threads(ctx.num_threads)
        ctx.progress(f"token-recycling: loading {cfg.model}")
        model, tokenizer = load_lm(cfg.model)
        prompts = code_prompts(tokenizer, cfg.prompts, split=cfg.split, prompt_tokens=cfg.prompt_tokens)
        options = arm_options(cfg)
        methods = [*BASELINES, "prompt-lookup", TR, CHAIN] + [a for a in (COLD, PAPER_TREE) if a in options]
        warmed = warm_decoders(model, tokenizer, cfg, options) if cfg.warm_prompts else None
        report = compare_decoders(model, tokenizer, methods, prompts, cfg.max_new_tokens, cfg.repeats, options,
                                  decoders=warmed)
        ctx.progress("\n" + report.to_table())
        bpb = zoo_bits_per_byte(cfg.model)
        matrix_mb = adjacency_megabytes(model, tokenizer, cfg)
        metrics = flat_metrics(report, matrix_mb, bpb)
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        return Result(
            metrics=metrics,
            claims=claims(metrics, cfg, bpb),
            tables={"per_sample": report.per_sample},
            plots={"arms": plot_arms(report, workdir / "token_recycling_arms.png"),
                   "hot_vs_cold": plot_hot_vs_cold(report, workdir / "token_recycling_hot_vs_cold.png")},
            notes=[report.to_table(), f"setting: {report.setting}", *report.warnings],
        )


def flat_metrics(report: BenchReport, matrix_mb: float, bpb: float | None) -> dict[str, float]:
    """ARM/METRIC; ARM/speedup is over the faster of greedy and hf-greedy (speedup_over_greedy beside it)."""
    base = max(report.rows[b]["tokens_per_s"] for b in BASELINES)
    metrics: dict[str, float] = {}
    for arm, row in report.rows.items():
        for key, value in row.items():
            metrics[f"{arm}/{key}"] = float(value)
        metrics[f"{arm}/speedup_over_greedy"] = float(row["speedup"])
        metrics[f"{arm}/speedup"] = row["tokens_per_s"] / base
        metrics[f"{arm}/tokens_processed_per_token"] = float(report.details[arm]["tokens_processed_per_token"])
        # wall per target forward over greedy's: what one (tree) verify forward costs on this hardware
        metrics[f"{arm}/forward_cost"] = float(report.details[arm]["forward_cost"])
    metrics[f"{TR}/realized_efficiency"] = metrics[f"{TR}/speedup"] / metrics[f"{TR}/mean_acceptance_length"]
    metrics[f"{TR}/speedup_vs_prompt_lookup"] = metrics[f"{TR}/speedup"] / metrics["prompt-lookup/speedup"]
    metrics[f"{TR}/matrix_mb"] = matrix_mb
    if bpb is not None:
        metrics["model/bits_per_byte"] = float(bpb)
    return metrics


def adjacency_megabytes(model, tokenizer, cfg: TokenRecyclingRepro) -> float:
    """The size of the matrix a Token Recycling decoder actually holds for this model (its whole extra state)."""
    from tokenworks.methods.decoding.registry import make_decoder

    matrix = make_decoder(TR, model, tokenizer, **cfg.method.model_dump()).adjacency
    return matrix.numel() * matrix.element_size() / 2**20


def claims(m: dict[str, float], cfg: TokenRecyclingRepro, bpb: float | None) -> list[Claim]:
    variety = m.get("greedy/distinct_4gram")
    ours = (f"{cfg.model} ({'bits/byte %.3f' % bpb if bpb is not None else 'bits/byte n/a'}"
            f"{', greedy distinct-4-gram %.2f' % variety if variety is not None else ''}), {cfg.prompts} "
            f"{cfg.split} code prompts x {cfg.max_new_tokens} new tokens, tree {cfg.method.tree}, k={cfg.method.topk}, "
            f"persist {cfg.method.persist}, median of {cfg.repeats} interleaved repeats, this machine")
    paper_scale = cfg.model == "lmsys/vicuna-7b-v1.3"
    cost = m.get(f"{TR}/forward_cost")
    not_comparable = ("a few-M-parameter model on a CPU is compute/overhead-bound: "
                      + (f"a verify forward of tree {cfg.method.tree} costs {cost:.2f}x a one-token forward here"
                         if cost else "a tree forward costs more than a one-token forward")
                      + "; the paper's speedup rests on a 7B model on a GPU being memory-bound, where a wide verify "
                         "forward costs about one step (not measured here)")
    if variety is not None and variety < 0.6:
        not_comparable += (f"; and this model's greedy output repeats itself (distinct-4-gram {variety:.2f} < 0.6), "
                           "which inflates every drafter's acceptance")
    speedup, mal, exact = m[f"{TR}/speedup"], m[f"{TR}/mean_acceptance_length"], m[f"{TR}/exact_match"]
    vs_pld = m[f"{TR}/speedup_vs_prompt_lookup"]
    return [
        Claim("speedup over greedy", "2.0x (Vicuna-7B, Spec-Bench, A100)",
              f"{speedup:.2f}x over the faster of greedy/hf-greedy", ours,
              _verdict(speedup >= 1.8, paper_scale), "" if paper_scale else not_comparable),
        Claim("mean acceptance length", "2.73 (Vicuna-7B, Spec-Bench)", _mal_text(m, cfg), ours,
              _verdict(mal >= 2.73 * 0.9, paper_scale),
              "" if paper_scale else "a different model and workload (code continuation, not Spec-Bench)"
              + (not_comparable[not_comparable.index(";"):] if ";" in not_comparable else "")),
        Claim("output identical to greedy", "lossless (greedy)", f"exact match {exact:.3f}", ours,
              "reproduced" if exact == 1.0 else "not reproduced",
              "" if exact == 1.0 else "some outputs differ from greedy: check fp ties / the tree mask"),
        Claim("~30% faster than train-free baselines", "+30% (over PLD, Lookahead, REST)",
              f"{(vs_pld - 1) * 100:+.0f}% over HF prompt lookup (same run)", ours,
              *_baseline_verdict(vs_pld, variety)),
        Claim("adjacency-matrix memory", "<2 MB: 1.95 MB (V=32000, k=8)", f"{m[f'{TR}/matrix_mb']:.3f} MB", ours,
              "reproduced" if m[f"{TR}/matrix_mb"] < 2.0 else "not reproduced",
              "measured size of the matrix the decoder held (V x k int64); smaller vocabulary here"),
    ]


def _mal_text(m: dict[str, float], cfg: TokenRecyclingRepro) -> str:
    text = f"{m[f'{TR}/mean_acceptance_length']:.2f} (tree {cfg.method.tree})"
    if f"{PAPER_TREE}/mean_acceptance_length" in m:
        text += (f"; {m[f'{PAPER_TREE}/mean_acceptance_length']:.2f} with the paper's tree 2.2.2 "
                 f"({m[f'{PAPER_TREE}/speedup']:.2f}x: its 80-node forward costs "
                 f"{m[f'{PAPER_TREE}/forward_cost']:.2f}x here)")
    return text


def _baseline_verdict(vs_pld: float, variety: float | None) -> tuple[str, str]:
    """Same model, same run: meaningful at any scale, unless the model loops (that inflates both drafters)."""
    if variety is not None and variety < 0.6:
        return ("not comparable at this scale",
                f"this model's greedy output repeats itself (distinct-4-gram {variety:.2f} < 0.6), which inflates "
                "both retrieval drafters' acceptance")
    if vs_pld >= 1.2:
        return "reproduced", ""
    return "not reproduced", "prompt lookup is within 20% of (or ahead of) Token Recycling here"


def _verdict(ok: bool, paper_scale: bool) -> str:
    if not paper_scale:
        return "not comparable at this scale"
    return "reproduced" if ok else "not reproduced"


def plot_arms(report: BenchReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(report.rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    panels = (("mean_acceptance_length", "mean acceptance length"), ("speedup", "speedup over greedy"))
    for ax, (key, title) in zip(axes, panels):
        ax.bar(arms, [report.rows[a][key] for a in arms], color="tab:blue")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_hot_vs_cold(report: BenchReport, path: Path) -> Path:
    """Running mean acceptance length (pooled over the prompts served so far, first repeat) for the global
    (hot) and per-request (cold) matrix: the hot-start effect is the gap that opens as prompts are served."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    arms = ((TR, "global matrix (hot start)"), (COLD, "per-request matrix (cold)"), (CHAIN, "chain, global"))
    for arm, label in arms:
        rows = sorted((s["prompt"], s["accepted"], s["verify_steps"]) for s in report.per_sample
                      if s["method"] == arm and s["repeat"] == 0)
        accepted = steps = 0
        curve = []
        for _, a, n in rows:
            accepted, steps = accepted + a, steps + n
            curve.append(1 + accepted / max(steps, 1))
        if curve:
            ax.plot(range(1, len(curve) + 1), curve, marker=".", label=label)
    ax.set_xlabel("prompts served")
    ax.set_ylabel("mean acceptance length (running)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
