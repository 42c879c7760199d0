"""R2R's knobs, typed and validated (official defaults in brackets where they exist)."""

from __future__ import annotations

from pydantic import Field

from tokenworks.config import TokenworksConfig


class RouterConfig(TokenworksConfig):
    """The lightweight router and its training (thu-nics/R2R `resource/default_training_config.json`)."""

    topk: int = Field(100, ge=1, le=4096, description="top-K small-model logits fed to the router [100]")
    width: int = Field(64, ge=8, le=4096, description="MLP width [1024 at 1.5B scale]")
    depth: int = Field(1, ge=0, le=12, description="residual blocks [6]")
    dropout: float = Field(0.1, ge=0.0, le=0.9, description="[0.1]")
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="AdamW learning rate [5e-5 at 55M router params]")
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0, description="[5e-4]")
    epochs: int = Field(40, ge=1, le=1000, description="[50]")
    patience: int = Field(8, ge=1, le=1000, description="early stopping on validation loss [10]")
    batch: int = Field(256, ge=1, le=65536, description="[1024]")
    min_recall: float = Field(0.95, gt=0.0, le=1.0, description="threshold chosen for this divergent-token recall "
                              "on validation [0.95]")
    validation_share: float = Field(0.2, gt=0.0, lt=1.0, description="prompts held out to choose the threshold")
    seed: int = Field(0, ge=0)


class R2RConfig(TokenworksConfig):
    """Routed decoding: the small model writes each token unless the router's probability >= threshold."""

    threshold: float = Field(0.5, ge=0.0, le=1.0, description="router probability at or above which the "
                             "large model writes the token (0 = always large, 1 = always small)")
