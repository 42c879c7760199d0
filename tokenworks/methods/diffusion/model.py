"""A small pre-norm transformer that is a masked-diffusion LM (bidirectional) or an AR LM (causal).

One class for both, so the `ar` arm of a reproduction is exactly the same architecture and size as the
diffusion model, only trained with a causal mask and next-token loss. Positions are learned absolute
embeddings: a cached prefix keeps its positions, so KV reuse needs no RoPE bookkeeping.

Attention can read cached keys/values beside the fresh ones: `kv_before` (positions before the fed ids, a
prefix cache or an AR cache) and `kv_after` (positions after them, the suffix of Fast-dLLM's dual cache).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

KV = tuple[torch.Tensor, torch.Tensor]  # ([B, H, S, D], [B, H, S, D]) for one layer


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    ffn: int = 512
    context: int = 48
    causal: bool = False   # False: masked-diffusion LM; True: autoregressive LM

    def as_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(cfg.hidden)
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden, bias=False)
        self.proj = nn.Linear(cfg.hidden, cfg.hidden, bias=False)
        self.norm2 = nn.LayerNorm(cfg.hidden)
        self.up = nn.Linear(cfg.hidden, cfg.ffn, bias=False)
        self.down = nn.Linear(cfg.ffn, cfg.hidden, bias=False)

    def forward(self, h, mask, kv_before: KV | None, kv_after: KV | None) -> tuple[torch.Tensor, KV]:
        b, t, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        fresh = (k, v)
        keys = [x for x in (kv_before and kv_before[0], k, kv_after and kv_after[0]) if x is not None]
        vals = [x for x in (kv_before and kv_before[1], v, kv_after and kv_after[1]) if x is not None]
        att = F.scaled_dot_product_attention(q, torch.cat(keys, 2), torch.cat(vals, 2), attn_mask=mask)
        h = h + self.proj(att.transpose(1, 2).reshape(b, t, d))
        h = h + self.down(F.gelu(self.up(self.norm2(h))))
        return h, fresh


class MaskedTransformer(nn.Module):
    """logits, per-layer fresh KV = model(ids [B, T], start, kv_before, kv_after, key_padding)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.pos = nn.Embedding(cfg.context, cfg.hidden)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.hidden)
        self.apply(_init)

    def forward(
        self,
        ids: torch.Tensor,                          # [B, T] token ids at positions start .. start+T-1
        start: int = 0,
        kv_before: list[KV] | None = None,          # per layer, positions 0 .. start-1
        kv_after: list[KV] | None = None,           # per layer, positions start+T .. (dual cache suffix)
        key_padding: torch.Tensor | None = None,    # [B, T] True = padding (training batches only)
    ) -> tuple[torch.Tensor, list[KV]]:
        t = ids.shape[1]
        before = kv_before[0][0].shape[2] if kv_before else 0
        after = kv_after[0][0].shape[2] if kv_after else 0
        if start + t + after > self.cfg.context:
            raise ValueError(f"sequence of {start + t + after} positions exceeds context {self.cfg.context}")
        positions = torch.arange(start, start + t, device=ids.device)
        h = self.embed(ids) + self.pos(positions)
        mask = self._mask(t, before, after, ids.device, key_padding)
        fresh = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, mask, kv_before[i] if kv_before else None, kv_after[i] if kv_after else None)
            fresh.append(kv)
        return F.linear(self.norm(h), self.embed.weight), fresh   # tied output embedding

    def _mask(self, t: int, before: int, after: int, device, key_padding) -> torch.Tensor | None:
        """[B or 1, 1, T, before+T+after] bool (True = may attend), or None for full attention."""
        mask = None
        if self.cfg.causal:
            q = torch.arange(before, before + t, device=device)[:, None]
            mask = (torch.arange(before + t + after, device=device)[None, :] <= q)[None, None]
        if key_padding is not None:
            keep = ~key_padding[:, None, None, :]
            mask = keep if mask is None else mask & keep
        return mask


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)


def slice_kv(kv: list[KV], lo: int, hi: int) -> list[KV]:
    """Positions lo..hi-1 of every layer's cached keys/values."""
    return [(k[:, :, lo:hi], v[:, :, lo:hi]) for k, v in kv]


def concat_kv(a: list[KV] | None, b: list[KV]) -> list[KV]:
    if not a:
        return b
    return [(torch.cat([ka, kb], 2), torch.cat([va, vb], 2)) for (ka, va), (kb, vb) in zip(a, b)]
