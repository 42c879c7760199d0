"""Token Recycling's typed config: paper defaults as the `paper` preset, small CPU trees otherwise."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from tokenworks.config import TokenworksConfig
from tokenworks.methods.decoding.token_recycling.templates import TEMPLATE_HELP, resolve_template


class TokenRecyclingConfig(TokenworksConfig):
    """Defaults are the CPU (`tiny`) setting; `paper` is the official code's (`--output-id-topk 8`, tree 2.2.2)."""

    topk: int = Field(8, ge=1, le=64, description="candidates kept per token in the adjacency matrix (k)")
    tree: str = Field("top8", description=f"draft-tree template: {TEMPLATE_HELP}")
    persist: Literal["none", "per_request", "global"] = Field(
        "global",
        description="adjacency matrix lifetime: global = kept across requests (hot start, the official eval); "
        "per_request = cold at every request; none = only the previous forward's candidates (reset every step)",
    )
    update_from_prefill: bool = Field(
        True, description="also recycle the prompt's prefill logits (the official code does not)"
    )
    kernel: Literal["auto", "triton", "torch"] = Field(
        "auto", description="acceptance walk: auto = Triton on CUDA, PyTorch reference elsewhere"
    )

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "micro": {"tree": "top16"},
        "tiny": {},
        "paper": {"tree": "2.2.2", "topk": 8, "persist": "global", "update_from_prefill": False},
    }

    @field_validator("tree")
    @classmethod
    def _known_tree(cls, value: str) -> str:
        resolve_template(value)  # raises ValueError naming the allowed forms
        return value

    @model_validator(mode="after")
    def _ranks_within_topk(self) -> "TokenRecyclingConfig":
        max_rank = max(max(p) for p in resolve_template(self.tree))
        if max_rank >= self.topk:
            raise ValueError(
                f"topk = {self.topk} is too small for tree {self.tree!r}, which uses candidate rank {max_rank}; "
                f"allowed: topk >= {max_rank + 1}"
            )
        return self
