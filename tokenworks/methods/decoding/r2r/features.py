"""What the router reads at each small-model step: its last hidden state, its top-1 token and its top-K
logits (R2R's `HiddenStatesTokenLMHeadLogitsClassifier` inputs), and the one small-model forward that
yields them."""

from __future__ import annotations

import torch


def token_features(logits: torch.Tensor, topk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """logits [N, V] -> (top-1 token [N], top-K logits [N, K] descending)."""
    top = logits.topk(min(topk, logits.shape[-1]), dim=-1).values
    return logits.argmax(-1), top


@torch.inference_mode()
def small_forward(model, ids: torch.Tensor, cache) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed ids [1, N] into the small model's cache; (last hidden state [H] (normed), logits [V]) at the end."""
    hidden = model.model(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state[0, -1]
    return hidden, model.lm_head(hidden)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of softmax(logits) over the last axis, clamped at 0 against rounding."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return (-(logp.exp() * logp).sum(-1)).clamp_min(0.0)
