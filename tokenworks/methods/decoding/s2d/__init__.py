"""S2D: sorted (multi-exit) draft, acceptance-based exit choice, lossless speculative decoding. See README.md."""

from tokenworks.methods.decoding.s2d.config import S2DConfig
from tokenworks.methods.decoding.s2d.decoder import S2DDecoder
from tokenworks.methods.decoding.s2d.sorted_model import exit_logits, sorted_loss, sub_model

__all__ = ["S2DConfig", "S2DDecoder", "exit_logits", "sorted_loss", "sub_model"]
