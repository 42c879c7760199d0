"""One forward of a Hugging Face Llama-style causal LM that runs, per layer, only a prefix of the positions.

Positions that skip a layer carry their hidden state through unchanged (the residual stream goes straight
to the next layer they run). With a KV-safe plan (schedule.py) every layer's running positions are a prefix,
so a layer's queries only ever attend to keys of positions that ran the same layer: the result is exact,
whether the call is a teacher-forced training window (prefix ends vary by layer) or one decode step with a
KV cache (each layer runs all of the step's positions or none).

Modifications against `LlamaModel.forward`: the layer loop takes `ends` (positions run per layer) instead of
running every layer; the attention mask is an additive float bias built here (exact on eager and sdpa; see
methods/decoding/forward.py); no `create_causal_mask`, no output capturing, no cache-length inference (layers
skip, so layer 0's cache length is not the sequence length: callers pass positions explicitly).
"""

from __future__ import annotations

from typing import Sequence

import torch

from tokenworks.errors import UserError

SUPPORTED_BACKENDS = ("eager", "sdpa")


def decoder_parts(model):
    """(embed, layers, rotary, norm, head) of a Llama-style causal LM, or a UserError naming what is missing."""
    body = getattr(model, "model", None)
    parts = [getattr(body, name, None) for name in ("embed_tokens", "layers", "rotary_emb", "norm")]
    head = getattr(model, "lm_head", None)
    if any(p is None for p in parts) or head is None:
        raise UserError(f"model {type(model).__name__} is not a Llama-style causal LM (model.embed_tokens, "
                        "model.layers, model.rotary_emb, model.norm, lm_head); SkipDecode needs one.")
    impl = getattr(model.config, "_attn_implementation", None) or "eager"
    if impl not in SUPPORTED_BACKENDS:
        raise UserError(f"model attn_implementation {impl!r} is not supported by the layer-skipping forward; "
                        f"allowed: {', '.join(SUPPORTED_BACKENDS)}.")
    return (*parts, head)


def attention_bias(
    key_valid: torch.Tensor | None,  # [B, K] bool: keys that exist (False on left padding); None = all
    queries: int,                    # T: the last T keys are the queries' own positions
    keys: int,                       # K
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Additive mask [B or 1, 1, T, K]: 0 where query i may attend key j (causal and not padding), dtype-min
    elsewhere."""
    past = keys - queries
    q = torch.arange(queries, device=device)[:, None] + past
    allowed = torch.arange(keys, device=device)[None, :] <= q  # [T, K]
    allowed = allowed[None, None]
    if key_valid is not None:
        allowed = allowed & key_valid[:, None, None, :]
    bias = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return bias.masked_fill(~allowed, torch.finfo(dtype).min)


def layered_forward(
    model,
    input_ids: torch.Tensor,      # [B, T]
    position_ids: torch.Tensor,   # [B, T] rotary positions
    ends: Sequence[int],          # per layer: run it for positions [0, end) of this call (0 = skip)
    bias: torch.Tensor | None,    # [B or 1, 1, T, past + T] additive mask; None only when T == 1 (no padding)
    cache=None,                   # a transformers Cache; a layer that runs appends its T new KV entries
) -> torch.Tensor:
    """Final-norm hidden states [B, T, D]."""
    embed, layers, rotary, norm, _ = decoder_parts(model)
    hidden = embed(input_ids)
    cos, sin = rotary(hidden, position_ids=position_ids)
    steps = input_ids.shape[1]
    for layer, end in zip(layers, ends):
        if end <= 0:
            continue
        if cache is not None and end != steps:
            raise ValueError(f"with a KV cache a layer runs all {steps} positions of the call or none (got {end})")
        mask = None if bias is None else bias[:, :, :end, : bias.shape[-1] - steps + end]
        out = layer(hidden[:, :end], attention_mask=mask, position_ids=position_ids[:, :end],
                    past_key_values=cache, use_cache=cache is not None,
                    position_embeddings=(cos[:, :end], sin[:, :end]))
        hidden = out if end == steps else torch.cat([out, hidden[:, end:]], dim=1)
    return norm(hidden)
