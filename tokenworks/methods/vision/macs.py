"""The one MACs counter every arm is measured with: `count_macs(model, images)`.

The ViT's modules (and every reducer) report the multiply-accumulates they actually perform, as they run,
to the counter that is open (a no-op when none is). So a reducer's savings AND its own overhead (ToMe's
bipartite scores, GTP's graph and propagation matmuls, EViT's fusion) are counted by the same code, from
the token counts the live forward really had. Counted: every Linear/Conv (patch embedding, qkv, proj, fc1,
fc2, head) and the two attention matmuls (q k^T and attn v), plus reducers' matmuls; element-wise ops
(softmax, LayerNorm, GELU, adds, sorts) are not, as in fvcore/torchprofile. 1 MAC = 2 FLOPs.

Hand check (no reducer): per block on T tokens of width d with MLP ratio m:
    qkv 3 T d^2 + q k^T T^2 d + attn v T^2 d + proj T d^2 + MLP 2 m T d^2
DeiT-S (d 384, 12 blocks, T 197, patch 16 on 224) gives 4.60 G, DeiT-B 17.56 G, as the papers report.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

_open: list["MacCounter"] = []


@dataclass
class MacCounter:
    by_kind: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def total(self) -> float:
        return float(sum(self.by_kind.values()))


def add(kind: str, macs: float) -> None:
    """Called by modules and reducers with the MACs of the whole batch they just computed."""
    if _open:
        _open[-1].by_kind[kind] += float(macs)


@contextmanager
def counting():
    counter = MacCounter()
    _open.append(counter)
    try:
        yield counter
    finally:
        _open.pop()


@dataclass(frozen=True)
class MacReport:
    macs_per_image: float
    by_kind: dict[str, float]          # per image
    name: str = "tokenworks.methods.vision.macs.count_macs"

    @property
    def gmacs(self) -> float:
        return self.macs_per_image / 1e9


@torch.no_grad()
def count_macs(model: torch.nn.Module, images: torch.Tensor) -> MacReport:
    """MACs per image of one forward of `model` on `images` [B, 3, H, W] (float, already normalised)."""
    with counting() as counter:
        model(images)
    batch = images.shape[0]
    return MacReport(counter.total / batch, {k: v / batch for k, v in counter.by_kind.items()})


def vit_macs_formula(embed_dim: int, depth: int, tokens: int, mlp_ratio: float = 4.0, patches: int | None = None,
                     patch_size: int = 16, in_chans: int = 3, num_classes: int = 1000) -> float:
    """Closed form for an unreduced ViT (the hand count the counter must equal)."""
    d = embed_dim
    block = 4 * tokens * d * d + 2 * tokens * tokens * d + 2 * mlp_ratio * tokens * d * d
    patches = tokens - 1 if patches is None else patches
    return depth * block + patches * in_chans * patch_size**2 * d + d * num_classes
