"""Static draft trees for one-forward verification: structure, tree attention mask, positions, KV compaction.

Shared by every tree/chain verifier (Token Recycling; later S2D, MTP, guided diffusion).

A tree is given as a *template*: a list of rank paths. `(0, 1)` means "from the root take candidate 0, then
from that token take candidate 1". Node 0 is the root (the newest token, not yet in the KV cache); the
template's nodes follow in breadth-first order (by depth, then rank path), so each depth level is one
contiguous slice and a parent always comes before its children.

Worked example, template [(0,), (1,), (0, 0)]:
    node:    0=root  1=(0,)  2=(1,)  3=(0,0)
    parents: [-1, 0, 0, 1]     ranks: [-1, 0, 1, 0]     depths: [0, 1, 1, 2]
    levels:  [(1, 3), (3, 4)]  (node slices per depth >= 1)
    paths:   [[0, 1, 3], [0, 2, -1]]   (root-to-leaf node indices, padded with -1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import DynamicCache

from tokenworks.errors import UserError


@dataclass(frozen=True)
class DraftTree:
    template: tuple[tuple[int, ...], ...]
    parents: torch.Tensor      # [N] long; -1 for the root
    ranks: torch.Tensor        # [N] long; candidate rank under the parent, -1 for the root
    depths: torch.Tensor       # [N] long; 0 for the root
    ancestor_mask: torch.Tensor  # [N, N] bool; [i, j] = node j is node i or one of its ancestors
    paths: torch.Tensor        # [P, D+1] long; root-to-leaf node indices padded with -1
    levels: tuple[tuple[int, int], ...]  # node slice [start, end) for each depth 1..D

    @property
    def num_nodes(self) -> int:
        """Draft nodes, root excluded."""
        return len(self.template)

    @property
    def depth(self) -> int:
        return len(self.levels)

    def to(self, device: torch.device | str) -> "DraftTree":
        move = lambda t: t.to(device)  # noqa: E731
        return DraftTree(self.template, move(self.parents), move(self.ranks), move(self.depths),
                         move(self.ancestor_mask), move(self.paths), self.levels)


def build_tree(template: Sequence[Sequence[int]]) -> DraftTree:
    """DraftTree from a template of rank paths (any order; every prefix of a path must be in the template)."""
    paths = sorted({tuple(int(r) for r in p) for p in template}, key=lambda p: (len(p), p))  # BFS order
    if len(paths) != len(template) or not paths or any(len(p) == 0 for p in paths):
        raise UserError(f"tree template must be distinct, non-empty rank paths; got {list(template)!r}.")
    node_of = {(): 0, **{p: i + 1 for i, p in enumerate(paths)}}
    for p in paths:
        if p[:-1] not in node_of or min(p) < 0:
            raise UserError(f"tree template path {p} has no parent {p[:-1]} in the template (or a negative rank).")
    parents = [-1] + [node_of[p[:-1]] for p in paths]
    n = len(parents)
    mask = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):  # walk up: one-time cost at construction
        j = i
        while j >= 0:
            mask[i, j] = True
            j = parents[j]
    leaves = [node_of[p] for p in sorted(paths) if not any(q[:-1] == p for q in paths)]  # lexicographic
    depth = max(len(p) for p in paths)
    path_rows = [[j for j in range(n) if mask[leaf, j]] for leaf in leaves]  # ancestors in BFS order = path order
    sizes = [sum(len(p) == d for p in paths) for d in range(1, depth + 1)]
    levels = tuple((1 + sum(sizes[:d]), 1 + sum(sizes[: d + 1])) for d in range(depth))
    return DraftTree(
        template=tuple(paths),
        parents=torch.tensor(parents),
        ranks=torch.tensor([-1] + [p[-1] for p in paths]),
        depths=torch.tensor([0] + [len(p) for p in paths]),
        ancestor_mask=mask,
        paths=torch.tensor([row + [-1] * (depth + 1 - len(row)) for row in path_rows]),
        levels=levels,
    )


def chain_template(length: int) -> list[tuple[int, ...]]:
    """A single path of `length` top-1 candidates: (0,), (0, 0), ..."""
    return [(0,) * d for d in range(1, length + 1)]


def tree_attention_bias(ancestor_mask: torch.Tensor, prefix_len: int, dtype: torch.dtype) -> torch.Tensor:
    """[N, N] bool ancestor mask -> [1, 1, N, prefix_len + N] additive mask: every node sees the whole
    committed prefix, and inside the tree only itself and its ancestors."""
    n = ancestor_mask.shape[0]
    bias = torch.zeros(1, 1, n, prefix_len + n, dtype=dtype, device=ancestor_mask.device)
    bias[0, 0, :, prefix_len:].masked_fill_(~ancestor_mask, torch.finfo(dtype).min)
    return bias


def compact_kv_cache(cache: DynamicCache, prefix_len: int, keep: torch.Tensor, in_place: bool = False) -> None:
    """After a tree forward: move the KV rows of the accepted nodes keep [A] (tree node indices, ascending)
    to the slots right after the prefix and drop the rest of the tree, in every layer. `in_place`: the
    caller knows keep == arange(A) (e.g. only the root was accepted), so cropping is enough."""
    end = prefix_len + keep.numel()
    if in_place:
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys[:, :, :end], layer.values[:, :, :end]
        return
    rows = keep + prefix_len  # [A]
    for layer in cache.layers:
        for name in ("keys", "values"):
            kv = getattr(layer, name)  # [B, H, prefix_len + N, Dh]
            kv[:, :, prefix_len:end] = kv.index_select(2, rows)
            setattr(layer, name, kv[:, :, :end])
