"""The gtp-vit reproduction end to end on the micro preset (zoo vit-micro, seconds), and one CLI smoke run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tokenworks.config import Choice
from tokenworks.errors import UserError
from tokenworks.pipelines import get_reproduction
from tokenworks.pipelines.base import VERDICTS, RunContext
from tokenworks.pipelines.gtp_vit import ARMS, SELECTION_ONLY

ARM_KEYS = ("macs_reduction", "accuracy", "images_per_s")


def test_micro_preset_end_to_end(tmp_path):
    torch.set_num_threads(1)
    repro = get_reproduction("gtp-vit")
    cfg = repro.config_cls.from_preset("micro")
    result = repro.run(cfg, RunContext(workdir=tmp_path, progress=lambda _: None, num_threads=1))
    m = result.metrics
    assert 0.0 <= m["none/accuracy"] <= 1.0
    for arm in (*ARMS, SELECTION_ONLY):
        for key in ARM_KEYS:
            assert f"{arm}/{key}" in m, f"{arm}/{key}"
        assert m[f"{arm}/images_per_s"] > 0
        assert 0.0 < m[f"{arm}/macs_reduction"] < 1.0
    # the same schedule gives the same token counts, so evit/random MACs are equal and gtp/tome pay an overhead
    assert m["evit/macs"] >= m["random/macs"]
    rows = result.tables["budgets"]
    assert len(rows) == 1 + len(ARMS) * len(cfg.removals) + 1
    by_arm_r = {(r["arm"], r["removed_per_layer"]): r for r in rows}
    assert by_arm_r[("gtp-vit", 4)]["tokens"] == by_arm_r[("tome", 4)]["tokens"] == by_arm_r[("random", 4)]["tokens"]
    assert result.claims and all(c.verdict in VERDICTS and c.paper and c.ours and c.setting for c in result.claims)
    assert all(c.why for c in result.claims if c.verdict != "reproduced")
    for path in result.plots.values():
        assert path.is_file() and path.suffix == ".png" and path.parent == tmp_path
    for metric, _ in repro.pareto_axes:
        assert metric in m
    space = repro.search_space()
    assert all(isinstance(dim, Choice) for dim in space.values())
    assert set(space) <= set(cfg.flatten())


def test_presets_validate_and_bad_values_name_the_field():
    repro = get_reproduction("gtp-vit")
    for preset in ("micro", "tiny", "paper"):
        repro.config_cls.from_preset(preset)
    with pytest.raises(UserError, match="gtp.alpha"):
        repro.config_cls.from_preset("micro", {"gtp.alpha": 2.0})
    with pytest.raises(UserError, match="gtp.graph"):
        repro.config_cls.from_preset("micro", {"gtp.graph": "knn"})


@pytest.mark.integration
def test_cli_reproduce_micro_json():
    """`tokenworks reproduce gtp-vit --preset micro --json` through the platform (Ray actor + MLflow)."""
    env = {**os.environ, "TOKENWORKS_RAY_CPUS": "1", "TOKENWORKS_THREADS": "1"}
    tokenworks = str(Path(sys.executable).with_name("tokenworks"))
    out = subprocess.run([tokenworks, "reproduce", "gtp-vit", "--preset", "micro", "--json"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout)
    assert data["slug"] == "gtp-vit"
    for arm in ARMS:
        assert f"{arm}/accuracy" in data["metrics"] and f"{arm}/macs_reduction" in data["metrics"]
    assert "none/accuracy" in data["metrics"]
