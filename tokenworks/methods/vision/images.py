"""Generated image classification workloads with exact labels, hard enough to tell token reducers apart.

`glyphs` (the main workload): a 32x32 RGB scene whose label is the identity of ONE red glyph (a letter or
digit, about 9-11 px tall, so about 3x3 patches of 4x4 px, near the centre), among distractor glyphs in other
colours, random line clutter (some of it red), a smooth colour-noise background and pixel noise. Many
classes (20 by default, up to 32) with confusable pairs (0/8/B/D, 1/7, 5/6, C/G, E/F) and fine detail: the
information sits in about 9 of 64 tokens, as an object does on ImageNet, so a reducer that drops the wrong
tokens loses accuracy, while background tokens are redundant and can go.

`digits` (second, easy workload): scikit-learn's 8x8 digits upscaled to 16x16 on a 32x32 noisy canvas. A
prototype held 97% under every reducer at 35% fewer MACs on it: keep it as a smoke workload only.

Everything is drawn from a seeded generator, so a (workload, split, size, seed) tuple always gives the same
images; `dataset_identity` names what a zoo recipe hash must cover (including the font's pixels).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace

import numpy as np
import torch

from tokenworks.errors import UserError

# confusable pairs on purpose: the unreduced model should stay clearly below 100%
GLYPH_CHARS = "0123456789ABCDEFGHIJKLMNPQRSTUVZ"   # 32 classes at most
WORKLOADS = ("glyphs", "digits")
SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}
IMAGE_SIZE = 32
TARGET_RGB = (225, 30, 30)
DISTRACTOR_RGB = ((40, 90, 230), (30, 170, 60), (220, 200, 40), (235, 235, 235), (150, 60, 200), (20, 20, 20))


@dataclass(frozen=True)
class SceneSpec:
    """How hard the glyph scenes are; every field changes the images (and so a zoo recipe hash)."""

    num_classes: int = 20
    distractors: tuple[int, int] = (1, 3)      # inclusive range of distractor glyphs per image
    clutter_lines: tuple[int, int] = (2, 4)    # inclusive range of random line segments
    font_sizes: tuple[int, ...] = (12, 14)     # px; the glyph box is about 0.75x this (2-3 patches of 4 px)
    pixel_noise: float = 12.0                  # std of Gaussian pixel noise, 0-255 scale
    background_contrast: float = 50.0          # amplitude of the smooth colour background
    target_jitter: int = 5                     # px the target's box may sit off the image centre (as on ImageNet,
                                               # objects are roughly centred)
    background_spread: float = 1.0             # 1: background mean colour uniform in [60, 190] per channel;
                                               # 0: mid-grey (125); between: scaled towards grey

    def at_difficulty(self, t: float) -> "SceneSpec":
        """The same classes and glyphs with every nuisance scaled by `t` in [0, 1]: at 0 a centred red glyph on a
        flat mid-grey canvas (no distractors, clutter, jitter or noise), at 1 this spec. A from-scratch ViT sits
        at chance for hundreds of steps on the full scenes (its CLS first sees only the mean patch, dominated by
        the background); on the t = 0 scenes it leaves chance in ~60 steps, and a linear ramp of t carries it
        to the full scenes (the training curriculum of tokenworks.zoo.vit_models)."""
        t = min(max(float(t), 0.0), 1.0)
        if t == 1.0:
            return self
        scaled = lambda pair: (int(round(t * pair[0])), int(round(t * pair[1])))  # noqa: E731
        return replace(self, distractors=scaled(self.distractors), clutter_lines=scaled(self.clutter_lines),
                       pixel_noise=t * self.pixel_noise, background_contrast=t * self.background_contrast,
                       background_spread=t * self.background_spread, target_jitter=int(round(t * self.target_jitter)))

    def check(self) -> None:
        if not 2 <= self.num_classes <= len(GLYPH_CHARS):
            raise UserError(f"SceneSpec.num_classes={self.num_classes} must be in [2, {len(GLYPH_CHARS)}].")


@functools.cache
def glyph_bank(font_size: int) -> tuple[np.ndarray, ...]:
    """Antialiased coverage masks [h, w] float in [0, 1], one per GLYPH_CHARS entry, tightly cropped."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=font_size)
    masks = []
    for ch in GLYPH_CHARS:
        canvas = Image.new("L", (font_size * 2, font_size * 2), 0)
        ImageDraw.Draw(canvas).text((2, 0), ch, fill=255, font=font)
        arr = np.asarray(canvas, dtype=np.float32) / 255.0
        rows, cols = np.nonzero(arr > 0.05)
        masks.append(arr[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1].copy())
    return tuple(masks)


def dataset_identity(workload: str, spec: SceneSpec = SceneSpec()) -> dict:
    """What the images depend on: the workload, the spec and a checksum of the glyph pixels (font version)."""
    ident: dict = {"workload": workload, "format": 1}
    if workload == "glyphs":
        digest = hashlib.sha256()
        for size in spec.font_sizes:
            for mask in glyph_bank(size):
                digest.update(np.round(mask * 255).astype(np.uint8).tobytes())
        ident.update(spec=repr(spec), glyphs=digest.hexdigest()[:12])
    return ident


