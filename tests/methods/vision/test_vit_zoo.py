"""Zoo ViTs: registered with a builder, cached by a recipe hash that covers the generated data."""

from __future__ import annotations

from dataclasses import replace

import torch

from tokenworks.methods.vision.images import SceneSpec, make_images
from tokenworks.zoo.recipes import BUILDERS, ZOO, recipe_hash
from tokenworks.zoo.vit_models import accuracy, load_vit


def test_vit_models_are_registered_and_listed():
    assert all(name in ZOO for name in ("vit-micro", "vit-tiny", "vit-digits"))
    assert all(name in BUILDERS for name in ("vit-micro", "vit-tiny", "vit-digits"))


def test_recipe_hash_covers_the_data_spec():
    recipe = ZOO["vit-tiny"]
    assert recipe_hash(recipe) != recipe_hash(replace(recipe, spec=SceneSpec(num_classes=12)))
    assert recipe_hash(recipe) == recipe_hash(replace(recipe, description="other words"))


def test_micro_builds_loads_and_classifies():
    torch.set_num_threads(1)
    model, meta = load_vit("vit-micro", num_threads=1)
    assert meta["params"] == sum(p.numel() for p in model.parameters())
    assert 0.0 <= meta["val_accuracy"] <= 1.0 and meta["name"] == "vit-micro"
    images, labels = make_images("glyphs", "validation", 200, SceneSpec())
    assert abs(accuracy(model, images, labels) - meta["val_accuracy"]) < 1e-9


def test_curriculum_holds_easy_then_ramps_to_the_full_scenes():
    from tokenworks.zoo.vit_models import ViTRecipe, difficulty

    recipe = ViTRecipe(description="t", steps=100, easy_steps=10, ramp_steps=20)
    levels = [difficulty(recipe, s) for s in range(100)]
    assert levels[:10] == [0.0] * 10 and levels[29:] == [1.0] * 71
    assert all(0 < t < 1 for t in levels[10:29]) and levels[10:30] == sorted(levels[10:30])
    assert difficulty(ViTRecipe(description="t", easy_steps=5, ramp_steps=0), 5) == 1.0
