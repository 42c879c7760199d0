"""A tiny Reproduction for platform tests: no models, deterministic numbers, one table, one PNG plot.

Importable as a top-level module (tests/platform is put on PYTHONPATH by conftest.py) so that Ray workers and
subprocesses can load it through $TOKENWORKS_EXTRA_REPRODUCTIONS.
"""

from __future__ import annotations

import json
import os
import time
from typing import ClassVar

from pydantic import Field

from tokenworks.config import Choice, IntRange, TokenworksConfig, Uniform
from tokenworks.pipelines.base import Claim, PaperClaim, Reproduction, Result, RunContext

SLUG = "fake-paper"
CALL_LOG_ENV = "FAKE_REPRO_CALL_LOG"


class FakeConfig(TokenworksConfig):
    x: float = Field(0.5, ge=0.0, le=1.0)
    k: int = Field(2, ge=1, le=8)
    mode: str = "plain"
    sleep_s: float = Field(0.0, ge=0.0, le=60.0)   # lets the kill/resume test catch trials mid-flight
    fail: bool = False

    PRESETS: ClassVar = {"micro": {"k": 1}, "tiny": {"k": 2}, "paper": {"k": 8}}


def fake_metrics(cfg: FakeConfig) -> dict[str, float]:
    """Speed grows with k and x, quality falls with both: a real trade-off for the Pareto front."""
    speed = cfg.k * (1.0 + cfg.x)
    quality = 1.0 - cfg.x * cfg.k / 8.0
    return {"fake/speed": speed, "fake/quality": quality, "greedy/speed": 1.0}


class FakeReproduction(Reproduction):
    slug = SLUG
    config_cls = FakeConfig
    paper_claims = [PaperClaim("speedup", 2.0, "x", "none", "synthetic")]
    kind = "proxy"
    pareto_axes = (("fake/speed", "max"), ("fake/quality", "max"))

    def run(self, cfg: FakeConfig, ctx: RunContext) -> Result:
        ctx.progress(f"fake run x={cfg.x} k={cfg.k}")
        if cfg.sleep_s:
            time.sleep(cfg.sleep_s)
        if cfg.fail:
            raise RuntimeError("fake reproduction asked to fail")
        metrics = fake_metrics(cfg)
        if os.environ.get(CALL_LOG_ENV):   # one line per completed run: lets tests count repeats
            with open(os.environ[CALL_LOG_ENV], "a") as log:
                log.write(json.dumps({"x": cfg.x, "k": cfg.k, "mode": cfg.mode}) + "\n")
        rows = [{"sample": i, "ids": list(range(i + 1)), "ok": i % 2 == 0} for i in range(4)]
        plot = ctx.workdir / "speed.png"
        _plot(metrics, plot)
        verdict = "reproduced" if metrics["fake/speed"] >= 2.0 else "not reproduced"
        claims = [Claim("speedup", "2x", f"{metrics['fake/speed']:.2f}x", "fake, CPU", verdict,
                        "" if verdict == "reproduced" else "k too small")]
        return Result(metrics=metrics, claims=claims, tables={"per_sample": rows}, plots={"speed": plot},
                      notes=["synthetic numbers"])

    def search_space(self):
        return {"x": Uniform(0.0, 1.0), "k": IntRange(1, 8), "mode": Choice(("plain", "tree"))}


def _plot(metrics: dict[str, float], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(list(metrics), list(metrics.values()))
    fig.savefig(path)
    plt.close(fig)
