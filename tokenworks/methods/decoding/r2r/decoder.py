"""Routed decoding (R2R inference, `dynamic_sglang_selector_simple.py` at batch 1): the small model writes
every token unless the router sends that token to the large model.

Per step: the small model has read every committed token and gives (hidden state, logits, top-1 t). If the
router's score >= threshold, the large model first catches up on every token committed since its last call
(one prefill of the small model's tokens into its own KV cache), then writes this one token, replacing t.
Both models then read the committed token. With the router forced on every token the output is the large
model's greedy output; forced off, the small model's.

Statistics (DecodeStats): target = the large model; `draft_forwards` counts small-model forwards;
`method_stats`: large_tokens, large_token_share, large_forwards, small_forwards, activated_params_per_token
(small + router params + large params x large share, R2R's "average activated parameters").
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.methods.decoding.forward import as_prompt_tensor, eos_token_ids, new_cache
from tokenworks.methods.decoding.greedy import check_max_new_tokens
from tokenworks.methods.decoding.r2r.features import small_forward


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


class RoutedDecoder:
    name = "r2r"

    def __init__(self, small, large, router, threshold: float, tokenizer=None, name: str = "r2r"):
        self.small, self.large, self.router = small, large, router
        self.threshold = threshold
        self.cut = router.threshold_score(threshold)
        self.eos = eos_token_ids(large, tokenizer) | eos_token_ids(small, tokenizer)
        self.name = name
        # the router runs on every token, so its parameters count as activated with the small model's
        router_params = parameter_count(router) if isinstance(router, torch.nn.Module) else 0
        self.small_params, self.large_params = parameter_count(small) + router_params, parameter_count(large)

    @torch.inference_mode()
    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation:
        check_max_new_tokens(max_new_tokens)
        start = time.perf_counter()
        prompt = as_prompt_tensor(prompt_ids, self.small.device)  # [1, T]
        if max_new_tokens == 0:
            return Generation([], DecodeStats(wall_s=time.perf_counter() - start))
        committed = prompt[0].tolist()
        small_cache, large_cache = new_cache(self.small), new_cache(self.large)
        large_seen = large_forwards = large_fed = small_forwards = 0
        large_tokens = 0
        hidden, logits = small_forward(self.small, prompt, small_cache)  # [H], [V]
        small_forwards += 1
        out: list[int] = []
        while True:
            token = int(logits.argmax())
            if self.router.route_score(hidden, token, logits) >= self.cut:
                pending = torch.tensor([committed[large_seen:]], device=self.large.device)  # [1, P] catch-up
                token = int(self.large(input_ids=pending, past_key_values=large_cache, use_cache=True
                                       ).logits[0, -1].argmax())
                large_seen, large_fed = len(committed), large_fed + pending.shape[1]
                large_forwards, large_tokens = large_forwards + 1, large_tokens + 1
            out.append(token)
            committed.append(token)
            if len(out) >= max_new_tokens or token in self.eos:
                break
            hidden, logits = small_forward(self.small, torch.tensor([[token]], device=self.small.device), small_cache)
            small_forwards += 1
        n = len(out)
        share = large_tokens / n
        stats = DecodeStats(
            new_tokens=n, target_forwards=large_forwards, draft_forwards=small_forwards, tokens_processed=large_fed,
            layers_executed=self.large.config.num_hidden_layers * large_fed, wall_s=time.perf_counter() - start,
            method_stats={
                "large_tokens": float(large_tokens), "large_token_share": share,
                "large_forwards": float(large_forwards), "small_forwards": float(small_forwards),
                "activated_params_per_token": self.small_params + share * self.large_params,
            },
        )
        return Generation(out, stats)
