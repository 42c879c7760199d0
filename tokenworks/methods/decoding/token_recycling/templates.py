"""Named draft-tree templates for Token Recycling (lists of rank paths; see tokenworks.methods.decoding.tree).

- "2.2.2": the paper's default (official repo, `tree_template_.py`): 80 nodes in 6 levels of 8/21/25/15/8/3,
  written here level by level, one digit per rank.
- "top<N>": a top-heavy tree of N nodes: the N paths with the highest expected acceptance when rank r is
  accepted with probability RANK_ACCEPT[r] independently at each depth (Medusa/Sequoia-style greedy growth).
  A node's score never exceeds its parent's, so the chosen set is prefix-closed.
- "chain<N>": one path of N top-1 candidates; isolates the tree's effect (the same drafter, no branching).
"""

from __future__ import annotations

import heapq
import re

from tokenworks.methods.decoding.tree import chain_template

_PAPER_2_2_2_LEVELS = (
    "0 1 2 3 4 5 6 7",
    "00 01 02 03 04 05 06 07 10 11 12 13 20 21 22 30 31 40 50 60 70",
    "000 001 002 003 004 005 006 007 010 011 012 020 021 030 040 050 060 070 100 101 110 200 300 400 500",
    "0000 0001 0002 0003 0004 0010 0011 0020 0030 0040 0100 0200 1000 2000 3000",
    "00000 00001 00002 00010 00020 00100 01000 10000",
    "000000 000001 000100",
)

# Share of verify steps in which candidate rank r is the accepted child, depths 1-2 pooled (weighted by steps),
# made non-increasing. Measured with the "2.2.2" tree on 12 *validation* prompts x 128 tokens of code-lm-tiny
# 378d75de74d5 (the recipe with the unlikelihood phase; MAL 2.87 with that 80-node tree). The earlier,
# looping model accepted rank 0 far more often: (0.70, 0.083, 0.045, 0.021, 0.010, 0.009, 0.008, 0.007).
RANK_ACCEPT = (0.456, 0.124, 0.053, 0.036, 0.031, 0.018, 0.012, 0.012)

TEMPLATE_PATTERN = re.compile(r"^(2\.2\.2|top(\d+)|chain(\d+))$")
TEMPLATE_HELP = '"2.2.2" (paper, 80 nodes), "top<N>" (top-heavy, 2 <= N <= 128), "chain<N>" (1 <= N <= 32)'


def paper_template() -> list[tuple[int, ...]]:
    return [tuple(int(c) for c in path) for level in _PAPER_2_2_2_LEVELS for path in level.split()]


def top_heavy_template(num_nodes: int, rank_accept: tuple[float, ...] = RANK_ACCEPT) -> list[tuple[int, ...]]:
    """The num_nodes paths of highest product of per-rank acceptance, grown best-first from the root."""
    heap = [(-rank_accept[r], (r,)) for r in range(len(rank_accept))]
    heapq.heapify(heap)
    chosen: list[tuple[int, ...]] = []
    while len(chosen) < num_nodes:
        neg_score, path = heapq.heappop(heap)
        chosen.append(path)
        for r in range(len(rank_accept)):
            heapq.heappush(heap, (neg_score * rank_accept[r], path + (r,)))
    return chosen


def resolve_template(name: str) -> list[tuple[int, ...]]:
    """Template name -> rank paths; ValueError (naming the allowed forms) for anything else."""
    m = TEMPLATE_PATTERN.match(name)
    if m is None:
        raise ValueError(f"tree {name!r} is not a known template; allowed: {TEMPLATE_HELP}")
    if m.group(2) is not None:
        n = int(m.group(2))
        if not 2 <= n <= 128:
            raise ValueError(f"tree {name!r}: top<N> needs 2 <= N <= 128")
        return top_heavy_template(n)
    if m.group(3) is not None:
        n = int(m.group(3))
        if not 1 <= n <= 32:
            raise ValueError(f"tree {name!r}: chain<N> needs 1 <= N <= 32")
        return chain_template(n)
    return paper_template()
