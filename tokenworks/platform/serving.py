"""A Ray Serve application that puts any registered Decoder behind OpenAI-style `/v1/completions` and
`/v1/models`. Small on purpose: a later issue adds streaming, vLLM for plain targets and multi-model apps.

Run it:
    serve run tokenworks.platform.serving:build_app method=token-recycling model=code-lm-micro
or from Python, `serve_decoder("greedy", "code-lm-micro", port=8000)` (HTTP on 127.0.0.1 only). `usage` in
each response carries the method's own statistics next to the OpenAI token counts.

No `from __future__ import annotations` here: FastAPI must see the request model as a class, not a string,
or it takes the body for a query parameter.
"""


import time
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from ray import serve

api = FastAPI(title="tokenworks")


class CompletionRequest(BaseModel):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0)


# one request at a time per replica: stateful decoders (Token Recycling's adjacency matrix) are not
# thread-safe, and Ray's router spreads the queue over replicas
@serve.deployment(max_ongoing_requests=1)
@serve.ingress(api)
class CompletionServer:
    def __init__(self, method: str, model: str, options: dict[str, Any] | None = None) -> None:
        from tokenworks.methods.decoding.registry import make_decoder
        from tokenworks.runtime import configure_threads
        from tokenworks.zoo import load_lm

        configure_threads(1)
        lm, self.tokenizer = load_lm(model)
        self.decoder = make_decoder(method, lm, self.tokenizer, **(options or {}))
        self.model_id = f"{model}:{method}"

    @staticmethod
    def method_usage(stats: Any) -> dict[str, Any]:
        """The method's own numbers for one completion (vLLM's definitions, see methods/decoding/base.py).
        A method, not a module function: Serve ships this class by value and module globals stay behind."""
        return {"mean_acceptance_length": stats.mean_acceptance_length,
                "accepted_tokens": sum(stats.accepted_per_step),
                "target_forwards": stats.target_forwards,
                "target_forwards_per_token": stats.target_forwards_per_token,
                "draft_forwards": stats.draft_forwards,
                **stats.method_stats}

    @api.get("/v1/models")
    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model_id, "object": "model", "owned_by": "tokenworks"}]}

    @api.post("/v1/completions")
    def completions(self, req: CompletionRequest) -> dict[str, Any]:
        if req.model not in (None, self.model_id):
            raise HTTPException(404, f"model {req.model!r} is not served here; available: {self.model_id!r}")
        if req.temperature != 0.0:
            raise HTTPException(400, f"temperature {req.temperature} is not supported: decoders here are greedy (0)")
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        choices, usage = [], {"prompt_tokens": 0, "completion_tokens": 0}
        method_stats = []
        for i, prompt in enumerate(prompts):
            ids = list(self.tokenizer(prompt)["input_ids"])
            gen = self.decoder.decode(ids, req.max_tokens)
            text = self.tokenizer.decode(gen.ids, skip_special_tokens=True)
            finish = "length" if len(gen.ids) >= req.max_tokens else "stop"
            choices.append({"index": i, "text": text, "finish_reason": finish, "logprobs": None})
            usage["prompt_tokens"] += len(ids)
            usage["completion_tokens"] += len(gen.ids)
            method_stats.append(self.method_usage(gen.stats))
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_id, "choices": choices, "usage": {**usage, "tokenworks": method_stats}}


def build_app(args: dict[str, str]) -> serve.Application:
    """Application builder for `serve run` and RayService: args `method` (default greedy), `model`
    (default code-lm-micro). One GPU per replica where the cluster has one."""
    from tokenworks.platform.actors import actor_options

    opts = actor_options(1)
    return CompletionServer.options(ray_actor_options=opts).bind(args.get("method", "greedy"),
                                                                 args.get("model", "code-lm-micro"))


def serve_decoder(method: str = "greedy", model: str = "code-lm-micro", port: int = 8000) -> str:
    """Start Serve on 127.0.0.1:`port` with the decoder app; returns the base URL."""
    from tokenworks.platform.ray_session import ensure_ray

    ensure_ray()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"method": method, "model": model}), name="tokenworks", route_prefix="/")
    return f"http://127.0.0.1:{port}"
