"""Plain greedy decoding with a KV cache: the reference every lossless decoder must reproduce token for token,
and the speed baseline (one `prefill`, then one `decode_one_token` per new token)."""

from __future__ import annotations

import time
from typing import Sequence

import torch

from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.methods.decoding.forward import as_prompt_tensor, decode_one_token, eos_token_ids, new_cache, prefill


def truncate_generation(ids: list[int], eos: frozenset[int], max_new_tokens: int) -> list[int]:
    """Cut after the first EOS (kept) and at max_new_tokens: the one token-counting rule of every decoder."""
    for i, t in enumerate(ids[:max_new_tokens]):
        if t in eos:
            return ids[: i + 1]
    return ids[:max_new_tokens]


def check_max_new_tokens(max_new_tokens: int) -> None:
    from tokenworks.errors import UserError

    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise UserError(f"max_new_tokens = {max_new_tokens!r} is invalid; allowed: an integer >= 0.")


class GreedyDecoder:
    name = "greedy"

    def __init__(self, model, tokenizer=None):
        self.model = model
        self.eos = eos_token_ids(model, tokenizer)
        self.num_layers = model.config.num_hidden_layers

    @torch.inference_mode()
    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation:
        check_max_new_tokens(max_new_tokens)
        start = time.perf_counter()
        ids = as_prompt_tensor(prompt_ids, self.model.device)  # [1, T]
        if max_new_tokens == 0:
            return Generation([], DecodeStats(wall_s=time.perf_counter() - start))
        cache = new_cache(self.model)
        token = prefill(self.model, ids, cache)[:, -1].argmax(dim=-1, keepdim=True)  # [1, 1]
        out = [int(token)]
        while len(out) < max_new_tokens and out[-1] not in self.eos:
            token = decode_one_token(self.model, token, cache)
            out.append(int(token))
        n = len(out)
        stats = DecodeStats(
            new_tokens=n,
            target_forwards=n,
            tokens_processed=ids.shape[1] + n - 1,
            accepted_per_step=[0] * (n - 1),
            layers_executed=self.num_layers * (ids.shape[1] + n - 1),
            wall_s=time.perf_counter() - start,
        )
        return Generation(out, stats)
