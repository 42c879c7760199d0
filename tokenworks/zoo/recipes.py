"""What each zoo model is: a frozen recipe (tokenizer, data, model dims, schedule, seed) and its hash.

A built model lives in the cache under its recipe hash, so changing any field builds a new model instead of
silently reusing an old one. Adding a zoo model is adding a `Recipe` to `ZOO` (or calling `register`); the
training code reads everything it needs from the recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from tokenworks.errors import UserError
from tokenworks.zoo.data import source_id
from tokenworks.zoo.tokenizer import TokenizerRecipe, tokenizer_hash

SCHEDULES = ("cosine", "constant")
PRECISIONS = ("fp32", "bf16")

# One shared tokenizer for every code-lm-* model, so any of them can draft for any other.
CODE_TOKENIZER = TokenizerRecipe(vocab_size=4096, data="stdlib")


@dataclass(frozen=True)
class Recipe:
    description: str
    tokenizer: TokenizerRecipe = CODE_TOKENIZER
    data: str = "stdlib"  # a name in tokenworks.zoo.data.DATA_SOURCES
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 4
    ffn: int = 192
    context: int = 128
    steps: int = 150
    batch: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # the cosine schedule ends at lr * min_lr_ratio
    warmup: int = 20
    schedule: str = "cosine"  # "cosine" | "constant" (both after linear warmup)
    weight_decay: float = 0.1
    seed: int = 0
    eval_tokens: int = 32_768  # cap on validation/test tokens scored for bits per byte
    # "bf16": matmuls under CPU/GPU autocast, fp32 master weights and fp32 loss. On this machine's AVX-512-BF16
    # cores a training step ran 1.6x faster (0.575 s vs 0.938 s per 16x256 step, 2 threads): more tokens in
    # the same 20 minutes. Saved weights and evaluation stay fp32.
    precision: str = "fp32"
    tags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise UserError(f"Recipe.schedule={self.schedule!r} is not allowed; allowed: {', '.join(SCHEDULES)}.")
        if self.precision not in PRECISIONS:
            raise UserError(f"Recipe.precision={self.precision!r} is not allowed; allowed: {', '.join(PRECISIONS)}.")
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise UserError(
                f"Recipe: hidden={self.hidden} must be divisible by heads={self.heads}, "
                f"and heads by kv_heads={self.kv_heads}."
            )
        for name in ("hidden", "layers", "ffn", "context", "steps", "batch", "warmup", "eval_tokens"):
            if getattr(self, name) < 1:
                raise UserError(f"Recipe.{name}={getattr(self, name)!r} must be >= 1.")


def recipe_hash(recipe: Recipe) -> str:
    """12 hex digits over every field that changes the weights or the metrics (not the description)."""
    fields = asdict(recipe)
    fields.pop("description")
    fields.pop("tags")
    if fields["precision"] == "fp32":  # the default before the field existed: keeps earlier hashes valid
        fields.pop("precision")
    payload = {
        **fields,
        "tokenizer_hash": tokenizer_hash(recipe.tokenizer),
        "data_source": source_id(recipe.data),
        "format": 1,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


ZOO: dict[str, Recipe] = {
    "code-lm-micro": Recipe(
        description="2-layer d=64 Llama on stdlib code; builds in seconds; for tests, quality irrelevant",
        hidden=64,
        layers=2,
        heads=4,
        kv_heads=4,
        ffn=192,
        context=128,
        steps=150,
        batch=16,
        lr=3e-3,
        warmup=20,
        eval_tokens=8_192,
        tags=("test",),
    ),
    "code-lm-tiny": Recipe(
        description="4-layer d=256 Llama (4.2M params) on stdlib code; the default; ~20 min of 2 quiet CPU cores",
        # Calibrated on 2 quiet cores (one 16x256-token AdamW step, fp32): d256/L4 4.2M params 0.88 s, d192/L6
        # 3.4M 0.83 s, d192/L4 2.6M 0.60 s, d256/L6 5.8M 1.44 s; wider-shallower got the most parameters per
        # second. bf16 autocast brings d256/L4 to 0.575 s, so 2000 steps (8.2M tokens, ~3 epochs of the
        # 2.7M-token train split) fit 20 minutes. History: 1000 steps lr 2e-3 fp32 -> val 1.408 bits/byte,
        # greedy distinct-4-gram 0.215; 1200 steps lr 4e-3 -> 1.390, 0.361 (loops: not good enough, the loss
        # was still falling). A new value = a new recipe hash.
        hidden=256,
        layers=4,
        heads=4,
        kv_heads=4,
        ffn=688,
        context=256,
        steps=2000,
        batch=16,
        lr=4e-3,
        warmup=100,
        eval_tokens=32_768,
        precision="bf16",
    ),
}


def register(name: str, recipe: Recipe) -> None:
    """Add a zoo model (later issues: other sizes, other data sources)."""
    ZOO[name] = recipe
