"""R2R for the serving application: `served_models(options) -> {name: (Decoder, tokenizer)}`.

    from tokenworks.methods.decoding.r2r.serving import served_models
    models = served_models({"preset": "micro"})     # {"r2r": ..., "r2r-small": ..., "r2r-large": ...}
    decoder, tokenizer = models["r2r"]
    gen = decoder.decode(tokenizer.encode("..."), 16)   # gen.stats.method_stats["large_token_share"]

Options (validated; unknown keys or bad values raise UserError): `preset` "micro" | "tiny" (default "tiny":
the task LMs and the router of that preset, built on first use), `threshold` (router probability; default:
the router's recommended threshold, chosen for 95% divergent-token recall on validation), `device`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tokenworks.config import TokenworksConfig
from tokenworks.errors import UserError

PRESET_MODELS = {
    "micro": ("task-lm-small-micro", "task-lm-large-micro", "r2r-router-micro"),
    "tiny": ("task-lm-small", "task-lm-large", "r2r-router"),
}


class R2RServeOptions(TokenworksConfig):
    preset: Literal["micro", "tiny"] = "tiny"
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="router probability threshold")
    device: str | None = Field(None, description="cpu or cuda (default: cuda when present)")


def serve_options(cls: type[TokenworksConfig], options: dict[str, Any] | None) -> TokenworksConfig:
    options = dict(options or {})
    allowed = cls.flat_keys()
    for key in options:
        if key not in allowed:
            raise UserError(f"unknown option {key!r}; allowed: {', '.join(allowed)}.")
    return cls.validated(options)


def load_router_and_threshold(name: str):
    """(router, recommended threshold) of zoo router `name` (built on first use)."""
    from tokenworks.methods.decoding.r2r.router import load_router
    from tokenworks.zoo.registry import build, read_metadata

    path = build(name)
    return load_router(path / "router.pt"), float(read_metadata(path)["val_threshold"])


def served_models(options: dict[str, Any] | None = None) -> dict[str, tuple[Any, Any]]:
    from tokenworks.methods.decoding.greedy import GreedyDecoder
    from tokenworks.methods.decoding.r2r.decoder import RoutedDecoder
    from tokenworks.zoo import load_lm

    cfg = serve_options(R2RServeOptions, options)
    small_name, large_name, router_name = PRESET_MODELS[cfg.preset]
    small, tokenizer = load_lm(small_name, device=cfg.device)
    large, _ = load_lm(large_name, device=cfg.device)
    router, recommended = load_router_and_threshold(router_name)
    router = router.to(small.device)
    threshold = recommended if cfg.threshold is None else cfg.threshold
    return {
        "r2r": (RoutedDecoder(small, large, router, threshold, tokenizer), tokenizer),
        "r2r-small": (GreedyDecoder(small, tokenizer), tokenizer),
        "r2r-large": (GreedyDecoder(large, tokenizer), tokenizer),
    }
