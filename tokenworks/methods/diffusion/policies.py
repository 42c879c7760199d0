"""The two policies injected into the one block decode loop: which masked positions to commit this step
(`CommitPolicy`) and what to cache and when to refresh it (`CachePolicy`).

Commit rules, all the same selection (tokenworks.kernels.diffusion_select) with different knobs:
- baseline (LLaDA low-confidence remasking): `tokens_per_step` highest-confidence masked positions, no
  threshold (`tokens_per_step=1` is the one-token-per-step baseline; k > 1 is the fixed-k schedule that
  shows where committing too many at once starts to hurt);
- fast-dllm: every masked position with confidence >= `threshold`, at least the top-1;
- localleap: anchors (confidence >= `threshold`) plus every masked position within `radius` of an anchor
  whose confidence is >= `relaxed_threshold`, at least the top-1.
`max_per_step` caps any rule (keeping the most confident): with 1, every rule is the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from tokenworks.errors import UserError
from tokenworks.kernels.diffusion_select import select

CacheMode = Literal["none", "prefix", "dual", "freecache"]
CACHE_MODES: tuple[str, ...] = ("none", "prefix", "dual", "freecache")


@dataclass(frozen=True)
class CommitPolicy:
    name: str = "baseline"
    threshold: float = float("inf")          # anchors / threshold rule; inf = no threshold
    relaxed_threshold: float = float("inf")  # inside an anchor's neighbourhood
    radius: int = 0                          # neighbourhood half-width in positions
    tokens_per_step: int = 1                 # at least this many (most confident) per step
    max_per_step: int | None = None          # at most this many per step; None = no cap

    def __post_init__(self) -> None:
        if self.tokens_per_step < 1:
            raise UserError(f"CommitPolicy.tokens_per_step={self.tokens_per_step} must be >= 1.")
        if self.radius < 0:
            raise UserError(f"CommitPolicy.radius={self.radius} must be >= 0.")
        if self.max_per_step is not None and self.max_per_step < 1:
            raise UserError(f"CommitPolicy.max_per_step={self.max_per_step} must be >= 1 or None.")

    def choose(
        self,
        logits: torch.Tensor,    # [n, V] the current block's logits
        masked: torch.Tensor,    # [n] bool
        use_kernel: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (x0 [n] long: the model's choice at every position, commit [n] bool: positions to unmask)."""
        conf, x0, commit = select(logits, masked, self.threshold, self.relaxed_threshold, self.radius, use_kernel)
        if self.tokens_per_step > 1:
            k = min(self.tokens_per_step, int(masked.sum()))
            commit[_most_confident(conf, k)] = True
        if self.max_per_step is not None and int(commit.sum()) > self.max_per_step:
            keep = _most_confident(torch.where(commit, conf, torch.full_like(conf, float("-inf"))), self.max_per_step)
            commit = torch.zeros_like(commit)
            commit[keep] = True
        return x0, commit


def _most_confident(conf: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest values, ties to the lower index (stable), as the top-1 rule."""
    order = torch.sort(conf, descending=True, stable=True).indices
    return order[:k]


def baseline(tokens_per_step: int = 1) -> CommitPolicy:
    return CommitPolicy(name="baseline" if tokens_per_step == 1 else f"fixed-{tokens_per_step}",
                        tokens_per_step=tokens_per_step)


def fast_dllm(threshold: float = 0.9) -> CommitPolicy:
    return CommitPolicy(name="fast-dllm", threshold=threshold, relaxed_threshold=threshold)


def localleap(threshold: float = 0.9, relaxed_threshold: float = 0.75, radius: int = 4) -> CommitPolicy:
    if relaxed_threshold > threshold:
        raise UserError(f"localleap: relaxed_threshold={relaxed_threshold} must be <= threshold={threshold}.")
    return CommitPolicy(name="localleap", threshold=threshold, relaxed_threshold=relaxed_threshold, radius=radius)


@dataclass(frozen=True)
class CachePolicy:
    """What the loop reuses between steps.

    - none: every call is a full forward over prompt + generation (LLaDA, LocalLeap's reference code).
    - prefix (Fast-dLLM): a full forward at each block's first step caches the prefix KV; the block's other
      steps feed block + masked tail against it.
    - dual (Fast-dLLM): as prefix, and the tail's KV (from the same full forward) is cached too; the other
      steps feed the block only.
    - freecache (FreeCache): the prompt's KV is cached at the first call; a finished block's KV is computed
      once, by the next block's first call (which feeds from the old clean boundary), and frozen: the prefix
      is never recomputed, betting that clean tokens' KV is stable when later masks resolve.
    `refresh_interval` k > 0 makes every k-th call (counted over the whole decode) a full forward that
    recomputes the cache; k = 1 is every call full, i.e. exactly `none`.
    """

    mode: str = "none"
    refresh_interval: int = 0   # 0 = never beyond what the mode itself does

    def __post_init__(self) -> None:
        if self.mode not in CACHE_MODES:
            raise UserError(f"CachePolicy.mode={self.mode!r} is not allowed; allowed: {', '.join(CACHE_MODES)}.")
        if self.refresh_interval < 0:
            raise UserError(f"CachePolicy.refresh_interval={self.refresh_interval} must be >= 0 (0 = never).")
