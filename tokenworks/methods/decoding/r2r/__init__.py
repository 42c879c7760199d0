"""R2R: small-large token routing (labelling, router, routed decoding). See README.md."""

from tokenworks.methods.decoding.r2r.config import R2RConfig, RouterConfig
from tokenworks.methods.decoding.r2r.decoder import RoutedDecoder
from tokenworks.methods.decoding.r2r.labeling import Label, LabelledTokens, label_position, label_prompts
from tokenworks.methods.decoding.r2r.router import EntropyRouter, MLPRouter, load_router, train_router

__all__ = ["EntropyRouter", "Label", "LabelledTokens", "MLPRouter", "R2RConfig", "RoutedDecoder", "RouterConfig",
           "label_position", "label_prompts", "load_router", "train_router"]
