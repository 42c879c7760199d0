"""Where the served models come from: a factory `served_models(options) -> {model id: (Decoder, tokenizer)}`
named as "module:function" and imported inside the replica that holds the models (so the driver and the
ingress never load weights).

- `decoder SLUG`: `decoder_models` below, one registered decoder over one model.
- `r2r`: `tokenworks.methods.decoding.r2r.serving:served_models` (small, large, router; ids r2r, r2r-small, ...).
- `s2d`: `tokenworks.methods.decoding.s2d.serving:served_models`, called once per target deployment with
  `options["targets"] = [target]`.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from tokenworks.errors import UserError

DECODER_FACTORY = "tokenworks.platform.serve_app.factories:decoder_models"
R2R_FACTORY = "tokenworks.methods.decoding.r2r.serving:served_models"
S2D_FACTORY = "tokenworks.methods.decoding.s2d.serving:served_models"

ServedModels = Callable[[dict[str, Any]], dict[str, tuple[Any, Any]]]


def decoder_model_id(model: str, method: str) -> str:
    return f"{model}:{method}"


def decoder_models(options: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """options: method (a registered decoder), model (zoo name / path / HF id), method_options (its knobs),
    model_id (optional: the id to serve it under; default MODEL:METHOD)."""
    from tokenworks.methods.decoding.registry import make_decoder
    from tokenworks.zoo import load_lm

    method, model = options["method"], options["model"]
    lm, tokenizer = load_lm(model)
    decoder = make_decoder(method, lm, tokenizer, **dict(options.get("method_options") or {}))
    return {options.get("model_id") or decoder_model_id(model, method): (decoder, tokenizer)}


def import_factory(path: str) -> ServedModels:
    """'module:function' -> the function; UserError saying what is missing (a method not built yet)."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"model factory {path!r} cannot be imported: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UserError(f"model factory {path!r}: module {module_name} has no function {attr!r}.")
    return factory


def s2d_target_names(options: dict[str, Any]) -> list[str]:
    """The targets an S2D app serves, one deployment each: the module's `target_names(options)` when it has
    one, else its `TARGET_NAMES`, else the keys of `served_models(options)` (which loads the models once in
    the calling process)."""
    module_name = S2D_FACTORY.partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"app 's2d' needs {module_name}, which cannot be imported: {exc}") from None
    if callable(getattr(module, "target_names", None)):
        return list(module.target_names(options))
    if getattr(module, "TARGET_NAMES", None):
        return list(module.TARGET_NAMES)
    return list(import_factory(S2D_FACTORY)(options))
