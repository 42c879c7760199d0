"""Reproduction: R2R, "Roads to Rome": efficiently navigating divergent reasoning paths with small-large model
token routing (Fu et al. 2025, arXiv 2505.21600; NeurIPS 2025).

The whole pipeline at small scale, on exact-answer tasks (zoo `task-mix`: addition, sort, reverse):
1. labelling (the official steps 0-4): the large model answers validation prompts; the small model reads each
   answer with teacher forcing; each token is identical, neutral or divergent, the large model's greedy
   continuation after the small token deciding (an exact comparison of final answers replaces the 72B
   verifier: see methods/decoding/r2r/README.md);
2. the router: an MLP on the small model's hidden state, token embedding and top-K logits, trained on those
   labels; its recommended threshold reaches 95% divergent-token recall on held-out labelling prompts;
3. routed decoding on the test prompts: accuracy against the share of tokens the large model wrote, over a
   sweep of router thresholds, beside the small model alone, the large model alone, the entropy-threshold
   router of R2R's own code (swept over quantiles of the small model's entropy) and random routing at the
   recommended threshold's share.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from tokenworks.config import Choice, SearchSpace, TokenworksConfig, Uniform
from tokenworks.methods.decoding.r2r.config import RouterConfig
from tokenworks.pipelines.base import Claim, PaperClaim, Reproduction, Result, RunContext
from tokenworks.runtime import configure_threads

SWEEP = [0.03, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9]
ENTROPY_QUANTILES = [0.97, 0.9, 0.8, 0.7, 0.55, 0.4, 0.25]


class R2RRepro(TokenworksConfig):
    small: str = Field("task-lm-small", description="zoo name of the small model (shares the large's tokenizer)")
    large: str = Field("task-lm-large", description="zoo name of the large model")
    tasks: list[str] = Field(default_factory=lambda: ["sort"], description="task-mix tasks to label and test on "
                             "(sort: where the large model is clearly more accurate; see zoo.task_models)")
    label_per_task: int = Field(300, ge=1, le=400, description="validation prompts per task labelled for the router")
    test_per_task: int = Field(150, ge=1, le=400, description="test prompts per task")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="router threshold of the headline point; "
                                    "None = the one reaching router.min_recall on held-out labels")
    sweep: list[float] = Field(default_factory=lambda: list(SWEEP), description="router thresholds of the curve")
    entropy_quantiles: list[float] = Field(default_factory=lambda: list(ENTROPY_QUANTILES),
                                           description="entropy-router thresholds as quantiles of the small "
                                           "model's entropy over the labelled tokens")
    router: RouterConfig = Field(default_factory=RouterConfig)
    seed: int = Field(0, ge=0)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"small": "task-lm-small-micro", "large": "task-lm-large-micro", "label_per_task": 10,
                  "test_per_task": 4, "sweep": [0.5], "entropy_quantiles": [0.5],
                  "router": {"epochs": 5, "width": 32, "depth": 1}},
        "tiny": {},
        "paper": {"small": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
                  "large": "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
                  "router": {"width": 1024, "depth": 6, "lr": 5e-5, "epochs": 50, "batch": 1024, "patience": 10}},
    }


class RandomRouter:
    """Routes each token to the large model with probability `rate` (seeded): the no-information baseline."""

    kind = "random"

    def __init__(self, rate: float, seed: int = 0):
        self.rate, self.rng = rate, random.Random(seed)

    def route_score(self, hidden, token, logits) -> float:
        return 1.0 if self.rng.random() < self.rate else 0.0

    @staticmethod
    def threshold_score(threshold: float) -> float:
        return 0.5


def evaluate(decoder, tokenizer, examples, arm: str) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Accuracy (overall and per task), large-token share and tokens/s of one decoder on `examples`."""
    from tokenworks.zoo.task_models import ANSWER_TOKENS, is_correct, prompt_ids, task_of

    rows, tokens, large, wall = [], 0, 0.0, 0.0
    for i, ex in enumerate(examples):
        start = time.perf_counter()
        gen = decoder.decode(prompt_ids(tokenizer, ex), ANSWER_TOKENS)
        seconds = time.perf_counter() - start
        share = gen.stats.method_stats.get("large_token_share", 1.0 if arm == "large" else 0.0)
        rows.append({"arm": arm, "prompt": i, "task": task_of(ex), "correct": float(is_correct(tokenizer, ex, gen.ids)),
                     "new_tokens": len(gen.ids), "large_tokens": share * len(gen.ids), "wall_s": seconds})
        tokens, large, wall = tokens + len(gen.ids), large + share * len(gen.ids), wall + seconds
    metrics = {"accuracy": sum(r["correct"] for r in rows) / len(rows),
               "large_token_share": large / max(tokens, 1), "tokens_per_s": tokens / wall if wall else 0.0}
    for task in sorted({r["task"] for r in rows}):
        mine = [r["correct"] for r in rows if r["task"] == task]
        metrics[f"accuracy_{task}"] = sum(mine) / len(mine)
    return metrics, rows


