"""What the `localleap` and `freecache` reproductions share: the workload, the arms, the curves, the metrics,
the Pareto plot and table.

Workload: held-out exact-answer tasks (tokenworks.zoo.diffusion_models: copy, reverse, sort, rep),
batch 1, `gen_length` positions after the prompt, semi-AR blocks of `block_length`. Every arm decodes the same
examples; tokens are counted the same way for every arm: the output up to and including its first EOS
(gen_length when it has none), as Fast-dLLM counts after truncation. NFE = model calls of any kind
(diffusion model and AR guide); `nfe_per_token` = NFE / tokens; `tokens_per_forward` = its inverse.

Arms at the recommended configuration (ARM/accuracy, ARM/nfe_per_token, ... for each):
  baseline   LLaDA: one token per step, lowest-confidence remasking, no cache
  fast-dllm  threshold rule (at least one per step) with Fast-dLLM's prefix cache
  localleap  anchors + relaxed neighbourhood, no cache (as LocalLeap's reference code)
  freecache  the fast-dllm threshold rule with the FreeCache cache policy (isolates the cache)
  guided     FreeCache diffusion drafts verified by the AR guide (deterministic rule)
  guide-ar   the guide alone, greedy with KV cache: guided is always reported beside it
  ar         a same-size AR model (the diffusion model's causal twin), greedy with KV cache
Curves (no cache, so only the commit policy differs): fixed-k tokens per step (where committing too many at
once starts to hurt), the threshold rule over thresholds, LocalLeap over thresholds x relaxed thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from tokenworks.config import Choice, SearchSpace, TokenworksConfig, Uniform

ARMS = ("baseline", "fast-dllm", "localleap", "freecache", "guided", "guide-ar", "ar")


class DiffusionRepro(TokenworksConfig):
    model: str = Field("dlm-tiny", description="zoo name or directory of the masked-diffusion LM")
    ar_model: str = Field("dlm-ar-tiny", description="same-size AR model (the `ar` arm)")
    guide: str = Field("dlm-guide-tiny", description="small AR guide of guided diffusion (same tokenizer)")
    split: Literal["validation", "test"] = Field("test", description="choose knobs on validation, report test")
    per_task: int = Field(40, ge=1, le=400, description="examples per task (4 tasks)")
    gen_length: int = Field(16, ge=2, le=24)
    block_length: int = Field(8, ge=1, le=24)
    threshold: float = Field(0.9, ge=0.0, le=1.0, description="Fast-dLLM threshold and LocalLeap anchor threshold")
    relaxed_threshold: float = Field(0.6, ge=0.0, le=1.0, description="LocalLeap; clamped to <= threshold")
    radius: int = Field(4, ge=0, le=24, description="LocalLeap neighbourhood half-width")
    fast_dllm_cache: Literal["none", "prefix", "dual"] = Field("prefix")
    refresh_interval: int = Field(0, ge=0, le=64, description="FreeCache full refresh every k calls (0 = never)")
    guide_rule: Literal["deterministic", "topk"] = Field("deterministic")
    guide_top_k: int = Field(5, ge=1, le=50)
    curve_k: list[int] = Field(default_factory=lambda: [2, 3, 4, 8, 16])
    curve_thresholds: list[float] = Field(default_factory=lambda: [0.3, 0.5, 0.7, 0.9, 0.99])
    curve_relaxed: list[float] = Field(default_factory=lambda: [0.3, 0.6])
    curve_radii: list[int] = Field(default_factory=lambda: [1, 4])
    curve_refresh: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"model": "dlm-micro", "ar_model": "dlm-ar-micro", "guide": "dlm-ar-micro", "per_task": 2,
                  "curve_k": [4], "curve_thresholds": [0.5, 0.9], "curve_relaxed": [0.3], "curve_radii": [2],
                  "curve_refresh": [1, 4]},
        "tiny": {},
        # LLaDA-8B-Instruct, gen 256, block 32 (LocalLeap's and Fast-dLLM's defaults); needs a GPU and an
        # adapter for Hugging Face diffusion LMs, which this package does not have yet (see README)
        "paper": {"model": "GSAI-ML/LLaDA-8B-Instruct", "ar_model": "meta-llama/Meta-Llama-3-8B-Instruct",
                  "guide": "Qwen/Qwen2.5-0.5B-Instruct", "per_task": 400, "gen_length": 24, "block_length": 8,
                  "threshold": 0.9, "relaxed_threshold": 0.75, "radius": 4},
    }


def search_space() -> SearchSpace:
    return {
        "threshold": Uniform(0.5, 0.99),
        "relaxed_threshold": Uniform(0.2, 0.9),
        "radius": Choice((1, 2, 4, 8)),
        "block_length": Choice((4, 8, 16)),
        "refresh_interval": Choice((0, 2, 4, 8)),
    }


@dataclass
class ArmResult:
    arm: str
    family: str                    # curve family: arm name, fixed-k, threshold, localleap, cache, ...
    knobs: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        n = max(1, len(self.rows))
        total = lambda key: float(sum(r[key] for r in self.rows))   # noqa: E731
        tokens = max(1.0, total("tokens"))
        out = {
            "accuracy": total("correct") / n,
            "nfe_per_token": total("total_nfe") / tokens,
            "tokens_per_forward": tokens / max(1.0, total("total_nfe")),
            "dlm_nfe_per_token": total("dlm_nfe") / tokens,
            "guide_nfe_per_token": total("guide_nfe") / tokens,
            "nfe_per_example": total("total_nfe") / n,
            "tokens_fed_per_token": total("tokens_fed") / tokens,
            "wall_ms_per_token": 1000 * total("wall_s") / tokens,
        }
        for kind in ("full", "prefix", "dual"):
            out[f"nfe_{kind}_per_token"] = total(f"nfe_{kind}") / tokens
        for task in sorted({r["task"] for r in self.rows}):
            rows = [r for r in self.rows if r["task"] == task]
            out[f"accuracy_{task}"] = sum(r["correct"] for r in rows) / len(rows)
        return out


def count_tokens(ids: list[int], eos_id: int) -> int:
    """Output tokens up to and including the first EOS (all of them when there is none)."""
    return ids.index(eos_id) + 1 if eos_id in ids else len(ids)


class Workbench:
    """The loaded models and examples; `run(arm, family, knobs, decode)` decodes every example once."""

    def __init__(self, cfg: DiffusionRepro, progress: Callable[[str], None]):
        from tokenworks.zoo.diffusion_models import load_diffusion_lm, task_examples

        self.cfg, self.progress = cfg, progress
        self.dlm, self.tok = load_diffusion_lm(cfg.model)
        self.ar, _ = load_diffusion_lm(cfg.ar_model)
        self.guide = self.ar if cfg.guide == cfg.ar_model else load_diffusion_lm(cfg.guide)[0]
        self.examples = task_examples(cfg.split, cfg.per_task)
        self.results: list[ArmResult] = []

    def run(self, arm: str, family: str, knobs: str, decode: Callable[[list[int]], Any]) -> ArmResult:
        decode(self.tok.encode(self.examples[0].prompt))   # warm-up, excluded
        result = ArmResult(arm, family, knobs)
        for i, example in enumerate(self.examples):
            out = decode(self.tok.encode(example.prompt))
            stats = out.stats
            result.rows.append({
                "arm": arm, "family": family, "knobs": knobs, "example": i, "task": example.task,
                "output": self.tok.decode(out.ids), "correct": example.correct(self.tok.decode(out.ids)),
                "tokens": count_tokens(out.ids, self.tok.eos_id), "total_nfe": stats.total_nfe,
                "dlm_nfe": stats.dlm_nfe, "guide_nfe": stats.guide_nfe, "tokens_fed": stats.tokens_fed,
                "wall_s": stats.wall_s, **{f"nfe_{k}": stats.nfe.get(k, 0) for k in ("full", "prefix", "dual")},
            })
        self.results.append(result)
        s = result.summary()
        self.progress(f"{arm:28s} {knobs:34s} acc {s['accuracy']:.3f}  NFE/token {s['nfe_per_token']:.3f}")
        return result


def decoders(bench: Workbench) -> dict[str, Callable]:
    """Factories of decode(prompt_ids) closures for every kind of arm."""
    from tokenworks.methods.diffusion import CachePolicy, ar_greedy, diffusion_decode, guided_decode

    cfg, tok = bench.cfg, bench.tok

    def diffusion(commit, cache=CachePolicy()):
        return lambda ids: diffusion_decode(bench.dlm, ids, cfg.gen_length, cfg.block_length, commit, cache,
                                            mask_id=tok.mask_id)

    def guided(cache, rule=cfg.guide_rule):
        return lambda ids: guided_decode(bench.dlm, bench.guide, ids, cfg.gen_length, cfg.block_length, cache,
                                         rule, cfg.guide_top_k, tok.mask_id, tok.eos_id)

    def ar(model):
        return lambda ids: ar_greedy(model, ids, cfg.gen_length, tok.eos_id)

    return {"diffusion": diffusion, "guided": guided, "ar": ar}


def run_recommended_arms(bench: Workbench) -> None:
    from tokenworks.methods.diffusion import CachePolicy, baseline, fast_dllm, localleap

    cfg, make = bench.cfg, decoders(bench)
    relaxed = min(cfg.relaxed_threshold, cfg.threshold)
    free = CachePolicy("freecache", cfg.refresh_interval)
    bench.run("baseline", "baseline", "1/step", make["diffusion"](baseline()))
    bench.run("fast-dllm", "fast-dllm", f"tau={cfg.threshold:g} {cfg.fast_dllm_cache} cache",
              make["diffusion"](fast_dllm(cfg.threshold), CachePolicy(cfg.fast_dllm_cache)))
    bench.run("localleap", "localleap", f"tau={cfg.threshold:g} relax={relaxed:g} r={cfg.radius}",
              make["diffusion"](localleap(cfg.threshold, relaxed, cfg.radius)))
    bench.run("freecache", "freecache", f"tau={cfg.threshold:g} refresh={cfg.refresh_interval}",
              make["diffusion"](fast_dllm(cfg.threshold), free))
    bench.run("guided", "guided", f"freecache, {cfg.guide_rule}", make["guided"](free))
    bench.run("guide-ar", "guide-ar", cfg.guide, make["ar"](bench.guide))
    bench.run("ar", "ar", cfg.ar_model, make["ar"](bench.ar))


def run_commit_curves(bench: Workbench, localleap_grid: bool = True) -> None:
    """No cache on any curve point: only the commit policy differs between them."""
    from tokenworks.methods.diffusion import baseline, fast_dllm, localleap

    cfg, make = bench.cfg, decoders(bench)
    for k in cfg.curve_k:
        bench.run(f"fixed-{k}", "fixed-k", f"k={k}", make["diffusion"](baseline(k)))
    for tau in cfg.curve_thresholds:
        bench.run(f"threshold-{tau:g}", "threshold", f"tau={tau:g}", make["diffusion"](fast_dllm(tau)))
    if not localleap_grid:
        return
    for tau in cfg.curve_thresholds:
        for relax in cfg.curve_relaxed:
            for r in cfg.curve_radii:
                if relax < tau:
                    bench.run(f"localleap-{tau:g}-{relax:g}-{r}", "localleap-grid", f"tau={tau:g} relax={relax:g} r={r}",
                              make["diffusion"](localleap(tau, relax, r)))


def run_cache_curves(bench: Workbench) -> None:
    """The threshold rule at the recommended threshold under every cache policy and refresh interval."""
    from tokenworks.methods.diffusion import CachePolicy, fast_dllm

    cfg, make = bench.cfg, decoders(bench)
    commit = fast_dllm(cfg.threshold)
    for mode in ("none", "prefix", "dual"):
        bench.run(f"cache-{mode}", "cache", f"tau={cfg.threshold:g} {mode}", make["diffusion"](commit, CachePolicy(mode)))
    for every in cfg.curve_refresh:
        bench.run(f"freecache-refresh-{every}", "cache", f"freecache refresh={every}",
                  make["diffusion"](commit, CachePolicy("freecache", every)))
    bench.run("guided-topk", "guided", f"freecache, topk k={cfg.guide_top_k}",
              make["guided"](CachePolicy("freecache", cfg.refresh_interval), "topk"))
    bench.run("guided-nocache", "guided", "no cache, deterministic", make["guided"](CachePolicy("none")))


def flat_metrics(bench: Workbench) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for result in bench.results:
        for key, value in result.summary().items():
            metrics[f"{result.arm}/{key}"] = float(value)
    base = metrics["baseline/wall_ms_per_token"]
    for result in bench.results:
        metrics[f"{result.arm}/speedup"] = base / max(1e-9, metrics[f"{result.arm}/wall_ms_per_token"])
        metrics[f"{result.arm}/nfe_vs_baseline"] = (metrics[f"{result.arm}/nfe_per_token"]
                                                    / metrics["baseline/nfe_per_token"])
    metrics["guided/accuracy_minus_guide"] = metrics["guided/accuracy"] - metrics["guide-ar/accuracy"]
    metrics.update(break_point(bench))
    return metrics


def break_point(bench: Workbench) -> dict[str, float]:
    """Where committing too many tokens at once starts to hurt: the smallest k per step on the fixed-k curve
    whose accuracy is more than 1 point below one token per step (0 when none is)."""
    curve = sorted(((int(r.knobs[2:]), r.summary()["accuracy"]) for r in bench.results if r.family == "fixed-k"))
    if not curve:
        return {}
    one = bench_accuracy(bench, "baseline")   # the baseline arm is k = 1
    worse = [k for k, acc in curve if acc < one - 0.01]
    return {"fixed-k/first_k_losing_accuracy": float(worse[0]) if worse else 0.0,
            "fixed-k/accuracy_at_k1": one, "fixed-k/accuracy_at_max_k": curve[-1][1]}


def bench_accuracy(bench: Workbench, arm: str) -> float:
    return next(r.summary()["accuracy"] for r in bench.results if r.arm == arm)


def best_nfe_at_accuracy(bench: Workbench, family: str, accuracy: float) -> float | None:
    """The fewest NFE per token on a curve among points with accuracy >= `accuracy` (None if none)."""
    points = [r.summary() for r in bench.results if r.family == family]
    ok = [p["nfe_per_token"] for p in points if p["accuracy"] >= accuracy - 1e-9]
    return min(ok) if ok else None


def pareto_table(bench: Workbench) -> list[dict[str, Any]]:
    rows = []
    for r in bench.results:
        s = r.summary()
        rows.append({"arm": r.arm, "family": r.family, "knobs": r.knobs, "accuracy": round(s["accuracy"], 4),
                     "nfe_per_token": round(s["nfe_per_token"], 4),
                     "tokens_per_forward": round(s["tokens_per_forward"], 3),
                     "tokens_fed_per_token": round(s["tokens_fed_per_token"], 2),
                     "wall_ms_per_token": round(s["wall_ms_per_token"], 3)})
    front = pareto_front([(row["nfe_per_token"], row["accuracy"]) for row in rows])
    for row, on in zip(rows, front):
        row["pareto"] = on
    return rows


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """(cost, quality) -> on the front: no other point has cost <= and quality >= with one strict."""
    return [not any((c2 <= c and q2 >= q) and (c2 < c or q2 > q) for c2, q2 in points) for c, q in points]


def markdown(rows: list[dict[str, Any]]) -> str:
    keys = ["arm", "knobs", "accuracy", "nfe_per_token", "tokens_per_forward", "tokens_fed_per_token",
            "wall_ms_per_token", "pareto"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def plot_pareto(bench: Workbench, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    families: dict[str, list[tuple[float, float, str]]] = {}
    for r in bench.results:
        s = r.summary()
        families.setdefault(r.family, []).append((s["nfe_per_token"], s["accuracy"], r.knobs))
    for family, points in families.items():
        points.sort()
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        if family in ARMS:
            ax.scatter(xs, ys, s=60, marker="*", label=family, zorder=3)
        else:
            ax.plot(xs, ys, marker="o", ms=3, lw=1, label=f"{family} curve")
    for k, acc, knobs in families.get("fixed-k", []):
        ax.annotate(knobs, (k, acc), fontsize=7, alpha=0.7)
    if families.get("fixed-k") and "baseline" in families:
        # the break line: fixed-k points below it lose more than 1 point against one token per step
        one = families["baseline"][0][1]
        ax.axhline(one - 0.01, color="grey", ls="--", lw=0.8)
        ax.annotate("1 point below one token per step", (0.99, one - 0.01), xycoords=("axes fraction", "data"),
                    ha="right", va="top", fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("NFE per token (log; diffusion + guide calls)")
    ax.set_ylabel("exact-match accuracy")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def setting(cfg: DiffusionRepro, bench: Workbench) -> str:
    from tokenworks.zoo.diffusion_models import DIFFUSION_TASKS
    from tokenworks.zoo.load import resolve
    from tokenworks.zoo.registry import read_metadata

    meta = read_metadata(Path(resolve(cfg.model))) or {}
    return (f"{cfg.model} ({meta.get('params', '?')} params, val acc {meta.get('val_accuracy', '?')}), "
            f"{len(bench.examples)} {cfg.split} task examples ({', '.join(DIFFUSION_TASKS)}), "
            f"gen {cfg.gen_length}, block {cfg.block_length}, batch 1, CPU, 1 thread")


def build_result(bench: Workbench, workdir: Path, metrics: dict[str, float], claims: list, plot_file: str,
                 plot_title: str, notes: tuple[str, ...] = ()):
    """The Result both diffusion reproductions return: per-sample rows, the Pareto table (also as the first
    note) and the Pareto plot written under `workdir`."""
    from tokenworks.pipelines.base import Result

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    table = pareto_table(bench)
    return Result(
        metrics=metrics,
        claims=claims,
        tables={"per_sample": [row for r in bench.results for row in r.rows], "pareto": table},
        plots={"pareto": plot_pareto(bench, workdir / plot_file, plot_title)},
        notes=[markdown(table), *notes],
    )
