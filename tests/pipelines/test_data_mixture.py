"""The data-mixture reproduction's micro preset runs end to end and reports the documented keys."""

from __future__ import annotations

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.pipelines.base import VERDICTS, RunContext
from tokenworks.pipelines.data_mixture import DataMixtureConfig, DataMixtureReproduction

torch.set_num_threads(1)


def test_micro_preset_runs_and_reports_errors_against_the_baselines(tmp_path):
    cfg = DataMixtureConfig.from_preset("micro")
    result = DataMixtureReproduction().run(cfg, RunContext(tmp_path, progress=lambda _: None))
    for key in ("attack/mae", "attack/log10_mse", "uniform/mae", "uniform/log10_mse", "random/mae",
                "random/log10_mse", "attack/seconds_per_mixture", "oracle/max_abs_error"):
        assert key in result.metrics
    assert result.metrics["oracle/max_abs_error"] < 1e-6          # exact training data -> exact proportions
    assert result.metrics["attack/mae"] < result.metrics["uniform/mae"] / 3
    assert result.metrics["attack/log10_mse"] < result.metrics["uniform/log10_mse"] - 1
    assert len(result.tables["per_mixture"]) == cfg.n_mixtures
    used = {r["category"] for r in result.tables["per_category"]}
    assert used >= {"py", "en", "el"} and used <= set(cfg.categories)    # "c" needs /usr/include
    assert len(result.tables["per_category"]) == cfg.n_mixtures * len(used)
    for m in range(cfg.n_mixtures):
        rows = [r for r in result.tables["per_category"] if r["mixture"] == m]
        assert sum(r["true_share"] for r in rows) == pytest.approx(1.0)
        assert sum(r["estimated_share"] for r in rows) == pytest.approx(1.0)
    assert result.plots["true_vs_estimated"].is_file()
    assert all(c.verdict in VERDICTS for c in result.claims)
    repro = DataMixtureReproduction()
    assert set(repro.search_space()) <= set(cfg.flat_keys())
    assert {k for k, _ in repro.pareto_axes} <= set(result.metrics)


def test_config_rejects_bad_values_before_any_work():
    with pytest.raises(UserError, match="merges"):
        DataMixtureConfig.from_preset("micro", {"merges": 0})
    with pytest.raises(UserError, match="categories"):
        DataMixtureConfig.from_preset("micro", {"categories": ["py", "klingon"]})


def test_a_corpus_larger_than_the_local_categories_is_refused(tmp_path):
    cfg = DataMixtureConfig.from_preset("micro", {"train_bytes": 10**10})
    with pytest.raises(UserError, match="train_bytes = 10000000000"):
        DataMixtureReproduction().run(cfg, RunContext(tmp_path, progress=lambda _: None))
