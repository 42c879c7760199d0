"""The Decoder contract shared by every autoregressive method, and its statistics.

Glossary (vLLM's definitions, used everywhere in tokenworks):
- *target forward*: one call of the target model, the prefill included.
- *verify step*: a target forward that checks drafted tokens (every decode-phase forward of a drafting
  method; for plain greedy every decode-phase forward is a verify step with zero drafts).
- *accepted tokens* of a step: drafted tokens that matched the target's greedy choice.
- *bonus token*: the token the target emits itself at the end of each verify step (the first mismatch's
  correction, or the token after the last accepted draft).
- *mean acceptance length* (MAL, tau): tokens emitted per verify step, bonus included:
  `1 + sum(accepted_per_step) / len(accepted_per_step)`. Plain greedy has exactly 1.0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import torch


@dataclass
class DecodeStats:
    new_tokens: int = 0               # generated ids returned (after EOS / max_new_tokens truncation)
    target_forwards: int = 0          # prefill included
    draft_forwards: int = 0           # forwards of a separate draft model (0 for retrieval drafters)
    tokens_processed: int = 0         # token positions fed through the target, prefill included
    accepted_per_step: list[int] = field(default_factory=list)  # per verify step, bonus excluded
    layers_executed: int = 0          # transformer layers run over all target forwards (per token position)
    wall_s: float = 0.0
    # numbers only this method has (R2R: tokens written by the large model; S2D: which exit drafted), flat
    # name -> number; serving returns them in `usage`, benchmarks add them as columns
    method_stats: dict[str, float] = field(default_factory=dict)

    @property
    def mean_acceptance_length(self) -> float:
        steps = self.accepted_per_step
        return 1.0 + sum(steps) / len(steps) if steps else 1.0

    @property
    def target_forwards_per_token(self) -> float:
        return self.target_forwards / self.new_tokens if self.new_tokens else 0.0

    def acceptance_per_position(self, max_positions: int) -> list[float]:
        """Share of verify steps whose i-th drafted token (i = 0..max_positions-1) was accepted."""
        n = len(self.accepted_per_step) or 1
        return [sum(a > i for a in self.accepted_per_step) / n for i in range(max_positions)]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["mean_acceptance_length"] = self.mean_acceptance_length
        d["target_forwards_per_token"] = self.target_forwards_per_token
        return d


@dataclass
class Generation:
    ids: list[int]        # generated token ids only, prompt excluded, EOS included if produced
    stats: DecodeStats


@runtime_checkable
class Decoder(Protocol):
    """`decode(prompt_ids, max_new_tokens) -> Generation`. State that should persist across calls
    (Token Recycling's adjacency matrix under hot start) lives on the decoder object."""

    name: str

    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation: ...


@runtime_checkable
class Drafter(Protocol):
    """The two-call drafter shape (HF's CandidateGenerator): propose, then learn from what was accepted."""

    def propose(self, context: torch.Tensor) -> torch.Tensor:  # context: [T] ids -> candidates [K] or tree
        ...

    def observe(self, accepted: torch.Tensor) -> None:  # accepted: [A] ids committed this step
        ...