def interpolate(curve: list[tuple[float, float]], x: float) -> float:
    """y at x on a piecewise-linear curve of (x, y) points (clamped at the ends)."""
    pts = sorted(curve)
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return pts[-1][1]


class R2RReproduction(Reproduction):
    slug = "r2r"
    config_cls = R2RRepro
    kind = "mechanism"
    paper_claims: ClassVar[list[PaperClaim]] = [
        PaperClaim("accuracy vs R1-7B at 5.6B average activated parameters", 1.6, "x", "R1-1.5B + R1-32B",
                   "AIME, GPQA-Diamond, LiveCodeBench average"),
        PaperClaim("wall-clock speedup over R1-32B at comparable accuracy", 2.8, "x", "R1-1.5B + R1-32B",
                   "same benchmarks, SGLang on GPUs"),
        PaperClaim("divergent-token recall of the chosen threshold", 0.95, "", "R1-1.5B router",
                   "validation labels (threshold chosen for it)"),
    ]
    pareto_axes = (("r2r/large_token_share", "min"), ("r2r/accuracy", "max"))

    def search_space(self) -> SearchSpace:
        return {
            "router.min_recall": Choice((0.85, 0.9, 0.95, 0.98)),
            "router.topk": Choice((10, 50, 100)),
            "router.depth": Choice((1, 2, 4)),
            "router.width": Choice((64, 256, 512)),
            "router.lr": Uniform(3e-4, 3e-3),
        }

    def run(self, cfg: R2RRepro, ctx: RunContext) -> Result:
        from tokenworks.methods.decoding.greedy import GreedyDecoder
        from tokenworks.methods.decoding.r2r.decoder import RoutedDecoder, parameter_count
        from tokenworks.methods.decoding.r2r.router import EntropyRouter, train_router
        from tokenworks.zoo import load_lm
        from tokenworks.zoo.task_models import heldout_examples, label_task_tokens, source_of

        configure_threads(ctx.num_threads)
        ctx.progress(f"r2r: loading {cfg.small} and {cfg.large}")
        small, tokenizer = load_lm(cfg.small)
        large, _ = load_lm(cfg.large)
        source = source_of(cfg.small)
        cached = cached_router(cfg)
        if cached is not None:  # the zoo built this exact router (same models, prompts, knobs): reuse it
            ctx.progress("r2r: labelled tokens and router from the zoo build of the same recipe")
            router, data, report = cached
        else:
            ctx.progress("r2r: labelling tokens (identical / neutral / divergent)")
            data = label_task_tokens(small, large, tokenizer,
                                     heldout_examples(source, "validation", cfg.label_per_task, cfg.tasks),
                                     cfg.router.topk)
            router, report = train_router(data, small.model.embed_tokens.weight, cfg.router)
        router = router.to(small.device)
        threshold = report["threshold"] if cfg.threshold is None else cfg.threshold
        test = heldout_examples(source, "test", cfg.test_per_task, cfg.tasks)
        metrics: dict[str, float] = {}
        rows: list[dict[str, Any]] = []

        def arm(name: str, decoder) -> dict[str, float]:
            ctx.progress(f"r2r: evaluating {name}")
            m, r = evaluate(decoder, tokenizer, test, name)
            rows.extend(r)
            metrics.update({f"{name}/{k}": v for k, v in m.items()})
            return m

        arm("small", GreedyDecoder(small, tokenizer))
        arm("large", GreedyDecoder(large, tokenizer))
        headline = arm("r2r", RoutedDecoder(small, large, router, threshold, tokenizer))
        r2r_curve = [(headline["large_token_share"], headline["accuracy"])]
        for i, t in enumerate(cfg.sweep):
            m = arm(f"r2r-sweep-{i}", RoutedDecoder(small, large, router, t, tokenizer))
            metrics[f"r2r-sweep-{i}/threshold"] = t
            r2r_curve.append((m["large_token_share"], m["accuracy"]))
        entropy_curve = []
        for i, q in enumerate(cfg.entropy_quantiles):
            t = float(data.entropy.quantile(q))  # the small model's entropy over the labelled answer tokens
            m = arm(f"entropy-{i}", RoutedDecoder(small, large, EntropyRouter(), t, tokenizer))
            metrics[f"entropy-{i}/threshold"] = t
            entropy_curve.append((m["large_token_share"], m["accuracy"]))
        arm("random", RoutedDecoder(small, large, RandomRouter(headline["large_token_share"], cfg.seed), 0.5,
                                    tokenizer))
        small_p, large_p = parameter_count(small) + parameter_count(router), parameter_count(large)
        share = headline["large_token_share"]
        entropy_at = interpolate(entropy_curve + [(0.0, metrics["small/accuracy"]), (1.0, metrics["large/accuracy"])],
                                 share)
        metrics.update({
            "r2r/threshold": threshold, "small/params": float(parameter_count(small)), "large/params": float(large_p),
            "router/params": float(parameter_count(router)),
            "r2r/activated_params_per_token": small_p + share * large_p,
            "r2r/speedup_vs_large": metrics["r2r/tokens_per_s"] / metrics["large/tokens_per_s"],
            "entropy/accuracy_at_r2r_share": entropy_at,
            "r2r/accuracy_gain_over_entropy": headline["accuracy"] - entropy_at,
            "r2r/accuracy_gain_over_random": headline["accuracy"] - metrics["random/accuracy"],
            "r2r/large_gap_recovered": _recovered(metrics),
            **{f"router/val_{k}": float(v) for k, v in report.items() if k != "threshold"},
            **{f"labels/{k}": float(v) for k, v in data.counts().items()},
        })
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        plot = plot_pareto(metrics, r2r_curve, entropy_curve, workdir / "r2r_pareto.png")
        return Result(
            metrics=metrics, claims=claims(metrics, cfg), tables={"per_sample": rows}, plots={"pareto": plot},
            notes=[_curve_table(metrics, cfg), f"labels: {data.counts()}; router validation: {report}"],
        )


