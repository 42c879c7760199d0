"""The in-house ViT: timm/DeiT parameter names load, and the MACs counter equals a hand count."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.methods.vision.macs import count_macs, vit_macs_formula
from tokenworks.methods.vision.vit import DEIT_SMALL, ViTConfig, VisionTransformer, vit_from_state_dict

SMALL = ViTConfig(image_size=32, patch_size=4, num_classes=7, embed_dim=24, depth=2, num_heads=3)


def timm_style_state_dict(cfg: ViTConfig) -> dict[str, torch.Tensor]:
    """A state dict written out by hand with timm's DeiT names and shapes (not produced by our module)."""
    g = torch.Generator().manual_seed(0)
    d, hidden, n = cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio), cfg.num_patches
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.05  # noqa: E731
    sd = {"cls_token": r(1, 1, d), "pos_embed": r(1, n + 1, d),
          "patch_embed.proj.weight": r(d, 3, cfg.patch_size, cfg.patch_size), "patch_embed.proj.bias": r(d),
          "norm.weight": 1 + r(d), "norm.bias": r(d), "head.weight": r(cfg.num_classes, d), "head.bias": r(cfg.num_classes)}
    for i in range(cfg.depth):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + r(d), p + "norm1.bias": r(d), p + "attn.qkv.weight": r(3 * d, d),
                   p + "attn.qkv.bias": r(3 * d), p + "attn.proj.weight": r(d, d), p + "attn.proj.bias": r(d),
                   p + "norm2.weight": 1 + r(d), p + "norm2.bias": r(d), p + "mlp.fc1.weight": r(hidden, d),
                   p + "mlp.fc1.bias": r(hidden), p + "mlp.fc2.weight": r(d, hidden), p + "mlp.fc2.bias": r(d)})
    return sd


def test_a_timm_named_state_dict_loads_and_is_used():
    sd = timm_style_state_dict(SMALL)
    model = vit_from_state_dict({"model": sd}, num_heads=3)       # DeiT checkpoints wrap the weights in "model"
    assert model.cfg == SMALL
    assert set(model.state_dict()) == set(sd)
    assert torch.equal(model.blocks[1].mlp.fc2.weight, sd["blocks.1.mlp.fc2.weight"])
    images = torch.randn(2, 3, 32, 32)
    out = model(images)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    sd2 = dict(sd, **{"head.bias": sd["head.bias"] + 1.0})
    assert torch.allclose(vit_from_state_dict(sd2, num_heads=3)(images), out + 1.0, atol=1e-5)


def test_distilled_or_foreign_state_dicts_are_refused_with_a_message():
    sd = timm_style_state_dict(SMALL)
    with pytest.raises(UserError, match="dist_token"):
        vit_from_state_dict({**sd, "dist_token": torch.zeros(1, 1, 24)})
    with pytest.raises(UserError, match="patch_embed"):
        vit_from_state_dict({"fc.weight": torch.zeros(2, 2)})


def test_macs_counter_equals_the_hand_count():
    model = VisionTransformer(SMALL).eval()
    report = count_macs(model, torch.randn(3, 3, 32, 32))
    d, t = 24, 65
    hand = 2 * (3 * t * d * d + 2 * t * t * d + t * d * d + 2 * 4 * t * d * d) + 64 * 3 * 16 * d + d * 7
    assert report.macs_per_image == hand == vit_macs_formula(24, 2, 65, patch_size=4, num_classes=7)
    assert report.by_kind["attention.matmul"] == 2 * 2 * t * t * d


def test_macs_counter_gives_the_papers_deit_small_number():
    assert round(vit_macs_formula(384, 12, 197) / 1e9, 2) == 4.60
    assert round(vit_macs_formula(768, 12, 197) / 1e9, 2) == 17.56
    one_block = replace(DEIT_SMALL, depth=1)    # DeiT-S shapes, one block: the counter on real sizes, quickly
    with torch.device("meta"):                  # no memory, no compute: the counter only needs the shapes
        report = count_macs(VisionTransformer(one_block).eval(), torch.empty(1, 3, 224, 224))
    assert report.macs_per_image == vit_macs_formula(384, 1, 197)


def test_conv_stem_counts_its_convolutions():
    cfg = ViTConfig(embed_dim=16, depth=1, num_heads=2, num_classes=3, conv_stem=8)
    report = count_macs(VisionTransformer(cfg).eval(), torch.randn(1, 3, 32, 32))
    stem = 32 * 32 * 4 * 3 * 9 + 16 * 16 * 8 * 4 * 9 + 64 * 16 * 8 * 4
    assert report.by_kind["patch_embed"] == stem


def test_bad_configs_name_the_field():
    with pytest.raises(UserError, match="patch_size"):
        ViTConfig(image_size=30, patch_size=4)
    with pytest.raises(UserError, match="num_heads"):
        ViTConfig(embed_dim=10, num_heads=4)


def test_images_per_second_fills_the_stated_batch():
    from tokenworks.methods.vision.throughput import images_per_second

    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x.shape[0])
            return x

    rate = images_per_second(Probe(), torch.randn(3, 3, 8, 8), batch_size=8, warmup=2, repeats=3)
    assert rate > 0 and seen == [8] * 5
