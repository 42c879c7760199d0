"""A tiny causal transformer for the Markov-source experiments (the paper's models: 2-4 layers, width 16-64)."""

from __future__ import annotations

import torch
from torch import nn


class TinyCausalLM(nn.Module):
    def __init__(self, vocab_size: int, max_len: int, n_layer: int = 2, n_head: int = 2, n_embd: int = 32) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab_size, n_embd)
        self.pos = nn.Embedding(max_len, n_embd)
        layer = nn.TransformerEncoderLayer(n_embd, n_head, dim_feedforward=4 * n_embd, dropout=0.0,
                                           batch_first=True, norm_first=True, activation="gelu")
        self.blocks = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, L) -> next-token logits (B, L, V)."""
        length = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(length, device=ids.device))[None]
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=ids.device)
        return self.head(self.norm(self.blocks(x, mask=mask, is_causal=True)))
