"""The model deployment: one replica holds the decoders one factory returns and answers `generate` for them.

A replica decodes one request at a time (an asyncio lock, FIFO): our decoders keep per-call state (KV caches,
Token Recycling's adjacency matrix) and are not thread-safe. Throughput comes from replicas, which Serve's
router spreads requests over. `max_ongoing_requests` (default 64) is therefore the queue *inside* a replica:
requests beyond it wait in Serve's router, which polls full replicas with backoff up to 0.5 s, so a replica
idles between requests; with 1 (one request per replica) 16 clients got 6.5 requests/s where a local queue
of 16 gives 32 (code-lm-micro, notes/issue-4-serving.md). With a local queue the next request is already
waiting when the lock frees. The decode runs in a worker thread so the replica's event loop stays free to
accept requests and answer health checks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ray import serve

from tokenworks.platform.serve_app.protocol import RequestError, error_body


@serve.deployment
class ModelServer:
    def __init__(self, factory: str, options: dict[str, Any], num_threads: int = 1) -> None:
        from tokenworks.platform.serve_app.factories import import_factory
        from tokenworks.runtime import configure_threads

        configure_threads(num_threads)
        self.models = dict(import_factory(factory)(dict(options)))
        if not self.models:
            raise ValueError(f"model factory {factory} returned no models for options {options!r}")
        self.lock = asyncio.Lock()

    def model_ids(self) -> list[str]:
        return list(self.models)

    async def generate(self, model: str, prompts: list[str], max_tokens: int, stop: list[str]) -> dict[str, Any]:
        """{"choices": [...], "usage": {...}} or {"error": ...} (a bad request is an answer, not a crash)."""
        from tokenworks.platform.serve_app.completion import complete, context_length_of, decoder_usage

        if model not in self.models:
            return error_body(404, f"model {model!r} is not held by this deployment; it holds {list(self.models)}.",
                              "model")
        decoder, tokenizer = self.models[model]

        def generate_ids(prompt_ids, max_new_tokens):
            gen = decoder.decode(list(prompt_ids), max_new_tokens)
            return [int(t) for t in gen.ids], decoder_usage(gen.stats)

        try:
            async with self.lock:
                result = await asyncio.to_thread(complete, generate_ids, tokenizer, prompts, max_tokens, stop,
                                                 context_length_of(decoder))
        except RequestError as exc:
            return error_body(exc.status, exc.message, exc.param)
        return {"choices": result.choices, "usage": result.usage}
