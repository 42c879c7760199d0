"""The freecache reproduction end to end on the micro preset (micro zoo models, seconds)."""

from __future__ import annotations

from test_localleap import check_common, run_micro


def test_micro_preset_end_to_end(tmp_path):
    repro, cfg, result = run_micro("freecache", tmp_path)
    check_common(repro, cfg, result, tmp_path)
    m = result.metrics
    # refresh every call = no cache: the same outputs, so the same accuracy and NFE, and only full calls
    assert m["freecache-refresh-1/accuracy"] == m["cache-none/accuracy"]
    assert m["freecache-refresh-1/nfe_per_token"] == m["cache-none/nfe_per_token"]
    assert m["freecache-refresh-1/nfe_prefix_per_token"] == 0
    # FreeCache feeds fewer positions than Fast-dLLM's prefix cache, which feeds fewer than no cache
    assert m["freecache/tokens_fed_per_token"] < m["cache-prefix/tokens_fed_per_token"]
    assert m["cache-prefix/tokens_fed_per_token"] < m["cache-none/tokens_fed_per_token"]
    assert m["cache-dual/nfe_dual_per_token"] > 0
    assert m["guided-topk/accuracy"] >= 0 and m["guided-nocache/accuracy"] == m["guide-ar/accuracy"]
