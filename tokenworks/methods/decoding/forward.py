"""The target-model pieces every autoregressive decoder is built from (gpt-fast style).

`prefill`, `decode_one_token` and `tree_forward` call a Hugging Face causal LM directly with a
`DynamicCache`: no `generate`, no logits processors, no stopping-criteria objects, so the per-step Python
cost is one model call plus an argmax. Plain greedy is a loop over `decode_one_token`; every accelerated
decoder reuses the same `prefill` and verifies with `tree_forward` (a chain is a tree with one path).

Custom 4-D masks: transformers 5.19 returns a 4-D `attention_mask` as-is (`masking_utils`: "If the mask is
already 4D, simply return as-is") and hands it to the attention function. `eager` *adds* it to the scores
and `sdpa` accepts either a boolean or an additive float mask, so an additive float mask (0 where a query
may attend, the dtype's minimum elsewhere) is the one form that is exact on both; on CPU sdpa it measured
as fast as a boolean mask. Flash-attention backends take no arbitrary 4-D mask and are refused.
"""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import DynamicCache

from tokenworks.errors import UserError

TREE_MASK_BACKENDS = ("eager", "sdpa")


def new_cache(model) -> DynamicCache:
    return DynamicCache(config=model.config)


def as_prompt_tensor(prompt_ids: Sequence[int] | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Any 1-D id sequence (or [1, T] tensor) -> [1, T] long tensor on `device`."""
    ids = torch.as_tensor(prompt_ids, dtype=torch.long, device=device).reshape(1, -1)
    if ids.shape[1] == 0:
        raise UserError("prompt_ids is empty; a decoder needs at least one prompt token.")
    return ids


def eos_token_ids(model, tokenizer=None) -> frozenset[int]:
    """Every id that ends a generation: the tokenizer's EOS and the model's generation-config EOS."""
    ids: set[int] = set()
    for value in (getattr(tokenizer, "eos_token_id", None), getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    return frozenset(ids)


def check_tree_mask_support(model) -> None:
    impl = getattr(model.config, "_attn_implementation", None) or "eager"
    if impl not in TREE_MASK_BACKENDS:
        raise UserError(
            f"model attn_implementation {impl!r} cannot take a custom 4-D tree mask; allowed: "
            f"{', '.join(TREE_MASK_BACKENDS)} (load the model with attn_implementation='sdpa')."
        )


@torch.inference_mode()
def prefill(model, ids: torch.Tensor, cache: DynamicCache, all_logits: bool = False) -> torch.Tensor:
    """Feed ids [1, T] into an empty cache; logits [1, T or 1, V] (all positions only when asked)."""
    out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=0 if all_logits else 1)
    return out.logits


@torch.inference_mode()
def decode_one_token(model, token: torch.Tensor, cache: DynamicCache) -> torch.Tensor:
    """token [1, 1] (fed now) -> greedy next token [1, 1]."""
    logits = model(input_ids=token, past_key_values=cache, use_cache=True).logits  # [1, 1, V]
    return logits[:, -1].argmax(dim=-1, keepdim=True)


@torch.inference_mode()
def tree_forward(
    model,
    tokens: torch.Tensor,        # [1, N] tree tokens, root first, breadth-first order
    cache: DynamicCache,         # holds exactly the committed prefix
    attention_bias: torch.Tensor,  # [1, 1, N, prefix + N] additive mask (see tree.tree_attention_bias)
    position_ids: torch.Tensor,  # [1, N] prefix_len + depth
) -> torch.Tensor:
    """One target forward over a whole draft tree; logits [N, V]. The tree's KV is appended to the cache
    and must be compacted (tree.compact_kv_cache) to the accepted path afterwards."""
    out = model(
        input_ids=tokens, attention_mask=attention_bias, position_ids=position_ids, past_key_values=cache,
        use_cache=True,
    )
    return out.logits[0]
