"""ToMe (Bolya et al., ICLR 2023): bipartite soft matching, size-weighted merge, proportional attention.

Re-implemented from the paper (the official code is CC-BY-NC). In each block, after attention:
  1. metric = this block's keys averaged over heads, L2-normalised, [B, T, d_h];
  2. alternate split: A = tokens 0, 2, 4, ... (CLS is A[0] and is never merged), B = tokens 1, 3, 5, ...;
  3. every a in A finds its most similar b (cosine); the r a-tokens with the highest similarity merge into
     their partners, the other a-tokens stay;
  4. merge = size-weighted mean, sizes add: x_b <- (s_b x_b + sum s_a x_a) / (s_b + sum s_a);
  5. output = [unmerged A in their original order (so CLS stays first), all of B];
  6. proportional attention: logits + log s_key in the next blocks.
At most half of the non-CLS tokens can merge in one layer (the bipartite split).
"""

from __future__ import annotations

from typing import Sequence

import torch

from tokenworks.methods.vision import macs
from tokenworks.methods.vision.reducers import TokenReducer, TokenState, gather_tokens


def bipartite_soft_matching(metric: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """metric [B, T, D] (CLS at 0, protected) -> (unmerged A indices [B, |A|-r] sorted, merged A indices [B, r],
    their B partners [B, r]); A/B indices are positions within the even/odd halves."""
    metric = metric / metric.norm(dim=-1, keepdim=True)
    a, b = metric[:, ::2], metric[:, 1::2]
    scores = a @ b.transpose(-1, -2)                                   # [B, |A|, |B|]
    macs.add("reducer.tome_scores", scores.numel() * metric.shape[-1])
    scores[:, 0, :] = -torch.inf                                       # CLS never merges
    best, partner = scores.max(dim=-1)                                 # [B, |A|]
    order = best.argsort(dim=-1, descending=True)
    merged, unmerged = order[:, :r], order[:, r:].sort(dim=-1).values
    return unmerged, merged, partner.gather(1, merged)


def merge_weighted(x: torch.Tensor, size: torch.Tensor, unmerged: torch.Tensor, merged: torch.Tensor,
                   partner: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, T, C], size [B, T] -> size-weighted merge ([B, T-r, C], [B, T-r])."""
    weighted = torch.cat([x * size[..., None], size[..., None]], dim=-1)    # carry mass as a last channel
    src, dst = weighted[:, ::2], weighted[:, 1::2]
    kept = gather_tokens(src, unmerged)
    dst = dst.scatter_reduce(1, partner[..., None].expand(-1, -1, dst.shape[-1]), gather_tokens(src, merged),
                             reduce="sum")
    out = torch.cat([kept, dst], dim=1)
    new_size = out[..., -1]
    return out[..., :-1] / new_size[..., None], new_size


class ToMe(TokenReducer):
    name = "tome"

    def __init__(self, removed_per_layer: float | Sequence[int] = 0, proportional_attention: bool = True):
        super().__init__(removed_per_layer, proportional_attention)

    def max_removal(self, tokens: int) -> int:
        return (tokens - 1) // 2

    def reduce(self, layer: int, x: torch.Tensor, probs: torch.Tensor, keys: torch.Tensor, state: TokenState,
               r: int) -> torch.Tensor:
        unmerged, merged, partner = bipartite_soft_matching(keys.mean(dim=1), r)
        x, state.size = merge_weighted(x, state.sizes(x), unmerged, merged, partner)
        return x
