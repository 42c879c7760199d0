"""Real model paths: the Serve app answers OpenAI-style requests with the greedy tokens; the overhead bench
decodes the same tokens in-process and through the actor. Both use the zoo's micro model."""

from __future__ import annotations

import httpx
import pytest
from platform_helpers import free_port
from mlflow import MlflowClient

pytestmark = pytest.mark.integration


def test_overhead_measures_same_decode_both_ways(local_ray, mlflow_store):
    from tokenworks.platform.overhead import measure_overhead

    out = measure_overhead("code-lm-micro", max_new_tokens=16, repeats=2)
    assert out["same_tokens"] is True
    assert 1 <= out["new_tokens"] <= 16
    assert out["in_process_s"] > 0 and out["actor_s"] > 0
    assert out["overhead_ratio"] == pytest.approx(out["actor_s"] / out["in_process_s"] - 1)
    run = MlflowClient(mlflow_store).get_run(out["run_id"])
    assert run.data.metrics["actor_s"] == pytest.approx(out["actor_s"])


def test_serve_app_matches_in_process_greedy(local_ray):
    from ray import serve

    from tokenworks.methods.decoding.registry import make_decoder
    from tokenworks.platform.serving import serve_decoder
    from tokenworks.zoo import load_lm

    port = free_port()
    base = serve_decoder("greedy", "code-lm-micro", port=port)
    try:
        models = httpx.get(f"{base}/v1/models", timeout=30).json()
        assert models["data"][0]["id"] == "code-lm-micro:greedy"
        prompt = "def add(a, b):\n    return"
        resp = httpx.post(f"{base}/v1/completions", json={"prompt": prompt, "max_tokens": 8}, timeout=60)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        lm, tok = load_lm("code-lm-micro")
        expected = make_decoder("greedy", lm, tok).decode(list(tok(prompt)["input_ids"]), 8)
        assert body["choices"][0]["text"] == tok.decode(expected.ids, skip_special_tokens=True)
        assert body["usage"]["completion_tokens"] == len(expected.ids)
        assert body["usage"]["tokenworks"][0]["mean_acceptance_length"] == 1.0
        bad = httpx.post(f"{base}/v1/completions", json={"prompt": "x", "temperature": 0.7}, timeout=30)
        assert bad.status_code == 400
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200
    finally:
        serve.shutdown()
