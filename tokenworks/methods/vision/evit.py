"""EViT-style top-k token pruning with fusion (Liang et al., ICLR 2022), and plain top-k CLS pruning.

After attention, image tokens are ranked by the CLS token's attention to them (mean over heads); the least
attended are dropped and, with `fuse`, replaced by ONE token: their sum weighted by that CLS attention (not
renormalised, as in EViT's code), appended after the kept tokens. To sit on the same token schedule as the
other arms, "remove r" drops r + 1 tokens and adds the fused one (net r), so MACs match exactly.
Kept tokens are in descending attention order. No proportional attention (EViT has none).
"""

from __future__ import annotations

from typing import Sequence

import torch

from tokenworks.methods.vision import macs
from tokenworks.methods.vision.reducers import TokenReducer, TokenState, gather_tokens


class EViT(TokenReducer):
    name = "evit"

    def __init__(self, removed_per_layer: float | Sequence[int] = 0, fuse: bool = True):
        super().__init__(removed_per_layer, proportional_attention=False)
        self.fuse = fuse

    def max_removal(self, tokens: int) -> int:
        return max(0, tokens - 2 - int(self.fuse))

    def reduce(self, layer: int, x: torch.Tensor, probs: torch.Tensor, keys: torch.Tensor, state: TokenState,
               r: int) -> torch.Tensor:
        cls_attention = probs[:, :, 0, 1:].mean(dim=1)                      # [B, T-1]
        dropped = r + int(self.fuse)
        order = cls_attention.argsort(dim=-1, descending=True)
        keep, drop = order[:, :-dropped] + 1, order[:, -dropped:] + 1
        out = [x[:, :1], gather_tokens(x, keep)]
        if self.fuse:
            weights = cls_attention.gather(1, drop - 1)                      # [B, r+1]
            out.append((gather_tokens(x, drop) * weights[..., None]).sum(dim=1, keepdim=True))
            macs.add("reducer.evit_fuse", x.shape[0] * dropped * x.shape[-1])
        return torch.cat(out, dim=1)
