"""The skipdecode reproduction on the micro preset (zoo micro model and its fine-tune, seconds), its
recommendation rule and search space, and one CLI smoke run through Ray + MLflow (integration)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tokenworks.config import Choice
from tokenworks.pipelines import get_reproduction
from tokenworks.pipelines.base import VERDICTS, RunContext

MLFLOW_NAME = re.compile(r"^[\w\-. :/]+$")   # what MLflow accepts in a metric name
REQUIRED = ("greedy/next_token_accuracy", "skipdecode/speedup", "skipdecode/next_token_accuracy",
            "skipdecode/layers_per_token")


def test_micro_preset_end_to_end(tmp_path):
    torch.set_num_threads(1)
    repro = get_reproduction("skipdecode")
    cfg = repro.config_cls.from_preset("micro")
    result = repro.run(cfg, RunContext(workdir=tmp_path, progress=lambda _: None, num_threads=1))
    m = result.metrics
    assert set(REQUIRED) <= set(m)
    assert 0 <= m["skipdecode/next_token_accuracy"] <= 1 and 0 <= m["greedy/next_token_accuracy"] <= 1
    assert 1 <= m["skipdecode/layers_per_token"] <= 2      # the micro model has 2 layers
    # the all-layers plan through the skip forward is greedy: same tokens, same teacher-forced scores
    assert m["skipdecode-full/exact_match"] == 1.0 and m["hf-early-exit/exact_match"] == 1.0
    assert m["skipdecode/batch_equals_single"] == 1.0 and m["batched-greedy/batch_equals_single"] == 1.0
    assert m["greedy/layers_per_token"] == 2 and m["static-exit-1/layers_per_token"] == 1
    assert m["skipdecode/speedup_batched"] > 0 and m["batched/batch_size"] == cfg.batch_size
    assert all(MLFLOW_NAME.match(key) for key in m), [k for k in m if not MLFLOW_NAME.match(k)]
    assert {"finetune/finetune_seconds", "finetune/val_bits_per_byte"} <= set(m)
    assert result.claims and all(c.verdict in VERDICTS and c.paper and c.ours and c.setting for c in result.claims)
    assert all(c.why for c in result.claims if c.verdict != "reproduced")
    assert {r["arm"] for r in result.tables["curve"]} >= {"greedy", "skipdecode-full", "static-exit-1"}
    for path in result.plots.values():
        assert path.is_file() and path.suffix == ".png" and path.parent == tmp_path
    for metric, _ in repro.pareto_axes:
        assert metric in m


def test_every_search_space_point_is_valid_on_the_micro_and_tiny_models():
    """A sweep trial must never die on a budget its model cannot run (micro: 2 layers, tiny: 4)."""
    from tokenworks.methods.decoding.skipdecode import skip_schedule
    from tokenworks.methods.decoding.skipdecode.config import SkipDecodeConfig

    repro = get_reproduction("skipdecode")
    space = repro.search_space()
    assert all(isinstance(dim, Choice) for dim in space.values())
    for preset in ("micro", "tiny"):
        cfg = repro.config_cls.from_preset(preset)
        assert set(space) <= set(cfg.flatten())
    for layers in (2, 4):
        model = type("M", (), {"config": type("C", (), {"num_hidden_layers": layers})()})()
        for values in itertools.product(*(dim.values for dim in space.values())):
            method = SkipDecodeConfig.validated(dict(zip((k.split(".")[1] for k in space), values)))
            skip_schedule(model, method)   # raises UserError when the budget does not fit


def test_recommendation_is_the_fastest_within_the_accuracy_bar():
    from tokenworks.pipelines.skipdecode import SkipDecodeRepro, budget_schedules, recommend

    cfg = SkipDecodeRepro.from_preset("tiny", {"curve": ["w1:4-3", "w1:4-1"]})
    labels = list(budget_schedules(cfg, 4))
    assert len(labels) == 3 and labels[0] == "skipdecode-w1:4-2:d32"
    speed = dict(zip(labels, (1.6, 1.2, 2.5)))
    drop = dict(zip(labels, (1.5, 0.4, 9.0)))
    metrics = {f"{k}/speedup": v for k, v in speed.items()} | {f"{k}/accuracy_drop_points": v for k, v in drop.items()}
    assert recommend(cfg, metrics, budget_schedules(cfg, 4)) == labels[0]
    strict = cfg.with_overrides({"max_accuracy_drop": 0.1})
    assert recommend(strict, metrics, budget_schedules(cfg, 4)) == labels[1]   # none passes: the most accurate


def test_presets_and_bad_curve_labels():
    from tokenworks.errors import UserError

    repro = get_reproduction("skipdecode")
    tiny = repro.config_cls.from_preset("tiny")
    assert tiny.model == "skipdecode-tiny" and tiny.parent == "code-lm-tiny" and tiny.batch_size == 8
    paper = repro.config_cls.from_preset("paper")
    assert paper.method.max_layers == 24 and paper.method.warmup_layers == 1
    with pytest.raises(UserError, match="curve"):
        repro.config_cls.from_preset("tiny", {"curve": ["4-2"]})


def test_the_finetune_recipe_hash_follows_its_parent(monkeypatch):
    from dataclasses import replace

    from tokenworks.zoo.recipes import ZOO, ensure_extensions, recipe_hash

    ensure_extensions()
    recipe = ZOO["skipdecode-micro"]
    before = recipe_hash(recipe)
    assert recipe_hash(replace(recipe, description="other words")) == before
    assert recipe_hash(replace(recipe, steps=recipe.steps + 1)) != before
    monkeypatch.setitem(ZOO, "code-lm-micro", replace(ZOO["code-lm-micro"], seed=99))
    assert recipe_hash(recipe) != before      # a retrained parent means a new fine-tune
    labels = [s.label() for s in ZOO["skipdecode-tiny"].schedules(4)]
    assert "w1:4-2/32" in labels and all(s.max_layers <= 4 for s in ZOO["skipdecode-tiny"].schedules(4))


@pytest.mark.integration
def test_cli_reproduce_micro_json(tmp_path):
    """`tokenworks reproduce skipdecode --preset micro --json` through Ray and MLflow."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db", "TOKENWORKS_THREADS": "1"}
    exe = Path(sys.executable).parent / "tokenworks"
    done = subprocess.run([str(exe), "reproduce", "skipdecode", "--preset", "micro", "--json"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["slug"] == "skipdecode" and set(REQUIRED) <= set(data["metrics"])
    assert {c["verdict"] for c in data["claims"]} <= set(VERDICTS)
