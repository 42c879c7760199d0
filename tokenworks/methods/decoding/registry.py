"""Every autoregressive decoder by name: `make_decoder(name, model, tokenizer, **options) -> Decoder`.

Options are validated through the method's TokenworksConfig before anything is built, so a bad value fails
with a message naming the field, the value and the allowed range.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from tokenworks.config import TokenworksConfig
from tokenworks.errors import UserError, close_matches
from tokenworks.methods.decoding.base import Decoder
from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.hf_generate import (
    AssistedConfig, HFGenerateDecoder, PromptLookupConfig, assisted_decoder, prompt_lookup_decoder,
)
from tokenworks.methods.decoding.skipdecode import (
    HFEarlyExitConfig, HFEarlyExitDecoder, SkipDecodeConfig, StaticExitConfig, skipdecode_decoder, static_exit_decoder,
)
from tokenworks.methods.decoding.token_recycling import TokenRecyclingConfig, TokenRecyclingDecoder


class NoOptions(TokenworksConfig):
    """Decoders without knobs (plain greedy) accept no options."""


DECODER_CONFIGS: dict[str, type[TokenworksConfig]] = {
    "greedy": NoOptions,
    "hf-greedy": NoOptions,
    "prompt-lookup": PromptLookupConfig,
    "assisted": AssistedConfig,
    "token-recycling": TokenRecyclingConfig,
    "skipdecode": SkipDecodeConfig,
    "static-exit": StaticExitConfig,
    "hf-early-exit": HFEarlyExitConfig,
}
DECODER_NAMES: list[str] = list(DECODER_CONFIGS)
# every decoder whose output must equal greedy's token for token (the shared invariant test)
LOSSLESS_DECODERS: tuple[str, ...] = (
    "greedy", "hf-greedy", "prompt-lookup", "assisted", "token-recycling", "hf-early-exit",
)

_BUILDERS: dict[str, Callable[..., Decoder]] = {
    "greedy": lambda model, tok, cfg, **_: GreedyDecoder(model, tok),
    "hf-greedy": lambda model, tok, cfg, **_: HFGenerateDecoder("hf-greedy", model, tok),
    "prompt-lookup": lambda model, tok, cfg, **_: prompt_lookup_decoder(model, tok, cfg),
    "assisted": lambda model, tok, cfg, draft_model=None: assisted_decoder(model, tok, cfg, draft_model),
    "token-recycling": lambda model, tok, cfg, **_: TokenRecyclingDecoder(model, tok, cfg),
    "skipdecode": lambda model, tok, cfg, **_: skipdecode_decoder(model, tok, cfg),
    "static-exit": lambda model, tok, cfg, **_: static_exit_decoder(model, tok, cfg),
    "hf-early-exit": lambda model, tok, cfg, **_: HFEarlyExitDecoder(model, tok, cfg),
}


def decoder_config(name: str, **options: Any) -> TokenworksConfig:
    """The validated config of decoder `name` (class defaults + options)."""
    if name not in DECODER_CONFIGS:
        raise UserError(
            f"unknown decoder {name!r}; allowed: {', '.join(DECODER_NAMES)}." + close_matches(name, DECODER_NAMES)
        )
    cls = DECODER_CONFIGS[name]
    valid = cls.flat_keys()
    for key in options:
        if key not in valid:
            allowed = ", ".join(valid) or "none"
            raise UserError(
                f"unknown option {key!r} for decoder {name!r}; allowed: {allowed}." + close_matches(key, valid)
            )
    return cls.validated(options)


def make_decoder(name: str, model, tokenizer, **options: Any) -> Decoder:
    """Build decoder `name` around a loaded HF causal LM. `assisted` also takes `draft_model` as a zoo name,
    a local path, or an already loaded module (then it is used as is)."""
    draft = options.get("draft_model")
    module = draft if isinstance(draft, torch.nn.Module) else None
    if module is not None:
        options = {k: v for k, v in options.items() if k != "draft_model"}
    cfg = decoder_config(name, **options)
    return _BUILDERS[name](model, tokenizer, cfg, draft_model=module)
