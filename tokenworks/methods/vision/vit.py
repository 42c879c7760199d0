"""An in-house ViT/DeiT (no timm, no torchvision) with timm's parameter names, so a DeiT state dict loads.

Parameter names (timm `VisionTransformer`, global_pool='token'): patch_embed.proj, cls_token, pos_embed,
blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head. Attention is written out
(q k^T, softmax, attn v) rather than fused, because the reducers read the attention map and add a key bias;
the unreduced model uses the same code path, so "reduction 0 == unpatched" is an exact, bitwise property.

A token reducer is attached with `tokenworks.methods.vision.reducers.apply(model, ...)`: it sets
`model.token_reducer`, and each block then hands its attention map and keys to the reducer between the
attention residual and the MLP (where ToMe and GTP-ViT both act). `remove(model)` detaches it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from tokenworks.errors import UserError
from tokenworks.methods.vision import macs


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 32
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 32
    embed_dim: int = 96
    depth: int = 6
    num_heads: int = 4
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    eps: float = 1e-6            # DeiT's LayerNorm eps
    # 0 = DeiT's patchify (one conv, kernel = stride = patch). > 0 = a small conv stem with this many channels
    # (3x3 s1, 3x3 s2, then proj with kernel = stride = patch/2) before the tokens, as in "Early convolutions
    # help transformers see better": a from-scratch ViT on small glyphs learns in minutes instead of not at all.
    conv_stem: int = 0

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise UserError(f"ViTConfig.image_size={self.image_size} must be a multiple of patch_size={self.patch_size}.")
        if self.conv_stem and self.patch_size % 2:
            raise UserError(f"ViTConfig.patch_size={self.patch_size} must be even with a conv stem.")
        if self.embed_dim % self.num_heads:
            raise UserError(f"ViTConfig.embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads}.")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid**2

    def as_dict(self) -> dict:
        return asdict(self)


DEIT_SMALL = ViTConfig(image_size=224, patch_size=16, num_classes=1000, embed_dim=384, depth=12, num_heads=6)
DEIT_BASE = ViTConfig(image_size=224, patch_size=16, num_classes=1000, embed_dim=768, depth=12, num_heads=12)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.stem = None
        chans, kernel = cfg.in_chans, cfg.patch_size
        if cfg.conv_stem:
            half = cfg.conv_stem // 2
            self.stem = nn.Sequential(nn.Conv2d(cfg.in_chans, half, 3, 1, 1), nn.GELU(),
                                      nn.Conv2d(half, cfg.conv_stem, 3, 2, 1), nn.GELU())
            chans, kernel = cfg.conv_stem, cfg.patch_size // 2
        self.proj = nn.Conv2d(chans, cfg.embed_dim, kernel, kernel)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, N, C]
        x = images
        if self.stem is not None:
            for layer in self.stem:
                x = layer(x)
                if isinstance(layer, nn.Conv2d):
                    macs.add("patch_embed", _conv_macs(layer, x))
        out = self.proj(x)
        macs.add("patch_embed", _conv_macs(self.proj, out))
        return out.flatten(2).transpose(1, 2)


def _conv_macs(conv: nn.Conv2d, out: torch.Tensor) -> int:
    return out.numel() * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]


class Attention(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.scale = (cfg.embed_dim // cfg.num_heads) ** -0.5
        self.qkv = nn.Linear(cfg.embed_dim, 3 * cfg.embed_dim, bias=cfg.qkv_bias)
        self.proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor | None = None, post_softmax=None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, T, C]; key_bias [B, T] added to every query's logits (log token size) or None;
        post_softmax(probs) -> probs (GTP's sparsification) or None.
        -> (out [B, T, C], probs [B, H, T, T], keys [B, H, T, C/H])."""
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        logits = (q * self.scale) @ k.transpose(-2, -1)
        if key_bias is not None:
            logits = logits + key_bias[:, None, None, :]
        probs = logits.softmax(dim=-1)
        if post_softmax is not None:
            probs = post_softmax(probs)
        out = self.proj((probs @ v).transpose(1, 2).reshape(B, T, C))
        macs.add("attention.linear", 4 * B * T * C * C)      # qkv (3) + proj (1)
        macs.add("attention.matmul", 2 * B * T * T * C)      # q k^T and attn v
        return out, probs, k


