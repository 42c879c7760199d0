"""Token Recycling as pure tensor functions: draft-tree fill from the adjacency matrix, its update, and the
per-step tensors a tree needs (pre-built once so that a decode step runs no per-node Python).

The adjacency matrix M [V, k] holds, for every token v, the top-k next tokens the target predicted the last
time it processed v. Drafting reads it breadth-first (tok[node] = M[tok[parent], rank]); every target forward
writes back the top-k of every position it computed ("recycling" candidates that were not accepted).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tokenworks.methods.decoding.tree import DraftTree, build_tree


@dataclass(frozen=True)
class TreeIndex:
    """Index tensors of one draft tree on one device, built once per decoder."""

    tree: DraftTree
    level_slices: tuple[tuple[int, int], ...]
    level_source: tuple[torch.Tensor, ...]  # per level [n_l]: parent node index
    level_rank: tuple[torch.Tensor, ...]    # per level [n_l]: candidate rank under the parent
    child: torch.Tensor    # [P, D] node index of each path's i-th draft, -1 = padding
    parent: torch.Tensor   # [P, D] node index of its parent
    depths: torch.Tensor   # [N+1] position offsets, root 0
    bias_block: torch.Tensor  # [N+1, N+1] additive attention mask inside the tree


def tree_index(template, device: torch.device, dtype: torch.dtype) -> TreeIndex:
    tree = build_tree(template).to(device)
    bias = torch.zeros(tree.ancestor_mask.shape, dtype=dtype, device=device)
    bias.masked_fill_(~tree.ancestor_mask, torch.finfo(dtype).min)
    return TreeIndex(
        tree=tree,
        level_slices=tree.levels,
        level_source=tuple(tree.parents[a:b].clone() for a, b in tree.levels),
        level_rank=tuple(tree.ranks[a:b].clone() for a, b in tree.levels),
        child=tree.paths[:, 1:].contiguous(),
        parent=tree.paths[:, :-1].contiguous(),
        depths=tree.depths,
        bias_block=bias,
    )


def fill_tree(adjacency: torch.Tensor, root: torch.Tensor, index: TreeIndex) -> torch.Tensor:
    """adjacency [V, k], root [1] -> tree tokens [N+1] (root first), one gather per depth level."""
    tokens = torch.empty(index.depths.shape[0], dtype=torch.long, device=adjacency.device)
    tokens[:1] = root
    for (start, end), source, rank in zip(index.level_slices, index.level_source, index.level_rank):
        tokens[start:end] = adjacency[tokens[source], rank]
    return tokens


def recycle(adjacency: torch.Tensor, tokens: torch.Tensor, logits: torch.Tensor) -> None:
    """adjacency [V, k] <- top-k of logits [N, V] at the rows of tokens [N]; the last write wins on repeats."""
    adjacency[tokens] = logits.topk(adjacency.shape[1], dim=-1).indices


def tree_step_inputs(index: TreeIndex, prefix_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> attention bias [1, 1, N+1, prefix_len+N+1] and position ids [1, N+1] for a tree after prefix_len."""
    n = index.bias_block.shape[0]
    prefix = index.bias_block.new_zeros(n, prefix_len)
    bias = torch.cat([prefix, index.bias_block], dim=1)[None, None]
    return bias, (index.depths + prefix_len)[None]
