"""Reproduction: Data Mixture Inference (Hayase, Liu, Choi, Oh, Smith 2024, arXiv 2407.16607).

Train byte-level BPE tokenizers here on random mixtures (uniform on the simplex) of categories every machine
has (Python code, English prose, Greek-transliterated prose, C headers), recover each mixture from the merge
list with the paper's LP and a disjoint attacker sample of each category, and compare the error with a
uniform and a random guess. The first mixture is also attacked with its exact training data (the oracle):
the LP must return the proportions to machine precision.

Status "reproduced": the `tiny` preset (4 categories, 3 MB tokenizer corpora, T=300, 1 MB attacker samples,
5 mixtures, seed 0) measured MAE 0.67 pp and log10 MSE -4.31 against -1.54 for the uniform guess (2.8 orders
of magnitude), oracle error 1e-16; the paper's absolute -6.46 needs GB-scale data ("not comparable").
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field
from tqdm import tqdm

from tokenworks.config import Choice, IntRange, SearchSpace, TokenworksConfig
from tokenworks.errors import UserError
from tokenworks.methods.tokenization.bpe_replay import spec_from_tokenizer, word_counts
from tokenworks.methods.tokenization.categories import CategoryPools, build_pools, take_bytes
from tokenworks.methods.tokenization.data_mixture import infer_from_word_counts
from tokenworks.methods.tokenization.mixture_tokenizer import build_mixture, interleave, sample_simplex, train_bpe
from tokenworks.pipelines.base import Claim, PaperClaim, Reproduction, Result, RunContext

Category = Literal["py", "en", "el", "c"]
MAX_POOL_REPEATS = 10   # a mixture may cycle a category's pool; beyond this it is no longer a sample of anything


class DataMixtureConfig(TokenworksConfig):
    categories: list[Category] = Field(default_factory=lambda: ["py", "en", "el", "c"], min_length=2)
    n_mixtures: int = Field(5, ge=1, le=1000)
    merges: int = Field(300, ge=10, le=100_000, description="T: merges trained and used by the attack")
    train_bytes: int = Field(1_000_000, ge=10_000, description="tokenizer training corpus size")
    attack_bytes: int = Field(500_000, ge=10_000, description="attacker sample per category (capped by the pool)")
    top_k: int = Field(30, ge=1, le=1000, description="rivals per category and step entering the first LP")
    check_rounds: int = Field(1, ge=0, le=10, description="replays checking the LP solution against every pair")
    max_files: int | None = Field(None, ge=5, description="Python/C files read per category (None: all)")
    split: Literal["chunk", "file"] = Field("chunk", description="chunk: attacker pool from the same distribution; "
                                            "file: attacker sees other files (distribution shift)")
    oracle_check: bool = True
    seed: int = Field(0, ge=0)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"n_mixtures": 2, "merges": 80, "train_bytes": 100_000, "attack_bytes": 60_000, "max_files": 25},
        "tiny": {"n_mixtures": 5, "merges": 300, "train_bytes": 3_000_000, "attack_bytes": 1_000_000},
        "paper": {"n_mixtures": 100, "merges": 30_000, "train_bytes": 10_000_000_000, "attack_bytes": 1_000_000_000},
    }


def _sizes(chunks: list[str]) -> int:
    return sum(len(c.encode()) for c in chunks)


def _errors(estimate: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(mean absolute error, log10 mean squared error)."""
    mse = float(np.mean((estimate - truth) ** 2))
    return float(np.mean(np.abs(estimate - truth))), float(np.log10(max(mse, 1e-300)))