class Mlp(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        hidden = int(cfg.embed_dim * cfg.mlp_ratio)
        self.fc1 = nn.Linear(cfg.embed_dim, hidden)
        self.fc2 = nn.Linear(hidden, cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C]
        macs.add("mlp", 2 * x.shape[0] * x.shape[1] * self.fc1.in_features * self.fc1.out_features)
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: ViTConfig, index: int):
        super().__init__()
        self.index = index
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.eps)
        self.mlp = Mlp(cfg)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        """x [B, T, C] -> [B, T', C]; `state` is the reducer's per-forward TokenState (None: plain block)."""
        if state is None:
            h, _, _ = self.attn(self.norm1(x))
            x = x + h
        else:
            h, probs, keys = self.attn(self.norm1(x), state.key_bias(), state.post_softmax)
            x = state.reduce(self.index, x + h, probs, keys)
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """DeiT-style ViT: CLS token, learned positional embedding, pre-norm blocks, CLS head."""

    def __init__(self, cfg: ViTConfig = ViTConfig()):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches + 1, cfg.embed_dim))
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.eps)
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)
        self.token_reducer = None       # set by reducers.apply, cleared by reducers.remove
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> [B, 1 + N, C]: CLS first, positional embedding added (the blocks' input X0)."""
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos_embed

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        x = self.embed(images)
        state = self.token_reducer.begin(x, self.cfg) if self.token_reducer is not None else None
        for block in self.blocks:
            x = block(x, state)
        return self.norm(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> logits [B, classes]
        cls = self.forward_features(images)[:, 0]
        macs.add("head", cls.shape[0] * self.head.in_features * self.head.out_features)
        return self.head(cls)


def config_from_state_dict(state_dict: dict[str, torch.Tensor], num_heads: int | None = None,
                           in_chans: int | None = None) -> ViTConfig:
    """Infer a ViTConfig from timm/DeiT parameter shapes (heads cannot be read off shapes: default C // 64)."""
    if "patch_embed.proj.weight" not in state_dict:
        raise UserError("state dict has no 'patch_embed.proj.weight': not a timm/DeiT ViT state dict.")
    embed_dim, chans, patch, _ = state_dict["patch_embed.proj.weight"].shape
    tokens = state_dict["pos_embed"].shape[1]
    grid = int(round((tokens - 1) ** 0.5))
    depth = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("blocks."))
    mlp_hidden = state_dict["blocks.0.mlp.fc1.weight"].shape[0]
    return ViTConfig(image_size=grid * patch, patch_size=patch, in_chans=in_chans or chans,
                     num_classes=state_dict["head.weight"].shape[0], embed_dim=embed_dim, depth=depth,
                     num_heads=num_heads or max(1, embed_dim // 64), mlp_ratio=mlp_hidden / embed_dim,
                     qkv_bias="blocks.0.attn.qkv.bias" in state_dict)


def vit_from_state_dict(state_dict: dict[str, torch.Tensor], num_heads: int | None = None) -> VisionTransformer:
    """A VisionTransformer holding a timm/DeiT state dict (a checkpoint's {'model': ...} is unwrapped).
    Distilled DeiT (dist_token, head_dist) is not supported: those keys are refused, not silently dropped."""
    state_dict = state_dict.get("model", state_dict)
    extra = sorted(k for k in state_dict if k.startswith(("dist_token", "head_dist")))
    if extra:
        raise UserError(f"distilled DeiT weights ({', '.join(extra)}) are not supported; use a non-distilled DeiT.")
    model = VisionTransformer(config_from_state_dict(state_dict, num_heads))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
