"""The r2r reproduction end to end on the micro preset (micro task LMs, seconds), and its CLI smoke test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tokenworks.pipelines import get_reproduction
from tokenworks.pipelines.base import VERDICTS, RunContext

REQUIRED = ("small/accuracy", "large/accuracy", "r2r/accuracy", "r2r/large_token_share", "r2r/threshold",
            "entropy/accuracy_at_r2r_share", "random/accuracy", "labels/divergent", "router/val_recall")


def test_micro_preset_end_to_end(tmp_path):
    torch.set_num_threads(1)
    repro = get_reproduction("r2r")
    cfg = repro.config_cls.from_preset("micro")
    result = repro.run(cfg, RunContext(workdir=tmp_path, progress=lambda _: None, num_threads=1))
    for key in REQUIRED:
        assert key in result.metrics, key
    for i in range(len(cfg.sweep)):
        assert 0.0 <= result.metrics[f"r2r-sweep-{i}/large_token_share"] <= 1.0
        assert 0.0 <= result.metrics[f"r2r-sweep-{i}/accuracy"] <= 1.0
    for i in range(len(cfg.entropy_quantiles)):
        assert f"entropy-{i}/threshold" in result.metrics
    assert result.metrics["small/large_token_share"] == 0.0 and result.metrics["large/large_token_share"] == 1.0
    assert result.claims and all(c.verdict in VERDICTS and c.paper and c.ours and c.setting for c in result.claims)
    assert all(c.why for c in result.claims if c.verdict != "reproduced")
    arms = 4 + len(cfg.sweep) + len(cfg.entropy_quantiles)  # small, large, r2r, random + the two sweeps
    assert len(result.tables["per_sample"]) == len(cfg.tasks) * cfg.test_per_task * arms
    assert result.plots["pareto"].is_file()
    for metric, _ in repro.pareto_axes:
        assert metric in result.metrics
    assert set(repro.search_space()) <= set(cfg.flatten())


def test_headline_threshold_override_and_presets():
    cfg = get_reproduction("r2r").config_cls.from_preset("tiny", {"threshold": 0.3, "router.min_recall": 0.9})
    assert cfg.threshold == 0.3 and cfg.router.min_recall == 0.9 and cfg.small == "task-lm-small"
    assert get_reproduction("r2r").config_cls.from_preset("paper").large.endswith("32B")


@pytest.mark.integration
def test_cli_reproduce_micro_json(tmp_path):
    """`tokenworks reproduce r2r --preset micro --json` through the real platform (Ray actor + MLflow)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db", "TOKENWORKS_THREADS": "1"}
    cli = Path(sys.executable).parent / "tokenworks"
    done = subprocess.run([str(cli), "reproduce", "r2r", "--preset", "micro", "--json"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["slug"] == "r2r" and "r2r/accuracy" in data["metrics"] and data["claims"]


def test_task_mix_heldout_prompts_are_never_training_prompts():
    from tokenworks.zoo.task_models import MIX_SPECS, TASK_MIX, heldout_examples, task_examples

    spec = MIX_SPECS["task-mix-micro"]
    train = {ex.prompt for ex in task_examples("train", spec.train_per_task, spec.train_per_task)}
    for split in ("validation", "test"):
        held = heldout_examples("task-mix-micro", split)
        assert len(held) == len(TASK_MIX) * spec.heldout_per_task and not train & {ex.prompt for ex in held}
    sort_only = heldout_examples("task-mix-micro", "test", 3, ["sort"])
    assert len(sort_only) == 3 and all(ex.prompt.startswith("sort:") for ex in sort_only)