def cached_router(cfg: R2RRepro):
    """(router, labelled tokens, validation report) from a zoo router whose recipe is exactly this run's
    labelling and training (tokenworks.zoo.task_models.RouterRecipe), else None."""
    from tokenworks.methods.decoding.r2r.labeling import LabelledTokens
    from tokenworks.methods.decoding.r2r.router import load_router
    from tokenworks.zoo.recipes import ZOO, ensure_extensions
    from tokenworks.zoo.registry import build, read_metadata
    from tokenworks.zoo.task_models import RouterRecipe

    ensure_extensions()
    for name, recipe in ZOO.items():
        if (isinstance(recipe, RouterRecipe) and (recipe.small, recipe.large, recipe.label_per_task, recipe.tasks)
                == (cfg.small, cfg.large, cfg.label_per_task, tuple(cfg.tasks))
                and RouterConfig.validated(dict(recipe.router)) == cfg.router):
            path = build(name)
            if not (path / "labels.pt").is_file():
                return None
            meta = read_metadata(path)
            report = {k.removeprefix("val_"): v for k, v in meta.items() if k.startswith("val_")}
            return load_router(path / "router.pt"), LabelledTokens.load(path / "labels.pt"), report
    return None


def _recovered(m: dict[str, float]) -> float:
    """Share of the small-to-large accuracy gap R2R closes at its headline threshold."""
    gap = m["large/accuracy"] - m["small/accuracy"]
    return (m["r2r/accuracy"] - m["small/accuracy"]) / gap if gap > 0 else 0.0