def make_images(workload: str, split: str, n: int, spec: SceneSpec = SceneSpec(), seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (images [n, 3, 32, 32] uint8, labels [n] long). Splits use disjoint seeds."""
    if workload not in WORKLOADS:
        raise UserError(f"workload={workload!r} is not known; allowed: {', '.join(WORKLOADS)}.")
    if split not in SPLIT_SEEDS:
        raise UserError(f"split={split!r} is not known; allowed: {', '.join(SPLIT_SEEDS)}.")
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], 6])
    if workload == "digits":
        images, labels = _digit_canvases(split, n, rng)
    else:
        spec.check()
        images, labels = _glyph_scenes(n, spec, rng)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels).long()


def num_classes(workload: str, spec: SceneSpec = SceneSpec()) -> int:
    return 10 if workload == "digits" else spec.num_classes


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float in about [-1, 1] (the model's input)."""
    return images.float().div(127.5).sub(1.0)


# --- glyph scenes ----------------------------------------------------------------------------------------


def _glyph_scenes(n: int, spec: SceneSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, spec.num_classes, size=n)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i in range(n):
        images[i] = _one_scene(int(labels[i]), spec, rng)
    return images, labels


def _one_scene(label: int, spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    canvas = _background(spec, rng)
    _draw_lines(canvas, rng, int(rng.integers(spec.clutter_lines[0], spec.clutter_lines[1] + 1)))
    for _ in range(int(rng.integers(spec.distractors[0], spec.distractors[1] + 1))):
        colour = DISTRACTOR_RGB[int(rng.integers(len(DISTRACTOR_RGB)))]
        _paste_glyph(canvas, int(rng.integers(len(GLYPH_CHARS))), colour, spec, rng)
    target = np.clip(np.array(TARGET_RGB) + rng.normal(0, 15, 3), 0, 255)
    _paste_glyph(canvas, label, tuple(target), spec, rng, jitter=spec.target_jitter)
    _draw_lines(canvas, rng, int(rng.integers(0, 2)), width_one=True)  # thin occluders over the target
    canvas += rng.normal(0, spec.pixel_noise, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _background(spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    """Smooth colour noise: a random 4x4x3 grid upsampled bilinearly to 32x32, around a random mean colour."""
    grid = rng.uniform(-1, 1, (4, 4, 3))
    t = np.linspace(0, 3, IMAGE_SIZE)
    i0 = np.minimum(t.astype(int), 2)
    f = (t - i0)[:, None]
    rows = grid[i0] * (1 - f[..., None]) + grid[i0 + 1] * f[..., None]          # [32, 4, 3]
    cols = rows[:, i0] * (1 - f.T[..., None]) + rows[:, i0 + 1] * f.T[..., None]  # [32, 32, 3]
    mean = rng.uniform(60, 190, 3)
    if spec.background_spread != 1.0:       # (1.0 keeps the arithmetic, so the full scenes are bit-for-bit unchanged)
        mean = 125.0 + spec.background_spread * (mean - 125.0)
    return mean + spec.background_contrast * cols


def _draw_lines(canvas: np.ndarray, rng: np.random.Generator, count: int, width_one: bool = False) -> None:
    for _ in range(count):
        x0, y0, x1, y1 = rng.uniform(0, IMAGE_SIZE - 1, 4)
        colour = rng.uniform(0, 255, 3) if rng.random() > 0.25 else np.array(TARGET_RGB, float)
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.round(np.linspace(x0, x1, steps)).astype(int)
        ys = np.round(np.linspace(y0, y1, steps)).astype(int)
        canvas[ys, xs] = colour
        if not width_one and rng.random() < 0.5:
            canvas[np.minimum(ys + 1, IMAGE_SIZE - 1), xs] = colour


def _paste_glyph(canvas: np.ndarray, index: int, colour, spec: SceneSpec, rng: np.random.Generator,
                 jitter: int | None = None) -> None:
    """Anywhere on the canvas, or (with `jitter`) within `jitter` px of the centred position."""
    mask = glyph_bank(spec.font_sizes[int(rng.integers(len(spec.font_sizes)))])[index]
    h, w = mask.shape
    if jitter is None:
        y, x = int(rng.integers(0, IMAGE_SIZE - h + 1)), int(rng.integers(0, IMAGE_SIZE - w + 1))
    else:
        y = int(np.clip((IMAGE_SIZE - h) // 2 + rng.integers(-jitter, jitter + 1), 0, IMAGE_SIZE - h))
        x = int(np.clip((IMAGE_SIZE - w) // 2 + rng.integers(-jitter, jitter + 1), 0, IMAGE_SIZE - w))
    region = canvas[y: y + h, x: x + w]
    region[:] = region * (1 - mask[..., None]) + np.asarray(colour, float) * mask[..., None]


# --- digits on a canvas -----------------------------------------------------------------------------------


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images.astype(np.float32) / 16.0, data.target.astype(np.int64)


def _digit_canvases(split: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Held-out digits for validation/test (the last 360), the rest for training; 16x16 on a noisy canvas."""
    pixels, targets = _digits()
    pool = np.arange(len(targets) - 360) if split == "train" else np.arange(len(targets) - 360, len(targets))
    pick = rng.choice(pool, size=n)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i, j in enumerate(pick):
        big = np.kron(pixels[j], np.ones((2, 2), np.float32))            # 16x16, nearest upsampling
        canvas = rng.uniform(0, 90, (IMAGE_SIZE, IMAGE_SIZE, 1)).repeat(3, axis=2)
        y, x = rng.integers(0, IMAGE_SIZE - 16 + 1, 2)
        canvas[y: y + 16, x: x + 16] = np.maximum(canvas[y: y + 16, x: x + 16], 255 * big[..., None])
        images[i] = canvas.astype(np.uint8)
    return images, targets[pick]
