"""The OpenAI-style wire format, without Ray: parse and check a `/v1/completions` body, shape answers and errors.

Every bad request becomes a `RequestError(status, message, param)` whose message names the field, the value
and what is allowed; `error_body` turns it into OpenAI's error JSON (`{"error": {"message", "type", "param",
"code"}}`). Checks happen in the order a client would fix them: body size, UTF-8, JSON, object, then fields.

Fields: `prompt` (str, or a list of str), `max_tokens` (int, default 16), `temperature` (0 only: every
decoder here is greedy), `stop` (str or list of up to 4 str; the text is cut at the first match), `model`
(an id from /v1/models; default: the first one). Other OpenAI fields are ignored unless they ask for
something we do not do (`stream`, `n` > 1, `best_of` > 1, `echo`, `logprobs`): those get 400.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

MAX_STOP_SEQUENCES = 4
DEFAULT_MAX_TOKENS = 16
ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error",
               413: "invalid_request_error", 415: "invalid_request_error", 503: "overloaded_error"}


class RequestError(Exception):
    """A request the server will not run; `status` is the HTTP status, `param` the offending field."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


@dataclass(frozen=True)
class Limits:
    max_tokens: int = 1024
    max_prompts: int = 32
    max_body_bytes: int = 1_000_000


@dataclass
class CompletionRequest:
    prompts: list[str]
    max_tokens: int = DEFAULT_MAX_TOKENS
    stop: list[str] = field(default_factory=list)
    model: str | None = None


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "param": param,
                      "code": status}}


def parse_completion_request(body: bytes, limits: Limits) -> CompletionRequest:
    """The raw HTTP body of POST /v1/completions -> a checked request; RequestError naming what is wrong."""
    if len(body) > limits.max_body_bytes:
        raise RequestError(413, f"request body has {len(body)} bytes; the limit is {limits.max_body_bytes}.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = body[exc.start:exc.start + 1]
        raise RequestError(400, f"request body is not valid UTF-8 (byte {exc.start}: {bad!r}).") from None
    if not text.strip():
        raise RequestError(400, "request body is empty; expected a JSON object with at least a 'prompt' field.")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise RequestError(400, f"request body is not valid JSON: {exc}.") from None
    except RecursionError:  # "[[[[..." a million deep stays under the size limit
        raise RequestError(400, "request body is not valid JSON for this server: nested too deeply.") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"request body must be a JSON object, got {_json_type(data)}.")
    request = CompletionRequest(prompts=_prompts(data, limits), max_tokens=_max_tokens(data, limits),
                                stop=_stop(data), model=_model(data))
    _check_temperature(data)
    _check_unsupported(data)
    return request


def _prompts(data: dict[str, Any], limits: Limits) -> list[str]:
    if "prompt" not in data or data["prompt"] is None:
        raise RequestError(400, "missing required field 'prompt' (a string or a list of strings).", "prompt")
    prompt = data["prompt"]
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise RequestError(400, f"'prompt' must be a string or a list of strings, got {_describe(prompt)}.", "prompt")
    if not prompts:
        raise RequestError(400, "'prompt' is an empty list; give at least one prompt.", "prompt")
    if len(prompts) > limits.max_prompts:
        raise RequestError(400, f"'prompt' holds {len(prompts)} prompts; at most {limits.max_prompts} per request.",
                           "prompt")
    if any(not p for p in prompts):
        raise RequestError(400, "'prompt' must not be an empty string.", "prompt")
    return prompts


def _max_tokens(data: dict[str, Any], limits: Limits) -> int:
    value = data.get("max_tokens")
    if value is None:
        return min(DEFAULT_MAX_TOKENS, limits.max_tokens)
    if not _is_int(value):
        raise RequestError(400, f"'max_tokens' must be an integer, got {_describe(value)}.", "max_tokens")
    if not 1 <= value <= limits.max_tokens:
        raise RequestError(400, f"'max_tokens' = {value} is out of range; allowed: 1 to {limits.max_tokens}.",
                           "max_tokens")
    return value


def _check_temperature(data: dict[str, Any]) -> None:
    value = data.get("temperature")
    if value is None:
        return
    if not (_is_int(value) or isinstance(value, float)):
        raise RequestError(400, f"'temperature' must be a number, got {_describe(value)}.", "temperature")
    if value != 0:
        raise RequestError(400, f"'temperature' = {value} is not supported: the decoders served here are greedy; "
                           "allowed: 0.", "temperature")


def _check_unsupported(data: dict[str, Any]) -> None:
    """Fields that would change the answer in a way we do not implement get a 400, not silence."""
    checks = {"stream": lambda v: v in (None, False), "n": lambda v: v in (None, 1),
              "best_of": lambda v: v in (None, 1), "echo": lambda v: v in (None, False),
              "logprobs": lambda v: v is None}
    for name, ok in checks.items():
        if name in data and not ok(data[name]):
            raise RequestError(400, f"'{name}' = {json.dumps(data[name])} is not supported by this server "
                               "(omit it).", name)


def _stop(data: dict[str, Any]) -> list[str]:
    value = data.get("stop")
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise RequestError(400, f"'stop' must be a string or a list of strings, got {_describe(value)}.", "stop")
    if len(stops) > MAX_STOP_SEQUENCES or any(not s for s in stops):
        raise RequestError(400, f"'stop' must hold 1 to {MAX_STOP_SEQUENCES} non-empty strings, got {stops!r}.", "stop")
    return stops


def _model(data: dict[str, Any]) -> str | None:
    value = data.get("model")
    if value is not None and not isinstance(value, str):
        raise RequestError(400, f"'model' must be a string (an id from GET /v1/models), got {_describe(value)}.",
                           "model")
    return value or None


def apply_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string; (text, True) when one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def completion_response(model: str, choices: list[dict[str, Any]], usage: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()),
            "model": model, "choices": choices, "usage": usage}


def models_response(model_ids: list[str]) -> dict[str, Any]:
    created = int(time.time())
    return {"object": "list", "data": [{"id": m, "object": "model", "created": created, "owned_by": "tokenworks"}
                                       for m in model_ids]}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__)


def _describe(value: Any) -> str:
    shown = json.dumps(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{_json_type(value)} ({shown})"
