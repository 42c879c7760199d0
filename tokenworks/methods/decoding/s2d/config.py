"""S2D's knobs, typed and validated (official defaults in brackets)."""

from __future__ import annotations

from pydantic import Field

from tokenworks.config import TokenworksConfig


class S2DConfig(TokenworksConfig):
    """Speculative decoding of one target with a sorted draft; the exit is chosen from acceptance."""

    draft_model: str = Field("s2d-draft-sorted-micro", description="zoo name or path of the sorted draft")
    exits: list[int] = Field(default_factory=list, description="sub-models that may draft (layer counts); "
                             "empty = every layer of the draft [6, 9, 12 of a 12-layer draft]")
    exit_layer: int = Field(0, ge=0, le=128, description="pin one exit (0 = choose from acceptance at run time)")
    draft_len: int = Field(5, ge=1, le=64, description="initial draft length of the heuristic schedule [5]")
    explore_steps: int = Field(2, ge=1, le=1000, description="verify steps every exit drafts before the "
                               "choice follows acceptance")
