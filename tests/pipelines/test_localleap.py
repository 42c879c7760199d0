"""The localleap reproduction end to end on the micro preset (micro zoo models, seconds), and its CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tokenworks.config import Choice, Uniform
from tokenworks.pipelines import get_reproduction
from tokenworks.pipelines.base import VERDICTS, RunContext
from tokenworks.pipelines.diffusion_common import ARMS, pareto_front
from tokenworks.zoo.diffusion_models import DIFFUSION_TASKS

KEYS = ("accuracy", "nfe_per_token", "tokens_per_forward", "dlm_nfe_per_token", "guide_nfe_per_token",
        "wall_ms_per_token", "speedup", "nfe_vs_baseline")


def run_micro(slug: str, tmp_path: Path, **overrides):
    torch.set_num_threads(1)
    repro = get_reproduction(slug)
    cfg = repro.config_cls.from_preset("micro", overrides)
    return repro, cfg, repro.run(cfg, RunContext(workdir=tmp_path, progress=lambda _: None, num_threads=1))


def check_common(repro, cfg, result, tmp_path: Path) -> None:
    m = result.metrics
    for arm in ARMS:
        for key in KEYS:
            assert f"{arm}/{key}" in m, f"{arm}/{key}"
        assert 0.0 <= m[f"{arm}/accuracy"] <= 1.0
    examples = cfg.per_task * len(DIFFUSION_TASKS)
    gen = cfg.gen_length
    # one token per step: exactly gen_length diffusion calls per example, no guide calls
    assert m["baseline/nfe_per_example"] == gen and m["baseline/guide_nfe_per_token"] == 0
    assert m["fast-dllm/nfe_per_token"] <= m["baseline/nfe_per_token"]
    assert m["ar/dlm_nfe_per_token"] == 0 and m["ar/nfe_per_token"] == pytest.approx(1.0)
    assert m["guided/accuracy"] == m["guide-ar/accuracy"] and m["guided/accuracy_minus_guide"] == 0.0
    assert m["fixed-k/accuracy_at_k1"] == m["baseline/accuracy"]
    assert len([r for r in result.tables["per_sample"] if r["arm"] == "baseline"]) == examples
    assert result.claims and all(c.verdict in VERDICTS and c.paper and c.ours and c.setting for c in result.claims)
    assert all(c.why for c in result.claims if c.verdict != "reproduced")
    assert any(row["pareto"] for row in result.tables["pareto"])
    for path in result.plots.values():
        assert path.is_file() and path.suffix == ".png" and path.parent == tmp_path
    for metric, _ in repro.pareto_axes:
        assert metric in m and not math.isnan(m[metric])
    space = repro.search_space()
    assert {"threshold", "relaxed_threshold", "radius", "block_length", "refresh_interval"} <= set(space)
    assert all(isinstance(dim, (Choice, Uniform)) for dim in space.values())
    assert set(space) <= set(cfg.flatten())


def test_micro_preset_end_to_end(tmp_path):
    repro, cfg, result = run_micro("localleap", tmp_path)
    check_common(repro, cfg, result, tmp_path)
    m = result.metrics
    assert "localleap/accuracy_drop_points" in m and "localleap/nfe_vs_threshold_at_equal_accuracy" in m
    families = {r["family"] for r in result.tables["pareto"]}
    assert {"fixed-k", "threshold", "localleap-grid"} <= families
    # the fixed-k curve commits k per step: k=4 takes a quarter of the calls of k=1
    assert m["fixed-4/nfe_per_example"] == cfg.gen_length / 4


def test_relaxed_above_threshold_is_clamped_not_fatal(tmp_path):
    """A sweep may sample relaxed > threshold: the arm runs with relaxed = threshold (the threshold rule)."""
    _, _, result = run_micro("localleap", tmp_path, threshold=0.6, relaxed_threshold=0.9, per_task=1,
                             curve_k=[2], curve_thresholds=[0.6], curve_relaxed=[0.3], curve_radii=[1])
    m = result.metrics
    assert m["localleap/nfe_per_token"] == pytest.approx(m["threshold-0.6/nfe_per_token"])
    assert m["localleap/accuracy"] == m["threshold-0.6/accuracy"]


def test_pareto_front():
    assert pareto_front([(1.0, 0.5), (2.0, 0.9), (2.0, 0.4), (3.0, 0.9)]) == [True, True, False, False]


@pytest.mark.integration
def test_cli_reproduce_localleap_micro_json(tmp_path):
    """`tokenworks reproduce localleap --preset micro --json` through the real runner (Ray + MLflow)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db", "TOKENWORKS_RAY_CPUS": "1"}
    tokenworks = str(Path(sys.executable).parent / "tokenworks")
    out = subprocess.run([tokenworks, "reproduce", "localleap", "--preset", "micro", "--json"], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout)
    assert data["slug"] == "localleap"
    for arm in ARMS:
        assert f"{arm}/nfe_per_token" in data["metrics"] and f"{arm}/accuracy" in data["metrics"]
    assert data["claims"] and all(c["verdict"] for c in data["claims"])
