"""What each zoo model is: a frozen recipe (tokenizer, data, model dims, schedule, seed) and its hash.

A built model lives in the cache under its recipe hash, so changing any field builds a new model instead of
silently reusing an old one. Adding a zoo model is adding a `Recipe` to `ZOO` (or calling `register`); the
training code reads everything it needs from the recipe.
"""

from __future__ import annotations

import hashlib
import json
import importlib
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from tokenworks.errors import UserError
from tokenworks.zoo.data import source_id
from tokenworks.zoo.tokenizer import TokenizerRecipe, tokenizer_hash

SCHEDULES = ("cosine", "constant")
PRECISIONS = ("fp32", "bf16")

# One shared tokenizer for every code-lm-* model, so any of them can draft for any other.
CODE_TOKENIZER = TokenizerRecipe(vocab_size=4096, data="stdlib")


@dataclass(frozen=True)
class UnlikelihoodPhase:
    """A fine-tuning phase after maximum-likelihood training that penalises the model's own greedy loops
    (sequence-level unlikelihood, Welleck et al. 2020; see tokenworks.zoo.unlikelihood). Each step is one
    maximum-likelihood batch of the recipe's size plus `weight` x the unlikelihood loss on `batch` greedy
    rollouts of `rollout_tokens` tokens from `prefix`-token windows of the training split."""

    steps: int = 100
    lr: float = 3e-4  # constant; the main schedule has already decayed
    weight: float = 1.0
    batch: int = 8
    prefix: int = 64
    rollout_tokens: int = 128
    ngram: int = 4

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "prefix", "rollout_tokens"):
            if getattr(self, name) < 1:
                raise UserError(f"UnlikelihoodPhase.{name}={getattr(self, name)!r} must be >= 1.")
        if self.ngram < 2:
            raise UserError(f"UnlikelihoodPhase.ngram={self.ngram!r} must be >= 2.")
        if self.lr <= 0 or self.weight < 0:
            raise UserError(f"UnlikelihoodPhase: lr={self.lr!r} must be > 0 and weight={self.weight!r} >= 0.")


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
    unlikelihood: UnlikelihoodPhase | None = None  # None: maximum likelihood only
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


def recipe_hash(recipe: Any) -> str:
    """12 hex digits over every field that changes the weights or the metrics (not the description)."""
    if not isinstance(recipe, Recipe):
        return _other_recipe_hash(recipe)
    fields = asdict(recipe)
    fields.pop("description")
    fields.pop("tags")
    if fields["precision"] == "fp32":  # the default before the field existed: keeps earlier hashes valid
        fields.pop("precision")
    if fields["unlikelihood"] is None:  # likewise for recipes without an unlikelihood phase
        fields.pop("unlikelihood")
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
        description="4-layer d=256 Llama (4.2M params) on stdlib code, maximum likelihood then an unlikelihood "
        "phase against greedy loops; the default; ~20 min of 2 quiet CPU cores",
        # Calibrated on 2 quiet cores (one 16x256-token AdamW step, fp32): d256/L4 4.2M params 0.88 s, d192/L6
        # 3.4M 0.83 s, d192/L4 2.6M 0.60 s, d256/L6 5.8M 1.44 s; wider-shallower got the most parameters per
        # second. bf16 autocast brings d256/L4 to 0.575 s. History of the maximum-likelihood-only recipe
        # (greedy distinct-4-gram share on held-out prompts, 128 tokens; the bar is 0.6): 1000 steps lr 2e-3
        # fp32 -> val 1.408 bits/byte, 0.215; 1200 steps lr 4e-3 -> 1.390, 0.361; 2000 bf16 steps -> 1.312,
        # 0.333 (30 test prompts); +400 annealing steps -> 1.282 but 0.303. Lower loss did not cure the loops;
        # 100 unlikelihood steps on that 2000-step model -> 0.763 on validation prompts at 1.347 bits/byte
        # (150: 0.760 at 1.345). 1800 + 120 unlikelihood steps (378d75de74d5) built in 23.3 min: val 1.347
        # bits/byte, 0.79 on validation prompts, 0.74 on test. Fitted to the 20-minute budget (0.66 s per
        # maximum-likelihood step and 1.7 s per unlikelihood step measured in that build): 1500 + 100 ->
        # 4566db30eb82, 18.6 min, val 1.386 bits/byte, 0.76 on validation prompts, 0.77 on the test prompts.
        hidden=256,
        layers=4,
        heads=4,
        kv_heads=4,
        ffn=688,
        context=256,
        steps=1500,
        batch=16,
        lr=4e-3,
        warmup=100,
        eval_tokens=32_768,
        precision="bf16",
        unlikelihood=UnlikelihoodPhase(steps=100, lr=3e-4, weight=1.0, batch=8, prefix=64, rollout_tokens=128),
    ),
}


def _other_recipe_hash(recipe: Any) -> str:
    """The hash of a recipe that is not a causal-LM `Recipe` (a ViT, a diffusion LM, a fine-tune of another zoo
    model): every dataclass field except description/tags, the class name, tokenizer hashes of
    `TokenizerRecipe` fields, and whatever `recipe.hash_extras()` adds (data identities, a parent model's hash)."""
    if not is_dataclass(recipe):
        raise TypeError(f"a zoo recipe must be a dataclass, got {type(recipe).__name__}")
    payload: dict[str, Any] = {"kind": type(recipe).__name__, "format": 1}
    for key, value in asdict(recipe).items():
        if key in ("description", "tags"):
            continue
        payload[key] = value
    for key in vars(recipe) if hasattr(recipe, "__dict__") else ():
        value = getattr(recipe, key)
        if isinstance(value, TokenizerRecipe):
            payload[f"{key}_hash"] = tokenizer_hash(value)
    extras = getattr(recipe, "hash_extras", None)
    if callable(extras):
        payload["extras"] = extras()
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


# name -> builder(name, recipe, num_threads) -> Path, for zoo models that are not plain causal-LM recipes;
# a builder trains and writes the directory with tokenworks.zoo.train.write_model_dir (zoo.json included)
BUILDERS: dict[str, Any] = {}


def register(name: str, recipe: Any, builder: Any = None) -> None:
    """Add a zoo model. A `Recipe` trains with the shared causal-LM trainer; any other dataclass recipe needs
    its own `builder(name, recipe, num_threads) -> Path`."""
    if not isinstance(recipe, Recipe) and builder is None:
        raise TypeError(f"zoo model {name!r}: a {type(recipe).__name__} recipe needs a builder")
    ZOO[name] = recipe
    if builder is not None:
        BUILDERS[name] = builder
    else:
        BUILDERS.pop(name, None)


# Modules that register further zoo models when imported (ViTs, diffusion LMs, task LMs, fine-tunes). They are
# imported on first use of the zoo by name (`ensure_extensions`), so `tokenworks zoo list` shows every model.
EXTENSIONS: tuple[str, ...] = (
    "tokenworks.zoo.skipdecode_models",   # SkipDecode fine-tunes
    "tokenworks.zoo.task_models",         # small/large task LMs for R2R and S2D, the sorted draft
    "tokenworks.zoo.diffusion_models",    # masked-diffusion LMs and their AR guide
    "tokenworks.zoo.vit_models",          # ViT/DeiT on generated images
)
_loaded = False


def ensure_extensions() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in EXTENSIONS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a module that exists but fails inside is a real error
                raise


