"""The tokenization-theory reproduction's micro preset runs end to end and reports the documented keys."""

from __future__ import annotations

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.pipelines.base import VERDICTS, RunContext
from tokenworks.pipelines.tokenization_theory import (TokenizationTheoryConfig, TokenizationTheoryReproduction,
                                                      gap_closed)

torch.set_num_threads(1)


def test_micro_preset_runs_and_reports_losses_per_character(tmp_path):
    cfg = TokenizationTheoryConfig.from_preset("micro")
    result = TokenizationTheoryReproduction().run(cfg, RunContext(tmp_path, progress=lambda _: None))
    m = result.metrics
    for key in ("char/loss_per_char", "bpe/loss_per_char", "entropy_rate/loss_per_char", "unigram/loss_per_char",
                "char/stuck_fraction", "bpe/stuck_fraction", "bpe_unigram/loss_per_char", "bpe/tokens_per_char",
                "bpe/gap_closed", "char/steps_to_escape"):
        assert key in m
    assert m["entropy_rate/loss_per_char"] == pytest.approx(0.5004, abs=1e-4)   # p = q = 0.8
    assert m["unigram/loss_per_char"] == pytest.approx(0.6931, abs=1e-4)
    assert m["char/tokens_per_char"] == 1.0 and m["bpe/tokens_per_char"] < 1.0
    assert 0.0 <= m["char/stuck_fraction"] <= 1.0
    assert len(result.tables["per_seed"]) == 2 * cfg.seeds
    assert {r["tokenizer"] for r in result.tables["dictionary_curve"]} == {"bpe", "lzw"}
    assert all(p.is_file() for p in result.plots.values())
    assert all(c.verdict in VERDICTS for c in result.claims)
    repro = TokenizationTheoryReproduction()
    assert set(repro.search_space()) <= set(cfg.flat_keys())
    assert {k for k, _ in repro.pareto_axes} <= set(m)


def test_random_kernel_source_and_gap_measure():
    assert gap_closed(0.5, 0.5, 0.7) == pytest.approx(1.0) and gap_closed(0.7, 0.5, 0.7) == pytest.approx(0.0)
    with pytest.raises(UserError, match="p"):
        TokenizationTheoryConfig.from_preset("micro", {"p": 1.5})
    with pytest.raises(UserError, match="process"):
        TokenizationTheoryConfig.from_preset("micro", {"process": "hidden"})


def _metrics(char_loss: float, stuck: float, under: float) -> dict[str, float]:
    return {"entropy_rate/loss_per_char": 0.5, "unigram/loss_per_char": 0.69, "char/loss_per_char": char_loss,
            "char/stuck_fraction": stuck, "char/undertrained_fraction": under, "char/steps_to_escape": 100.0,
            "bpe/loss_per_char": 0.52, "bpe/gap_closed": 0.9, "bpe_unigram/loss_per_char": 0.56}


def test_plateau_verdicts_separate_stuck_escaped_and_undertrained_runs():
    cfg = TokenizationTheoryConfig.from_preset("micro", {"order": 3})
    verdict = lambda m: TokenizationTheoryReproduction._claims(m, cfg)[0].verdict  # noqa: E731
    assert verdict(_metrics(0.69, stuck=1.0, under=0.0)) == "reproduced"
    assert verdict(_metrics(0.55, stuck=0.0, under=0.0)) == "not reproduced"
    assert verdict(_metrics(0.80, stuck=0.0, under=1.0)) == "not comparable at this scale"
    claims = TokenizationTheoryReproduction._claims(_metrics(0.55, 0.0, 0.0), cfg)
    assert [c.verdict for c in claims[1:]] == ["reproduced", "reproduced"]
