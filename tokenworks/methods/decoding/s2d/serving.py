"""S2D for the serving application: `served_models(options) -> {target name: (Decoder, tokenizer)}`: one
lossless S2D decoder per target, all drafting with the same sorted draft (weights shared).

    from tokenworks.methods.decoding.s2d.serving import served_models
    models = served_models({"preset": "micro"})          # {"task-lm-large": ..., "task-lm-xl": ...}
    decoder, tokenizer = models["task-lm-xl"]
    gen = decoder.decode(tokenizer.encode("..."), 16)     # gen.stats.mean_acceptance_length, .method_stats

Served names are the targets' zoo names without the preset suffix (the micro preset serves the `-micro`
builds under the same names). Options (validated): `preset` "micro" | "tiny" (default "tiny"), `targets`
(a subset of the names; `-micro` spellings accepted), `draft_len`, `exits`, `exit_layer`, `explore_steps`
(see S2DConfig), `device`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tokenworks.config import TokenworksConfig
from tokenworks.errors import UserError
from tokenworks.methods.decoding.r2r.serving import serve_options

TARGET_NAMES = ("task-lm-large", "task-lm-xl")
SUFFIX = {"micro": "-micro", "tiny": ""}


class S2DServeOptions(TokenworksConfig):
    preset: Literal["micro", "tiny"] = "tiny"
    targets: list[str] = Field(default_factory=lambda: list(TARGET_NAMES))
    draft_len: int = Field(5, ge=1, le=64)
    exits: list[int] = Field(default_factory=list)
    exit_layer: int = Field(0, ge=0, le=128)
    explore_steps: int = Field(2, ge=1, le=1000)
    device: str | None = None


def served_name(name: str) -> str:
    base = name.removesuffix("-micro")
    if base not in TARGET_NAMES:
        raise UserError(f"targets: unknown target {name!r}; allowed: {', '.join(TARGET_NAMES)}.")
    return base


def served_models(options: dict[str, Any] | None = None) -> dict[str, tuple[Any, Any]]:
    from tokenworks.methods.decoding.s2d.config import S2DConfig
    from tokenworks.methods.decoding.s2d.decoder import S2DDecoder
    from tokenworks.zoo import load_lm

    cfg = serve_options(S2DServeOptions, options)
    names = list(dict.fromkeys(served_name(t) for t in cfg.targets))
    if not names:
        raise UserError("targets = [] is invalid; allowed: a non-empty subset of " + ", ".join(TARGET_NAMES) + ".")
    suffix = SUFFIX[cfg.preset]
    draft_name = f"s2d-draft-sorted{suffix}"
    draft, _ = load_lm(draft_name, device=cfg.device)
    method = S2DConfig(draft_model=draft_name, exits=cfg.exits, exit_layer=cfg.exit_layer, draft_len=cfg.draft_len,
                       explore_steps=cfg.explore_steps)
    served = {}
    for name in names:
        target, tokenizer = load_lm(name + suffix, device=cfg.device)
        decoder = S2DDecoder(target, draft, tokenizer, method)
        decoder.name = f"s2d:{name}"
        served[name] = (decoder, tokenizer)
    return served
