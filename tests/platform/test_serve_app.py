"""The served decoder application over real HTTP: one Serve app with three model deployments over the zoo's
micro model behind the ingress, shared by every test of this module: greedy, prompt-lookup, and `tight`
(greedy again, under its own id, with a queue of 1 on purpose, for the overload test).

Checks: answers equal the in-process greedy decoder's; /v1/models lists the models; `model` routes; `stop`
cuts; 64 concurrent clients all get 200 (queues sized for them); a burst of malformed requests gets 4xx JSON
naming the field and the next good request succeeds; the tiny queue sheds load with 503 (never another 5xx)
and recovers; `tokenworks bench serve` measures the app.

R2R and S2D run as two more applications on the same Serve instance (/r2r, /s2d; micro presets): /v1/models
lists every model, the `model` field picks the model (for S2D: the target), answers equal the method's own
decoder run in-process, and `usage` carries the method's statistics. They skip, saying why, while the
method's serving module does not import.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from platform_helpers import free_port

pytestmark = pytest.mark.integration

MODEL = "code-lm-micro"
PROMPTS = ["def add(a, b):\n    return", "import os\n\n\ndef main():\n", "class Stack:\n    def push(self, x):",
           "for i in range(10):\n"]
MAX_TOKENS = 8
TIGHT = "tight"


@pytest.fixture(scope="module")
def served(local_ray):
    """Base URL of the app (model ids code-lm-micro:greedy, code-lm-micro:prompt-lookup, tight)."""
    import torch
    from ray import serve

    from tokenworks.platform.serve_app import ModelGroup, load_serve_config, start_app

    torch.set_num_threads(1)
    cfg = load_serve_config("micro", None, {"num_cpus": 0.25, "max_queued_requests": 128})
    groups = [ModelGroup(name, options={"method": method, "model": MODEL, "method_options": {}})
              for name, method in (("Greedy", "greedy"), ("PromptLookup", "prompt-lookup"))]
    groups.append(ModelGroup("Tight", options={"method": "greedy", "model": MODEL, "model_id": TIGHT},
                             deployment_options={"max_ongoing_requests": 1, "max_queued_requests": 1}))
    base = start_app(cfg, port=free_port(), groups=groups)
    try:
        yield base
    finally:
        serve.shutdown()


@pytest.fixture(scope="module")
def expected():
    """prompt -> (text, completion tokens) of the in-process greedy decoder, MAX_TOKENS new tokens."""
    from tokenworks.methods.decoding.registry import make_decoder
    from tokenworks.zoo import load_lm

    lm, tok = load_lm(MODEL)
    decoder = make_decoder("greedy", lm, tok)
    out = {}
    for prompt in PROMPTS:
        gen = decoder.decode(list(tok(prompt)["input_ids"]), MAX_TOKENS)
        out[prompt] = (tok.decode(gen.ids, skip_special_tokens=True), len(gen.ids))
    return out


def complete(base: str, **body) -> httpx.Response:
    return httpx.post(f"{base}/v1/completions", json=body, timeout=120)


def test_models_lists_every_deployment(served):
    data = httpx.get(f"{served}/v1/models", timeout=60).json()["data"]
    assert sorted(m["id"] for m in data) == [f"{MODEL}:greedy", f"{MODEL}:prompt-lookup", TIGHT]
    assert all(m["object"] == "model" for m in data)


@pytest.mark.parametrize("method", ["greedy", "prompt-lookup"])
def test_answer_equals_in_process_greedy_and_carries_method_stats(served, expected, method):
    prompt = PROMPTS[0]
    resp = complete(served, prompt=prompt, max_tokens=MAX_TOKENS, model=f"{MODEL}:{method}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    text, n = expected[prompt]
    assert body["model"] == f"{MODEL}:{method}" and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == text
    assert body["usage"]["completion_tokens"] == n
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + n
    stats = body["usage"]["tokenworks"][0]
    assert stats["target_forwards"] >= 1 and stats["mean_acceptance_length"] >= 1.0
    if method == "greedy":
        assert stats["mean_acceptance_length"] == 1.0 and stats["target_forwards"] == n


def test_prompt_list_and_stop_strings(served, expected):
    resp = complete(served, prompt=PROMPTS[:2], max_tokens=MAX_TOKENS)
    assert resp.status_code == 200, resp.text
    assert [c["text"] for c in resp.json()["choices"]] == [expected[p][0] for p in PROMPTS[:2]]
    text = expected[PROMPTS[0]][0]
    stop = text[2:4]    # a stop string the greedy text is known to contain
    resp = complete(served, prompt=PROMPTS[0], max_tokens=MAX_TOKENS, stop=[stop, "never-produced"])
    choice = resp.json()["choices"][0]
    assert choice["text"] == text[: text.find(stop)] and choice["finish_reason"] == "stop"


def test_64_concurrent_clients_all_get_correct_answers(served, expected):
    async def one(client: httpx.AsyncClient, i: int) -> tuple[str, httpx.Response]:
        prompt = PROMPTS[i % len(PROMPTS)]
        model = f"{MODEL}:{'greedy' if i % 2 else 'prompt-lookup'}"
        return prompt, await client.post(f"{served}/v1/completions", json={"prompt": prompt, "model": model,
                                                                          "max_tokens": MAX_TOKENS})

    async def run() -> list[tuple[str, httpx.Response]]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=300, limits=limits) as client:
            return await asyncio.gather(*(one(client, i) for i in range(64)))

    results = asyncio.run(run())
    assert [r.status_code for _, r in results] == [200] * 64, [r.text for _, r in results if r.status_code != 200]
    for prompt, resp in results:
        assert resp.json()["choices"][0]["text"] == expected[prompt][0]


MALFORMED = [
    ({"max_tokens": 4}, 400, "prompt"),
    ({"prompt": 42}, 400, "prompt"),
    ({"prompt": "x", "max_tokens": -5}, 400, "max_tokens"),
    ({"prompt": "x", "max_tokens": 10**9}, 400, "max_tokens"),
    ({"prompt": "x", "max_tokens": "many"}, 400, "max_tokens"),
    ({"prompt": "x", "model": "no-such-model"}, 404, "model"),
    ({"prompt": "x", "temperature": 0.8}, 400, "temperature"),
    ({"prompt": "x", "stop": {"a": 1}}, 400, "stop"),
    ({"prompt": "x", "max_tokens": 200}, 400, "max_tokens"),   # prompt + max_tokens beyond the 128-token context
    (b"\xc3\x28\xa0\xa1", 400, None),                          # invalid UTF-8
    (b"{\"prompt\": ", 400, None),                             # truncated JSON
    (b"[]", 400, None),
    (b"[" * 200_000, 400, None),                              # nested too deeply for a JSON parser
    (b"{\"prompt\": \"" + b"a" * 1_100_000 + b"\"}", 413, None),  # over the 1 MB body limit
]


def test_malformed_burst_gets_4xx_naming_the_field_then_a_good_request_succeeds(served, expected):
    async def send(client: httpx.AsyncClient, body) -> httpx.Response:
        if isinstance(body, bytes):
            return await client.post(f"{served}/v1/completions", content=body,
                                     headers={"content-type": "application/json"})
        return await client.post(f"{served}/v1/completions", json=body)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*(send(client, body) for body, _, _ in MALFORMED * 3))

    for resp, (_, status, param) in zip(asyncio.run(burst()), MALFORMED * 3):
        assert resp.status_code == status, resp.text
        err = resp.json()["error"]
        assert err["param"] == param and err["code"] == status and err["message"]
        if param:
            assert param in err["message"]
    assert httpx.get(f"{served}/no/such/path", timeout=30).status_code == 404
    assert httpx.get(f"{served}/v1/completions", timeout=30).status_code == 405
    resp = complete(served, prompt=PROMPTS[1], max_tokens=MAX_TOKENS)
    assert resp.status_code == 200 and resp.json()["choices"][0]["text"] == expected[PROMPTS[1]][0]


def test_a_tiny_queue_sheds_load_with_503_and_recovers(served, expected):
    """The `tight` deployment queues at most 1 request: a burst of 16 gets 200s and 503s (with Retry-After
    and a JSON error), never another 5xx, and it answers correctly afterwards."""
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=16)) as client:
            body = {"prompt": PROMPTS[0], "max_tokens": 96, "model": TIGHT}
            return await asyncio.gather(*(client.post(f"{served}/v1/completions", json=body) for _ in range(16)))

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(503) >= 1 and statuses.count(200) >= 1, statuses
    shed = next(r for r in responses if r.status_code == 503)
    assert shed.headers.get("retry-after") == "1" and "overloaded" in shed.json()["error"]["message"]
    resp = complete(served, prompt=PROMPTS[2], max_tokens=MAX_TOKENS, model=TIGHT)
    assert resp.status_code == 200 and resp.json()["choices"][0]["text"] == expected[PROMPTS[2]][0]


def test_bench_serve_command_reports_rates_latency_and_status_counts(served, mlflow_store):
    from typer.testing import CliRunner

    from tokenworks.cli import app

    result = CliRunner().invoke(app, ["bench", "serve", "--url", served, "--concurrency", "4", "--requests", "8",
                                      "--max-tokens", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["requests"] == 8 and report["status_counts"] == {"200": 8} and report["errors"] == {}
    assert report["requests_per_s"] > 0 and 0 < report["latency_p50_s"] <= report["latency_p99_s"]
    bad = CliRunner().invoke(app, ["bench", "serve", "--url", "http://127.0.0.1:9", "--requests", "1"])
    assert bad.exit_code == 2 and "no tokenworks app answers" in bad.output


# --- R2R and S2D: multi-model applications -------------------------------------------------------------------

METHOD_PROMPTS = ["12+34=", "def f(x):\n    return"]
METHOD_MAX_TOKENS = 8


def method_models(module: str, options: dict) -> dict:
    serving = pytest.importorskip(module, reason=f"{module} (the method's serving factory) is not importable yet")
    return serving.served_models(options)


def in_process(models: dict) -> dict[tuple[str, str], str]:
    """(model id, prompt) -> greedy text of that model's decoder, run here (this also builds the zoo models
    before the replicas look for them)."""
    out = {}
    for name, (decoder, tok) in models.items():
        for prompt in METHOD_PROMPTS:
            out[name, prompt] = tok.decode(decoder.decode(list(tok(prompt)["input_ids"]), METHOD_MAX_TOKENS).ids,
                                           skip_special_tokens=True)
    return out


def start_method_app(app: str, served: str) -> str:
    """Deploy `app` beside the decoder app (same Serve instance, same port) under /APP."""
    from tokenworks.platform.serve_app import load_serve_config, start_app

    cfg = load_serve_config("micro", None, {"app": app, "num_cpus": 0.25})
    return start_app(cfg, port=int(served.rsplit(":", 1)[1]), name=app, route_prefix=f"/{app}")


@pytest.fixture(scope="module")
def r2r(served):
    import torch

    torch.set_num_threads(1)
    expected = in_process(method_models("tokenworks.methods.decoding.r2r.serving", {"preset": "micro"}))
    return start_method_app("r2r", served), expected


@pytest.fixture(scope="module")
def s2d(served):
    import torch

    torch.set_num_threads(1)
    expected = in_process(method_models("tokenworks.methods.decoding.s2d.serving", {"preset": "micro"}))
    return start_method_app("s2d", served), expected


def completion(base: str, prompt: str, model: str | None = None) -> dict:
    body = {"prompt": prompt, "max_tokens": METHOD_MAX_TOKENS, **({"model": model} if model else {})}
    resp = httpx.post(f"{base}/v1/completions", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_r2r_serves_router_small_and_large_with_large_token_share(r2r):
    base, expected = r2r
    ids = [m["id"] for m in httpx.get(f"{base}/v1/models", timeout=60).json()["data"]]
    assert sorted(ids) == sorted({name for name, _ in expected}) and "r2r" in ids
    for name in ids:
        for prompt in METHOD_PROMPTS:
            body = completion(base, prompt, name)
            assert body["model"] == name
            assert body["choices"][0]["text"] == expected[name, prompt]
    stats = completion(base, METHOD_PROMPTS[0], "r2r")["usage"]["tokenworks"][0]
    assert 0.0 <= stats["large_token_share"] <= 1.0 and "large_tokens" in stats


def test_s2d_model_field_picks_the_target(s2d):
    base, expected = s2d
    targets = sorted({name for name, _ in expected})
    assert len(targets) >= 2
    assert sorted(m["id"] for m in httpx.get(f"{base}/v1/models", timeout=60).json()["data"]) == targets
    for target in targets:
        for prompt in METHOD_PROMPTS:
            body = completion(base, prompt, target)
            assert body["model"] == target
            assert body["choices"][0]["text"] == expected[target, prompt]
            assert body["usage"]["tokenworks"][0]["mean_acceptance_length"] >= 1.0
    assert completion(base, METHOD_PROMPTS[0])["model"] in targets   # no `model`: the first target answers
    bad = httpx.post(f"{base}/v1/completions", json={"prompt": "x", "model": "no-such-target"}, timeout=30)
    assert bad.status_code == 404 and bad.json()["error"]["param"] == "model"
