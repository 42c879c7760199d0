"""compare_decoders: one table with the documented keys, same token counting, greedy reference."""

from __future__ import annotations

import pytest

from tokenworks.errors import UserError
from tokenworks.methods.decoding.measure import ROW_KEYS, compare_decoders, distinct_ngram_share

from .conftest import ToyTokenizer


def test_distinct_4gram_share():
    assert distinct_ngram_share([1, 2, 3, 4, 1, 2, 3, 4]) == pytest.approx(4 / 5)
    assert distinct_ngram_share([1, 2, 3]) == 0.0


def test_compare_decoders_report(target_model):
    prompts = ["def f(x):\n    return x", "abcabcabcabc", "import os\n"]
    report = compare_decoders(
        target_model, ToyTokenizer(), ["greedy", "hf-greedy", "token-recycling", "tr-chain"], prompts,
        max_new_tokens=12, repeats=2, method_options={"tr-chain": {"decoder": "token-recycling", "tree": "chain4"}},
        progress=False,
    )
    assert list(report.rows) == ["greedy", "hf-greedy", "token-recycling", "tr-chain"]
    for label, row in report.rows.items():
        assert tuple(row) == ROW_KEYS
        assert row["exact_match"] == 1.0, label
        assert row["tokens_per_s"] > 0
    assert report.rows["greedy"]["speedup"] == 1.0
    assert report.rows["greedy"]["mean_acceptance_length"] == 1.0
    assert report.rows["greedy"]["target_forwards_per_token"] == 1.0
    assert report.rows["token-recycling"]["target_forwards_per_token"] <= 1.0 + 1 / 12
    assert len(report.per_sample) == 2 * 3 * 4
    assert {s["new_tokens"] for s in report.per_sample} == {12}
    # the matrix state is restored per repeat: both repeats see identical acceptance
    tr = [s for s in report.per_sample if s["method"] == "token-recycling"]
    assert [s["accepted"] for s in tr if s["repeat"] == 0] == [s["accepted"] for s in tr if s["repeat"] == 1]
    assert "token-recycling" in report.to_table()
    assert isinstance(report.warnings, list)
    # forward cost: wall per target forward relative to the first method, pooled over every sample
    assert report.details["greedy"]["forward_cost"] == 1.0
    for label in report.rows:
        mine = [s for s in report.per_sample if s["method"] == label]
        per_forward = sum(s["wall_s"] for s in mine) / sum(s["target_forwards"] for s in mine)
        assert report.details[label]["seconds_per_forward"] == pytest.approx(per_forward)
    assert "fwd cost" in report.to_table().splitlines()[0]


def test_compare_decoders_rejects_bad_input(target_model):
    with pytest.raises(UserError, match="repeats"):
        compare_decoders(target_model, ToyTokenizer(), ["greedy"], ["a"], 4, repeats=0, progress=False)
    with pytest.raises(UserError, match="unknown decoder"):
        compare_decoders(target_model, ToyTokenizer(), ["gredy"], ["a"], 4, repeats=1, progress=False)


def test_prebuilt_decoder_state_is_the_start_of_every_repeat(target_model):
    from tokenworks.methods.decoding.registry import make_decoder

    tok = ToyTokenizer()
    prompts = ["abcdabcd", "hello hello", "xyzxyz"]
    hot = make_decoder("token-recycling", target_model, tok, tree="top16")
    hot.warm([tok.encode("abcdabcdabcd")], 20)
    state = hot.snapshot()
    report = compare_decoders(target_model, tok, ["greedy", "token-recycling"], prompts, 10, 2,
                              progress=False, decoders={"token-recycling": hot})
    hot.restore(state)
    expected = [sum(hot.decode(tok.encode(p), 10).stats.accepted_per_step) for p in prompts]
    for r in (0, 1):
        got = [s["accepted"] for s in report.per_sample if s["method"] == "token-recycling" and s["repeat"] == r]
        assert got == expected
