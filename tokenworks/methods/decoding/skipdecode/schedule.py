"""Which layers each position runs: layer plans, pure functions of the position (no tensors, no model).

Glossary (used by every file of this package):
- *generated position t*: the t-th token fed back into the model after the prompt (t = 0 is the first
  generated token; it is produced by the prompt's last position and fed at step 0).
- *layer plan*: `prompt_layers()` (the layers every prompt position runs) and `layers_at(t)` (the layers
  generated position t runs). A plan is *KV-safe* when `layers_at(0)` is a subset of `prompt_layers()` and
  `layers_at(t + 1)` a subset of `layers_at(t)`: then every layer a position runs was also run by every
  earlier position, so attention always finds a KV entry for every earlier position and no entry is ever
  computed twice (SkipDecode, arXiv 2307.02628, section 3). The set of positions that run a given layer is
  then a prefix of the sequence, which is what makes one masked training forward exact
  (`layer_prefix_ends`).
- *SkipDecode schedule*: `warmup` bottom layers always run; above them only the top `n(t) - warmup` layers
  run, where the budget n(t) decays linearly from `max_layers` (t = 0) to `min_layers` (t >= decay_tokens)
  and stays there. Lower layers are skipped, not upper ones.
- *static exit*: the bottom `exit_layer` layers for every position (prompt included), then the LM head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from tokenworks.errors import UserError


class LayerPlan(Protocol):
    num_layers: int

    def prompt_layers(self) -> tuple[int, ...]: ...

    def layers_at(self, t: int) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class SkipSchedule:
    """SkipDecode's monotonic exit schedule over a model of `num_layers` layers."""

    num_layers: int
    warmup: int = 1
    max_layers: int = 4
    min_layers: int = 2
    decay_tokens: int = 64

    def __post_init__(self) -> None:
        checks = (
            ("warmup", self.warmup, 0 <= self.warmup < self.num_layers, f"0..{self.num_layers - 1}"),
            ("max_layers", self.max_layers, 1 <= self.max_layers <= self.num_layers, f"1..{self.num_layers}"),
            ("min_layers", self.min_layers, max(1, self.warmup) <= self.min_layers <= self.max_layers,
             f"max(1, warmup_layers={self.warmup})..max_layers={self.max_layers}"),
            ("decay_tokens", self.decay_tokens, self.decay_tokens >= 1, ">= 1"),
        )
        for name, value, ok, allowed in checks:
            if not ok:
                field = "warmup_layers" if name == "warmup" else name
                raise UserError(f"{field} = {value!r} is invalid for a {self.num_layers}-layer model; "
                                f"allowed: {allowed}.")

    def budget(self, t: int) -> int:
        """n(t): layers run by generated position t; linear decay, rounded up, never increasing."""
        frac = min(max(t, 0), self.decay_tokens) / self.decay_tokens
        return math.ceil(self.max_layers - (self.max_layers - self.min_layers) * frac - 1e-9)

    def prompt_layers(self) -> tuple[int, ...]:
        return tuple(range(self.num_layers))

    def layers_at(self, t: int) -> tuple[int, ...]:
        n = self.budget(t)
        top = n - self.warmup
        return tuple(range(self.warmup)) + tuple(range(self.num_layers - top, self.num_layers))

    def label(self) -> str:
        return f"w{self.warmup}:{self.max_layers}-{self.min_layers}/{self.decay_tokens}"


@dataclass(frozen=True)
class StaticExit:
    """The bottom `exit_layer` layers for every position, prompt included (no fine-tuning needed to run)."""

    num_layers: int
    exit_layer: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.exit_layer <= self.num_layers:
            raise UserError(f"exit_layer = {self.exit_layer!r} is invalid for a {self.num_layers}-layer model; "
                            f"allowed: 1..{self.num_layers}.")

    def prompt_layers(self) -> tuple[int, ...]:
        return tuple(range(self.exit_layer))

    def layers_at(self, t: int) -> tuple[int, ...]:
        return tuple(range(self.exit_layer))

    def label(self) -> str:
        return f"exit{self.exit_layer}"


def full_plan(num_layers: int) -> SkipSchedule:
    """Every layer at every position: the plain model through the skip forward (equals greedy)."""
    return SkipSchedule(num_layers, warmup=0, max_layers=num_layers, min_layers=num_layers)


def check_kv_safe(plan: LayerPlan, horizon: int) -> None:
    """ValueError unless every position's layers are a subset of the previous position's, up to `horizon`."""
    previous = set(plan.prompt_layers())
    for t in range(horizon):
        current = set(plan.layers_at(t))
        if not current <= previous:
            raise ValueError(f"plan {plan!r} runs layers {sorted(current - previous)} at position {t} that an "
                             "earlier position skipped: their KV entries would be missing")
        previous = current


def layer_prefix_ends(plan: LayerPlan, prompt_len: int, generated: int) -> list[int]:
    """For a sequence of `prompt_len` prompt positions then `generated` positions: per layer, how many
    leading positions run it (a KV-safe plan makes every layer's set of positions a prefix)."""
    ends = []
    for layer in range(plan.num_layers):
        if layer not in plan.prompt_layers():
            ends.append(0)
            continue
        run = prompt_len
        while run - prompt_len < generated and layer in plan.layers_at(run - prompt_len):
            run += 1
        ends.append(run)
    return ends


def mean_layers(plan: LayerPlan, new_tokens: int) -> float:
    """Layers of the forward that produced each of `new_tokens` tokens, averaged: the first comes from the
    prompt's last position, token i > 0 from generated position i - 1."""
    if new_tokens <= 0:
        return 0.0
    total = len(plan.prompt_layers()) + sum(len(plan.layers_at(t)) for t in range(new_tokens - 1))
    return total / new_tokens