class DataMixtureReproduction(Reproduction):
    slug = "data-mixture"
    config_cls = DataMixtureConfig
    kind = "faithful"
    status = "reproduced"
    paper_claims: ClassVar[list[PaperClaim]] = [
        PaperClaim("log10 MSE, 5 programming languages", -6.46, "", "BPE, 30K merges, 10 GB training data",
                   "RedPajama GitHub, 100 mixtures"),
        PaperClaim("log10 MSE, 5 English domains", -3.41, "", "BPE, 30K merges", "RedPajama domains, 100 mixtures"),
        PaperClaim("log10 MSE, uniform guess, n=5", -1.67, "", "-", "100 mixtures"),
    ]
    pareto_axes = (("attack/seconds_per_mixture", "min"), ("attack/mae", "min"))

    def search_space(self) -> SearchSpace:
        return {
            "merges": Choice((100, 300, 1000, 2000)),
            "attack_bytes": Choice((200_000, 500_000, 1_000_000, 2_000_000)),
            "train_bytes": Choice((1_000_000, 3_000_000, 10_000_000)),
            "top_k": Choice((10, 30, 100)),
            "split": Choice(("chunk", "file")),
            "seed": IntRange(0, 9999),
        }

    def run(self, cfg: DataMixtureConfig, ctx: RunContext) -> Result:
        ctx.progress("building category corpora")
        pools = self._pools(cfg)
        names = list(pools)
        attacker = {n: take_bytes(p.attacker, cfg.attack_bytes, seed=cfg.seed, repeat=False) for n, p in pools.items()}
        attacker_bytes = {n: _sizes(c) for n, c in attacker.items()}
        rng = np.random.default_rng(cfg.seed)
        attacker_counts = None
        rows, per_mixture = [], []
        for m in tqdm(range(cfg.n_mixtures), desc="mixtures"):
            beta = sample_simplex(len(names), rng)
            mixture = build_mixture(pools, beta, cfg.train_bytes, seed=cfg.seed * 1000 + m)
            truth = np.array([_sizes(mixture[n]) for n in names], dtype=np.float64)
            truth /= truth.sum()
            spec = spec_from_tokenizer(train_bpe(interleave(mixture, seed=m), cfg.merges))
            start = time.perf_counter()
            if attacker_counts is None:   # every target shares the pre-tokeniser: count the attacker's words once
                attacker_counts = {n: word_counts(spec, attacker[n], desc=f"pre-tokenize {n}") for n in names}
            est = infer_from_word_counts(spec, attacker_counts, attacker_bytes, cfg.merges, cfg.top_k, cfg.check_rounds)
            guess = np.array([est.proportions[n] for n in names])
            record = {"mixture": m, "merges_used": est.steps, "lp_rows": est.rows, "lp_objective": est.objective,
                      "added_constraints": est.added_constraints, "seconds": time.perf_counter() - start}
            baselines = {"uniform": np.full(len(names), 1 / len(names)), "random": sample_simplex(len(names), rng)}
            for arm, g in {"attack": guess, **baselines}.items():
                record[f"{arm}_mae"], record[f"{arm}_log10_mse"] = _errors(g, truth)
            if cfg.oracle_check and m == 0:
                record["oracle_max_abs_error"] = self._oracle_error(spec, mixture, truth, cfg)
            per_mixture.append(record)
            rows.extend({"mixture": m, "category": n, "true_share": float(t), "estimated_share": float(g),
                         "abs_error": float(abs(g - t))} for n, t, g in zip(names, truth, guess))
            ctx.progress(f"mixture {m}: MAE {record['attack_mae']:.4f}, uniform {record['uniform_mae']:.4f}, "
                         f"attack {record['seconds']:.1f}s")
        metrics = self._metrics(per_mixture, names)
        skipped = [c for c in cfg.categories if c not in pools]
        notes = [f"skipped categories not available on this machine: {skipped}"] if skipped else []
        notes += [f"categories {names}; attacker bytes {attacker_bytes}; tokenizer corpus {cfg.train_bytes} bytes; "
                 f"T={cfg.merges}; {cfg.split} split (attacker pool disjoint from the tokenizer pool"
                 + (", same distribution)." if cfg.split == "chunk" else ", other files: a distribution shift).")]
        return Result(metrics, self._claims(metrics, cfg, len(names)), {"per_category": rows, "per_mixture": per_mixture},
                      {"true_vs_estimated": self._plot(rows, ctx)}, notes=notes)

    @staticmethod
    def _pools(cfg: DataMixtureConfig) -> dict[str, CategoryPools]:
        """The configured categories' pools, refusing what this machine cannot provide."""
        all_pools = build_pools(cfg.max_files, split=cfg.split)
        pools = {c: all_pools[c] for c in dict.fromkeys(cfg.categories) if c in all_pools}
        if len(pools) < 2:   # a missing category (C headers need /usr/include) is skipped while two remain
            raise UserError(f"categories = {cfg.categories}: only {list(pools)} are available on this machine "
                            f"(C headers need /usr/include); at least two are needed, from {', '.join(all_pools)}.")
        pool_bytes = sum(_sizes(list(p.tokenizer)) for p in pools.values())
        if cfg.train_bytes > MAX_POOL_REPEATS * pool_bytes:
            raise UserError(f"train_bytes = {cfg.train_bytes} needs corpora this machine does not have: the local "
                            f"categories hold {pool_bytes / 1e6:.1f} MB of tokenizer text (allowed: at most "
                            f"{MAX_POOL_REPEATS} x that; the paper's 10 GB corpora need the paper's data).")
        return pools

    @staticmethod
    def _oracle_error(spec, mixture: dict[str, list[str]], truth: np.ndarray, cfg: DataMixtureConfig) -> float:
        """Max abs error when the attacker holds exactly the tokenizer's training data (must be ~0)."""
        names = list(mixture)
        exact = {n: word_counts(spec, mixture[n], desc=f"oracle {n}") for n in names}
        est = infer_from_word_counts(spec, exact, {n: _sizes(mixture[n]) for n in names}, cfg.merges, cfg.top_k,
                                     cfg.check_rounds)
        return float(np.max(np.abs(np.array([est.proportions[n] for n in names]) - truth)))

    @staticmethod
    def _metrics(per_mixture: list[dict], names: list[str]) -> dict[str, float]:
        metrics = {}
        for arm in ("attack", "uniform", "random"):
            metrics[f"{arm}/mae"] = float(np.mean([r[f"{arm}_mae"] for r in per_mixture]))
            metrics[f"{arm}/log10_mse"] = float(np.mean([r[f"{arm}_log10_mse"] for r in per_mixture]))
            metrics[f"{arm}/log10_mse_std"] = float(np.std([r[f"{arm}_log10_mse"] for r in per_mixture]))
        metrics["attack/seconds_per_mixture"] = float(np.mean([r["seconds"] for r in per_mixture]))
        metrics["attack/lp_rows"] = float(np.mean([r["lp_rows"] for r in per_mixture]))
        metrics["attack/added_constraints"] = float(np.mean([r["added_constraints"] for r in per_mixture]))
        metrics["attack/n_categories"] = float(len(names))
        oracle = [r["oracle_max_abs_error"] for r in per_mixture if "oracle_max_abs_error" in r]
        if oracle:
            metrics["oracle/max_abs_error"] = float(max(oracle))
        return metrics

    @staticmethod
    def _claims(m: dict[str, float], cfg: DataMixtureConfig, n: int) -> list[Claim]:
        ours = f"{m['attack/log10_mse']:.2f} (uniform {m['uniform/log10_mse']:.2f}), MAE {100 * m['attack/mae']:.2f} pp"
        setting = (f"{n} local categories, {cfg.split} split, {cfg.train_bytes / 1e6:g} MB tokenizer corpus, T={cfg.merges}, "
                   f"{cfg.attack_bytes / 1e6:g} MB attacker sample per category, {cfg.n_mixtures} mixtures, CPU")
        gain = m["uniform/log10_mse"] - m["attack/log10_mse"]
        claims = [
            Claim("attack beats a uniform guess by 2-5 orders of magnitude in MSE",
                  "-6.46 vs -1.67 (code, n=5); -3.41 vs -1.67 (domains)", ours, setting,
                  "reproduced" if gain >= 2 else "not reproduced",
                  f"{gain:.2f} orders of magnitude better than uniform at this scale"),
            Claim("log10 MSE, 5 programming languages", "-6.46", f"{m['attack/log10_mse']:.2f}", setting,
                  "not comparable at this scale",
                  "the paper uses 10 GB tokenizer corpora, 1 GB attacker samples and 30K merges; the error floor here "
                  "is set by MB-scale attacker samples"),
            Claim("mean absolute error <= 1 percentage point on unseen mixtures (tokenworks target)", "<= 1 pp",
                  f"{100 * m['attack/mae']:.2f} pp", setting,
                  "reproduced" if m["attack/mae"] <= 0.01 else "not reproduced",
                  "" if m["attack/mae"] <= 0.01 else "attacker samples too small for this preset"),
        ]
        if "oracle/max_abs_error" in m:
            ok = m["oracle/max_abs_error"] <= 1e-6
            claims.append(Claim("exact recovery given exactly the training data (consistency of replay and LP)",
                                "exact (by construction of the LP)", f"max abs error {m['oracle/max_abs_error']:.1e}",
                                setting + ", mixture 0", "reproduced" if ok else "not reproduced",
                                "" if ok else "too few merges pin the weights only to a region; raise merges"))
        return claims

    @staticmethod
    def _plot(rows: list[dict], ctx: RunContext):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ctx.workdir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        for cat in dict.fromkeys(r["category"] for r in rows):
            pts = [(r["true_share"], r["estimated_share"]) for r in rows if r["category"] == cat]
            ax.scatter(*zip(*pts), label=cat, s=18)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_xlabel("true byte share")
        ax.set_ylabel("estimated byte share")
        ax.set_title("Data-mixture inference")
        ax.legend()
        path = ctx.workdir / "data_mixture_true_vs_estimated.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path
