"""The serving wire format without Ray: every malformed body gets the right status and names its field; stop
strings cut the text; the config loads presets, files and method options. Fast (no Serve, no model)."""

from __future__ import annotations

import json

import pytest

from tokenworks.errors import UserError
from tokenworks.platform.serve_app.completion import complete
from tokenworks.platform.serve_app.config import load_serve_config
from tokenworks.platform.serve_app.load import RequestRecord, percentile, summarize
from tokenworks.platform.serve_app.protocol import (
    Limits, RequestError, apply_stop, error_body, parse_completion_request,
)

LIMITS = Limits(max_tokens=64, max_prompts=4, max_body_bytes=2048)


def parse(body) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_completion_request(raw, LIMITS)


def test_a_good_request_is_parsed_with_defaults():
    req = parse({"prompt": "def f():", "model": "m", "stop": "\n", "temperature": 0, "user": "ignored"})
    assert (req.prompts, req.max_tokens, req.stop, req.model) == (["def f():"], 16, ["\n"], "m")
    req = parse({"prompt": ["a", "b"], "max_tokens": 64, "stop": ["x", "y"], "n": 1, "stream": False})
    assert (req.prompts, req.max_tokens, req.stop, req.model) == (["a", "b"], 64, ["x", "y"], None)


@pytest.mark.parametrize("body, status, param, words", [
    ({"max_tokens": 4}, 400, "prompt", "missing"),
    ({"prompt": None}, 400, "prompt", "missing"),
    ({"prompt": 3}, 400, "prompt", "string"),
    ({"prompt": ["a", 1]}, 400, "prompt", "list of strings"),
    ({"prompt": []}, 400, "prompt", "empty"),
    ({"prompt": ""}, 400, "prompt", "empty"),
    ({"prompt": ["a"] * 5}, 400, "prompt", "at most 4"),
    ({"prompt": "a", "max_tokens": -1}, 400, "max_tokens", "1 to 64"),
    ({"prompt": "a", "max_tokens": 0}, 400, "max_tokens", "1 to 64"),
    ({"prompt": "a", "max_tokens": 10**12}, 400, "max_tokens", "1 to 64"),
    ({"prompt": "a", "max_tokens": "8"}, 400, "max_tokens", "integer"),
    ({"prompt": "a", "max_tokens": 8.0}, 400, "max_tokens", "integer"),
    ({"prompt": "a", "max_tokens": True}, 400, "max_tokens", "integer"),
    ({"prompt": "a", "temperature": 0.7}, 400, "temperature", "greedy"),
    ({"prompt": "a", "temperature": "hot"}, 400, "temperature", "number"),
    ({"prompt": "a", "stop": 7}, 400, "stop", "string"),
    ({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop", "1 to 4"),
    ({"prompt": "a", "stop": [""]}, 400, "stop", "non-empty"),
    ({"prompt": "a", "model": 5}, 400, "model", "string"),
    ({"prompt": "a", "stream": True}, 400, "stream", "not supported"),
    ({"prompt": "a", "n": 2}, 400, "n", "not supported"),
    (b"\xff\xfe{}", 400, None, "UTF-8"),
    (b"{not json", 400, None, "JSON"),
    (b'{"prompt": "a", "temperature": NaN}', 400, None, "JSON"),
    (b"", 400, None, "empty"),
    (b"[1, 2]", 400, None, "object"),
    (b'"just a string"', 400, None, "object"),
    (json.dumps({"prompt": "a" * 4000}).encode(), 413, None, "limit is 2048"),
    (b"[" * 2000, 400, None, "nested too deeply"),
])
def test_bad_requests_get_a_status_and_a_message_naming_the_field(body, status, param, words):
    with pytest.raises(RequestError) as info:
        parse(body)
    assert (info.value.status, info.value.param) == (status, param)
    assert words in info.value.message
    err = error_body(info.value.status, info.value.message, info.value.param)["error"]
    assert err["code"] == status and err["param"] == param and err["message"] == info.value.message


def test_stop_cuts_before_the_earliest_match():
    assert apply_stop("abc\ndef", ["\n"]) == ("abc", True)
    assert apply_stop("abcdef", ["ef", "cd"]) == ("ab", True)
    assert apply_stop("abcdef", ["xyz"]) == ("abcdef", False)
    assert apply_stop("abc", []) == ("abc", False)


class CharTokenizer:
    """One token per character (ids = code points): enough to check counting and cutting."""

    def __call__(self, text):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


def test_complete_counts_tokens_cuts_at_stop_and_checks_the_context():
    def echo(prompt_ids, max_new_tokens):  # "generates" the prompt again, cut at max_new_tokens
        return list(prompt_ids)[:max_new_tokens], {"mean_acceptance_length": 1.0}

    result = complete(echo, CharTokenizer(), ["ab;cd", "xy"], 4, [";"], context_length=16)
    assert [c["text"] for c in result.choices] == ["ab", "xy"]
    assert [c["finish_reason"] for c in result.choices] == ["stop", "stop"]   # stop string; EOS-like short
    assert (result.usage["prompt_tokens"], result.usage["completion_tokens"]) == (7, 6)
    assert result.usage["total_tokens"] == 13 and len(result.usage["tokenworks"]) == 2
    assert complete(echo, CharTokenizer(), ["abcdef"], 4, [], 16).choices[0]["finish_reason"] == "length"
    with pytest.raises(RequestError) as info:
        complete(echo, CharTokenizer(), ["abcdef"], 12, [], context_length=16)
    assert info.value.param == "max_tokens" and "context of 16" in info.value.message


def test_config_presets_files_and_method_options(tmp_path):
    cfg = load_serve_config("micro", None, {"method": "token-recycling", "method_options.topk": 8})
    assert (cfg.model, cfg.preset, cfg.method_options) == ("code-lm-micro", "micro", {"topk": 8})
    assert cfg.factory_options() == {"method": "token-recycling", "model": "code-lm-micro",
                                     "method_options": {"topk": 8}}
    path = tmp_path / "serve.yaml"
    path.write_text("app: s2d\nreplicas: 2\nmax_queued_requests: 8\ntargets: [a, b]\nmethod_options:\n  k: 3\n")
    cfg = load_serve_config("tiny", str(path), {"replicas": 3})
    assert (cfg.app, cfg.replicas, cfg.max_queued_requests, cfg.targets) == ("s2d", 3, 8, ["a", "b"])
    assert cfg.factory_options() == {"preset": "tiny", "k": 3}
    with pytest.raises(UserError, match="replicas"):
        load_serve_config("micro", None, {"replicas": 0})
    with pytest.raises(UserError, match="replica"):
        load_serve_config("micro", None, {"replica": 2})
    with pytest.raises(UserError, match="vllm"):
        load_serve_config("micro", None, {"app": "r2r", "backend": "vllm"})


def test_load_report_percentiles_and_error_counts():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([5.0], 99) == 5.0
    records = [RequestRecord(0, "200", 0.1, 8), RequestRecord(1, "200", 0.3, 8), RequestRecord(2, "503", 0.01),
               RequestRecord(3, "ConnectError", 0.0)]
    report = summarize("http://x", 2, 8, 2.0, records)
    assert report.requests == 4 and report.requests_per_s == pytest.approx(1.0)
    assert report.errors == {"503": 1, "ConnectError": 1} and report.status_counts["200"] == 2
    assert report.latency_p50_s == pytest.approx(0.2) and report.completion_tokens_per_s == pytest.approx(8.0)
