"""Typed configs of the SkipDecode decoder and its two early-exit baselines.

Layer counts are given against the model they run on; `None` for `max_layers` means "all layers". A value
that does not fit the model fails when the decoder is built (UserError naming the field and the range).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from tokenworks.config import TokenworksConfig


class SkipDecodeConfig(TokenworksConfig):
    """SkipDecode's schedule (arXiv 2307.02628): warm-up layers + the top n(t) - warmup layers, with n(t)
    decaying linearly from max_layers to min_layers over decay_tokens generated positions."""

    warmup_layers: int = Field(1, ge=0, le=256, description="bottom layers every position runs (paper: 1 helps)")
    max_layers: int | None = Field(None, ge=1, le=256, description="budget at the first generated position "
                                   "(None = all layers)")
    min_layers: int = Field(2, ge=1, le=256, description="budget from decay_tokens on")
    decay_tokens: int = Field(32, ge=1, le=65536, description="generated positions over which the budget decays")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"warmup_layers": 0, "max_layers": 2, "min_layers": 1, "decay_tokens": 8},
        "tiny": {},
        # OPT-1.3B has 24 layers; the paper picks (min, max) per target speedup, warm-up small
        "paper": {"warmup_layers": 1, "max_layers": 24, "min_layers": 6, "decay_tokens": 256},
    }

    @model_validator(mode="after")
    def _ordered(self) -> "SkipDecodeConfig":
        if self.max_layers is not None and self.min_layers > self.max_layers:
            raise ValueError(f"min_layers = {self.min_layers} is above max_layers = {self.max_layers}; "
                             "allowed: min_layers <= max_layers")
        if self.min_layers < self.warmup_layers:
            raise ValueError(f"min_layers = {self.min_layers} is below warmup_layers = {self.warmup_layers}; "
                             "allowed: min_layers >= warmup_layers")
        return self


class StaticExitConfig(TokenworksConfig):
    """Plain static early exit: the bottom exit_layer layers, then the LM head, for every position."""

    exit_layer: int = Field(2, ge=1, le=256, description="layers run before the LM head")


class HFEarlyExitConfig(TokenworksConfig):
    """Hugging Face self-speculative early exit (`generate(assistant_early_exit=...)`): the bottom layers draft,
    the full model verifies; lossless."""

    exit_layer: int = Field(1, ge=1, le=256, description="assistant_early_exit: layers of the drafting pass")
    num_assistant_tokens: int | None = Field(
        None, ge=1, le=128, description="drafted tokens per step (None: transformers' default and its schedule)")
