"""The s2d reproduction end to end on the micro preset (micro task LMs and drafts, seconds), and its CLI smoke
test."""

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

TARGETS = ("task-lm-large", "task-lm-xl")


def test_micro_preset_end_to_end(tmp_path):
    torch.set_num_threads(1)
    repro = get_reproduction("s2d")
    cfg = repro.config_cls.from_preset("micro")
    result = repro.run(cfg, RunContext(workdir=tmp_path, progress=lambda _: None, num_threads=1))
    m = result.metrics
    for target in TARGETS:
        for arm in ("s2d", "per-target-draft", "s2d-exit1", "s2d-exit2", "greedy"):
            assert f"{arm}/{target}/mean_acceptance_length" in m and f"{arm}/{target}/speedup" in m
            assert m[f"{arm}/{target}/exact_match"] == 1.0, (arm, target)   # lossless for every target
        assert m[f"greedy/{target}/mean_acceptance_length"] == 1.0
        assert m[f"s2d/{target}/exit_layer"] in (1.0, 2.0)
    assert result.claims and all(c.verdict in VERDICTS and c.paper and c.ours and c.setting for c in result.claims)
    assert all(c.why for c in result.claims if c.verdict != "reproduced")
    assert result.plots["targets"].is_file()
    for metric, _ in repro.pareto_axes:
        assert metric in m


@pytest.mark.integration
def test_cli_reproduce_micro_json(tmp_path):
    """`tokenworks reproduce s2d --preset micro --json` through the real platform (Ray actor + MLflow)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db", "TOKENWORKS_THREADS": "1"}
    cli = Path(sys.executable).parent / "tokenworks"
    done = subprocess.run([str(cli), "reproduce", "s2d", "--preset", "micro", "--json"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["slug"] == "s2d" and "s2d/task-lm-xl/speedup" in data["metrics"] and data["claims"]
