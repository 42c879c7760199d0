"""Random pruning: the control arm. Drops r uniformly random image tokens per layer (CLS always kept).

Draws come from a generator seeded at the start of every forward, so the same batch gives the same output.
"""

from __future__ import annotations

from typing import Sequence

import torch

from tokenworks.methods.vision.reducers import TokenReducer, TokenState, gather_tokens


class RandomPruning(TokenReducer):
    name = "random"

    def __init__(self, removed_per_layer: float | Sequence[int] = 0, seed: int = 0):
        super().__init__(removed_per_layer, proportional_attention=False)
        self.seed = seed

    def begin(self, x0: torch.Tensor, cfg) -> TokenState:
        state = super().begin(x0, cfg)
        state.generator = torch.Generator(device=x0.device).manual_seed(self.seed)
        return state

    def reduce(self, layer: int, x: torch.Tensor, probs: torch.Tensor, keys: torch.Tensor, state: TokenState,
               r: int) -> torch.Tensor:
        B, T, _ = x.shape
        noise = torch.rand(B, T - 1, generator=state.generator, device=x.device)
        keep = noise.argsort(dim=-1)[:, : T - 1 - r].sort(dim=-1).values + 1   # spatial order preserved
        return torch.cat([x[:, :1], gather_tokens(x, keep)], dim=1)
