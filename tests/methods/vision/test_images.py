"""Generated workloads: exact labels, deterministic per seed, disjoint splits, the shapes the ViT expects."""

from __future__ import annotations

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.methods.vision.images import SceneSpec, dataset_identity, make_images, normalize


@pytest.mark.parametrize("workload,classes", [("glyphs", 20), ("digits", 10)])
def test_images_are_deterministic_and_labelled(workload, classes):
    images, labels = make_images(workload, "test", 40)
    again, labels_again = make_images(workload, "test", 40)
    other, _ = make_images(workload, "validation", 40)
    assert images.shape == (40, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images, again) and torch.equal(labels, labels_again)
    assert not torch.equal(images, other)
    assert labels.min() >= 0 and labels.max() < classes
    x = normalize(images)
    assert x.min() >= -1 and x.max() <= 1


def test_the_target_glyph_is_red_and_near_the_centre():
    spec = SceneSpec(distractors=(0, 0), clutter_lines=(0, 0), pixel_noise=0.0, background_contrast=0.0)
    images, _ = make_images("glyphs", "train", 20, spec)
    img = images.float()
    red = (img[:, 0] > 150) & (img[:, 1] < 100) & (img[:, 2] < 100)        # [N, 32, 32]
    ys, xs = torch.nonzero(red, as_tuple=True)[1:]
    assert red.flatten(1).sum(1).min() > 5                                   # every image has its glyph
    assert ys.float().mean().sub(15.5).abs() < 4 and xs.float().mean().sub(15.5).abs() < 4


def test_identity_changes_with_the_spec_and_bad_input_is_refused():
    assert dataset_identity("glyphs") != dataset_identity("glyphs", SceneSpec(num_classes=10))
    with pytest.raises(UserError, match="workload"):
        make_images("faces", "test", 2)
    with pytest.raises(UserError, match="num_classes"):
        make_images("glyphs", "test", 2, SceneSpec(num_classes=99))


def test_difficulty_zero_is_a_centred_glyph_on_grey_and_one_is_the_spec():
    spec = SceneSpec()
    assert spec.at_difficulty(1.0) == spec and spec.at_difficulty(7) == spec
    easy = spec.at_difficulty(0.0)
    assert easy.distractors == (0, 0) and easy.clutter_lines == (0, 0) and easy.target_jitter == 0
    images, _ = make_images("glyphs", "train", 16, easy)
    img = images.float()
    red = (img[:, 0] > 150) & (img[:, 1] < 100) & (img[:, 2] < 100)        # [N, 32, 32]
    grey = (img == 125).all(dim=1).flatten(1).float().mean(1)               # [N] share of plain mid-grey pixels
    assert grey.min() > 0.6                                                  # flat canvas: no noise, no background
    ys, xs = torch.nonzero(red, as_tuple=True)[1:]
    assert ys.float().mean().sub(15.5).abs() < 3 and xs.float().mean().sub(15.5).abs() < 3   # centred, no jitter
    assert red.flatten(1).sum(1).min() > 5
    half = spec.at_difficulty(0.5)
    assert 0 < half.pixel_noise < spec.pixel_noise and 0 < half.background_spread < 1
    assert not torch.equal(make_images("glyphs", "train", 4, half)[0], make_images("glyphs", "train", 4, spec)[0])