def _curve_table(m: dict[str, float], cfg: R2RRepro) -> str:
    lines = ["| arm | threshold | large-token share | accuracy |", "|---|---|---|---|",
             f"| small | - | 0.000 | {m['small/accuracy']:.3f} |", f"| large | - | 1.000 | {m['large/accuracy']:.3f} |",
             f"| r2r (recommended) | {m['r2r/threshold']:.3f} | {m['r2r/large_token_share']:.3f} | "
             f"{m['r2r/accuracy']:.3f} |",
             f"| random | - | {m['random/large_token_share']:.3f} | {m['random/accuracy']:.3f} |"]
    for prefix, n in (("r2r-sweep", len(cfg.sweep)), ("entropy", len(cfg.entropy_quantiles))):
        for i in range(n):
            lines.append(f"| {prefix}-{i} | {m[f'{prefix}-{i}/threshold']:.3f} | "
                         f"{m[f'{prefix}-{i}/large_token_share']:.3f} | {m[f'{prefix}-{i}/accuracy']:.3f} |")
    return "\n".join(lines)


def claims(m: dict[str, float], cfg: R2RRepro) -> list[Claim]:
    ours = (f"{cfg.small} ({m['small/params'] / 1e6:.2f}M) + {cfg.large} ({m['large/params'] / 1e6:.2f}M) on "
            f"{len(cfg.tasks) * cfg.test_per_task} test prompts of {'/'.join(cfg.tasks)}; "
            f"router threshold {m['r2r/threshold']:.3f}; this CPU")
    paper_scale = cfg.small.startswith("deepseek-ai/")
    scale_why = ("no intermediate-size model and no reasoning benchmark here: the analogue is the share of the "
                 "small-to-large accuracy gap closed per large-model token")
    gain = m["r2r/accuracy_gain_over_entropy"]
    return [
        Claim("accuracy at a fraction of activated parameters", "1.6x R1-7B's accuracy at 5.6B activated params "
              "(R1-1.5B + R1-32B)",
              f"{m['r2r/accuracy']:.3f} vs small {m['small/accuracy']:.3f} / large {m['large/accuracy']:.3f} at "
              f"{m['r2r/large_token_share']:.1%} large tokens ({m['r2r/activated_params_per_token'] / 1e6:.2f}M "
              f"activated params/token); {m['r2r/large_gap_recovered']:.0%} of the gap closed",
              ours, "not comparable at this scale", "" if paper_scale else scale_why),
        Claim("router beats the entropy threshold at equal large-model share", "entropy routing is the simple "
              "baseline in R2R's code; the trained router is the method",
              f"{gain:+.3f} accuracy over entropy routing (interpolated at the same share), "
              f"{m['r2r/accuracy_gain_over_random']:+.3f} over random routing",
              ours, "reproduced" if gain > 0.0 else "not reproduced",
              "" if gain > 0.0 else "the entropy router reaches the same accuracy at this large-token share here"),
        Claim("wall-clock speedup over the large model", "2.8x over R1-32B at comparable accuracy",
              f"{m['r2r/speedup_vs_large']:.2f}x tokens/s vs the large model alone", ours,
              "not comparable at this scale",
              "a few-M-parameter pair on a CPU at batch 1 is overhead-bound: the small model is not much cheaper "
              "per token than the large one, and every routed token adds a catch-up prefill"),
        Claim("divergent-token recall of the recommended threshold", "0.95 (threshold chosen for it)",
              f"{m['router/val_recall']:.3f} on held-out labelling prompts "
              f"(precision {m['router/val_precision']:.3f}, {int(m['labels/divergent'])} divergent labels)",
              ours, "reproduced" if m["router/val_recall"] >= cfg.router.min_recall - 1e-9 else "not reproduced",
              "" if m["router/val_recall"] >= cfg.router.min_recall - 1e-9 else "too few divergent labels"),
    ]


def plot_pareto(m: dict[str, float], r2r_curve, entropy_curve, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for curve, label, style in ((r2r_curve, "R2R router", "o-"), (entropy_curve, "entropy threshold", "s--")):
        pts = sorted(curve)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
    ax.scatter([0.0], [m["small/accuracy"]], marker="v", color="k", label="small alone", zorder=3)
    ax.scatter([1.0], [m["large/accuracy"]], marker="^", color="k", label="large alone", zorder=3)
    ax.scatter([m["random/large_token_share"]], [m["random/accuracy"]], marker="x", color="grey", label="random")
    ax.scatter([m["r2r/large_token_share"]], [m["r2r/accuracy"]], s=120, facecolors="none", edgecolors="r",
               label="recommended threshold")
    ax.set_xlabel("share of tokens written by the large model")
    ax.set_ylabel("exact-match accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
