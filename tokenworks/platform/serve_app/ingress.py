"""The ingress deployment: OpenAI-style HTTP in front of the model deployments, composed through
DeploymentHandles (`POST /v1/completions`, `GET /v1/models`).

It parses and checks every request itself (protocol.py), so a bad request is a 4xx JSON error naming the
field before any model is touched; picks the model deployment by the request's `model` (an id from
/v1/models; default the first); and awaits that deployment's handle. When the deployment's queue at this
caller is full, Serve raises BackPressureError and the client gets 503 with Retry-After; an unexpected failure
in a model replica is a 500 JSON error for that request only. Either way the ingress keeps serving.

Async on purpose: the ingress only waits on handles, so one replica holds many requests in flight while the
model replicas decode. No `from __future__ import annotations`: FastAPI must see `Request` as a class.
Everything the class uses is defined above it: `@serve.deployment` captures the class when it is decorated.
"""

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.exceptions import BackPressureError, RayServeException
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from tokenworks.platform.serve_app.protocol import (
    Limits, RequestError, completion_response, error_body, models_response, parse_completion_request,
)

RETRY_AFTER_S = 1
api = FastAPI(title="tokenworks", description="OpenAI-style completions served by tokenworks decoders.")


def error_response(status: int, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param), status_code=status, headers=headers)


def _retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Unknown paths (404) and wrong verbs (405) answer in the same JSON error shape as everything else."""
    message = f"{request.method} {request.url.path}: {exc.detail}; endpoints: POST /v1/completions, GET /v1/models."
    return error_response(exc.status_code, message)


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(400, str(exc))


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise RequestError(413, f"request body has {length} bytes; the limit is {limit}.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@serve.deployment
@serve.ingress(api)
class Ingress:
    def __init__(self, models: list[DeploymentHandle], limits: Limits) -> None:
        """models: one handle per model deployment (each serves the model ids its `model_ids()` lists)."""
        self.handles = list(models)
        self.limits = limits
        self.routes: dict[str, DeploymentHandle] | None = None
        self.routes_lock = asyncio.Lock()

    async def route_table(self) -> dict[str, DeploymentHandle]:
        """model id -> the handle of the deployment that holds it; asked once, on first use, because model ids
        come from the factories inside the model replicas."""
        if self.routes is None:
            async with self.routes_lock:
                if self.routes is None:
                    routes: dict[str, DeploymentHandle] = {}
                    for handle in self.handles:
                        for model_id in await handle.model_ids.remote():
                            routes[model_id] = handle
                    self.routes = routes
        return self.routes

    @api.get("/v1/models")
    async def models(self) -> JSONResponse:
        try:
            return JSONResponse(models_response(list(await self.route_table())))
        except RayServeException as exc:
            return error_response(503, f"model deployments unavailable: {exc}", headers=_retry_after())

    @api.post("/v1/completions")
    async def completions(self, request: Request) -> JSONResponse:
        try:
            req = parse_completion_request(await read_body(request, self.limits.max_body_bytes), self.limits)
            routes = await self.route_table()
            model = req.model or next(iter(routes))
            if model not in routes:
                raise RequestError(404, f"model {model!r} is not served here; available: {', '.join(routes)}.",
                                   "model")
            answer: dict[str, Any] = await routes[model].generate.remote(model, req.prompts, req.max_tokens, req.stop)
        except RequestError as exc:
            return error_response(exc.status, exc.message, exc.param)
        except BackPressureError as exc:
            return error_response(503, f"server overloaded, retry later: {exc}", headers=_retry_after())
        except RayServeException as exc:  # a deployment is down or restarting
            return error_response(503, f"model deployment unavailable, retry later: {exc}", headers=_retry_after())
        except Exception as exc:  # noqa: BLE001 - one failed decode must not take the endpoint down
            return error_response(500, f"internal error while decoding: {type(exc).__name__}: {exc}")
        if "error" in answer:
            return JSONResponse(answer, status_code=int(answer["error"]["code"]))
        return JSONResponse(completion_response(model, answer["choices"], answer["usage"]))
