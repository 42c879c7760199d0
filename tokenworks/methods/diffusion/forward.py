"""The model calls of one decode, under a cache policy: logits for the current block, and NFE by call type.

Call types (peers.md §C.3: NFE is not proportional to compute once caching is on, so each is counted):
- `full`: the whole sequence (prompt + generation) is fed;
- `prefix`: the block and everything after it are fed against cached KV of the positions before;
- `dual`: only the block is fed, against cached KV before and after it.
`tokens_fed` sums the positions fed over all calls (the compute proxy beside NFE).
"""

from __future__ import annotations

from collections import Counter

import torch

from tokenworks.methods.diffusion.model import KV, MaskedTransformer, concat_kv, slice_kv
from tokenworks.methods.diffusion.policies import CachePolicy


class BlockForward:
    """Stateful over one decode: call `logits(x, lo, hi)` once per step of the block [lo, hi)."""

    def __init__(self, model: MaskedTransformer, policy: CachePolicy):
        self.model, self.policy = model, policy
        self.nfe: Counter[str] = Counter()
        self.tokens_fed = 0
        self.calls = 0
        self.before: list[KV] | None = None   # KV of positions [0, clean)
        self.after: list[KV] | None = None    # dual cache: KV of positions [block_end, T)
        self.clean = 0
        self.block: tuple[int, int] | None = None

    def logits(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """x [T] ids (masks included); returns [hi - lo, V] logits of the block [lo, hi)."""
        new_block = self.block != (lo, hi)
        self.block = (lo, hi)
        every = self.policy.refresh_interval
        refresh = every > 0 and self.calls % every == 0
        self.calls += 1
        mode = self.policy.mode
        # Fast-dLLM's caches are rebuilt by a full forward at every block's first step; FreeCache's only at
        # the first call (and on refresh)
        if mode == "none" or refresh or self.before is None or (new_block and mode in ("prefix", "dual")):
            return self._full(x, lo, hi)
        if mode == "dual":
            return self._fed(x, lo, hi, lo, hi, "dual")
        return self._fed(x, lo, hi, self.clean, len(x), "prefix")

    def _full(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        out, kv = self.model(x[None])
        self._count("full", len(x))
        if self.policy.mode != "none":
            self.before, self.clean = slice_kv(kv, 0, lo), lo
            self.after = slice_kv(kv, hi, len(x)) if self.policy.mode == "dual" else None
        return out[0, lo:hi]

    def _fed(self, x: torch.Tensor, lo: int, hi: int, start: int, stop: int, kind: str) -> torch.Tensor:
        """Feed x[start:stop] against the cached prefix [0, start) (and the dual suffix)."""
        out, kv = self.model(x[None, start:stop], start=start, kv_before=self.before,
                             kv_after=self.after if kind == "dual" else None)
        self._count(kind, stop - start)
        if self.policy.mode == "freecache" and lo > self.clean:
            # the finished block(s) between the old boundary and this block: their KV, computed now from their
            # final tokens, is frozen into the cache
            self.before, self.clean = concat_kv(self.before, slice_kv(kv, 0, lo - start)), lo
        return out[0, lo - start:hi - start]

    def _count(self, kind: str, fed: int) -> None:
        self.nfe[kind] += 1
        self.tokens_fed += fed
