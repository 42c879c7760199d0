"""SkipDecode fine-tunes of zoo LMs: the parent model trained further with the skip schedule in its forward.

`skipdecode-micro` (from code-lm-micro, seconds; for tests), `skipdecode-tiny` (from code-lm-tiny, a few
CPU-minutes on one core) and `skipdecode-deep-tiny` (from `code-lm-deep-tiny`, an 8-layer d128 parent
registered here: the paper skips within 24-32 layers, and depth is what the speed/quality curve depends on). One fine-tune covers every schedule of the sweep: each step draws one (warm-up,
max, min) budget triple from the recipe's choices (tokenworks.methods.decoding.skipdecode.training). The
recipe hash includes the parent's recipe hash and the data identity, so a retrained parent means a new
fine-tune; the result is cached like any zoo model (`tokenworks zoo build skipdecode-tiny`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tokenworks.errors import UserError
from tokenworks.runtime import configure_threads
from tokenworks.zoo.data import documents, source_id
from tokenworks.zoo.evaluate import bits_per_byte, token_stream
from tokenworks.zoo.recipes import ZOO, Recipe, recipe_hash, register
from tokenworks.zoo.train import write_model_dir


@dataclass(frozen=True)
class SkipDecodeRecipe:
    description: str
    parent: str = "code-lm-tiny"
    warmup_choices: tuple[int, ...] = (0, 1)
    max_choices: tuple[int, ...] = (4,)
    min_choices: tuple[int, ...] = (1, 2, 3)
    decay_tokens: int = 32
    steps: int = 150
    batch: int = 8
    context: int = 256
    prompt_min: int = 32          # prompt length per step, drawn from [prompt_min, prompt_max]
    prompt_max: int = 160
    lr: float = 1e-3
    warmup_steps: int = 10
    train_documents: int = 0      # 0 = the whole train split; else every k-th document, this many
    eval_tokens: int = 16_384
    seed: int = 0
    precision: str = "bf16"

    def hash_extras(self) -> dict:
        return {"parent_recipe_hash": recipe_hash(ZOO[self.parent]), "data": source_id(self.data_source())}

    def data_source(self) -> str:
        return getattr(ZOO[self.parent], "data", "stdlib")

    def schedules(self, num_layers: int):
        """Every valid SkipSchedule of the recipe's choices for a `num_layers`-layer model."""
        from tokenworks.methods.decoding.skipdecode import SkipSchedule

        out = []
        for warmup, top, low in itertools.product(self.warmup_choices, self.max_choices, self.min_choices):
            if warmup < num_layers and max(1, warmup) <= low <= top <= num_layers:
                out.append(SkipSchedule(num_layers, warmup, top, low, self.decay_tokens))
        if not out:
            raise UserError(f"SkipDecodeRecipe for {self.parent!r}: no valid (warmup, max, min) among "
                            f"{self.warmup_choices} x {self.max_choices} x {self.min_choices} for {num_layers} layers.")
        return out


def train_documents(recipe: SkipDecodeRecipe) -> list[str]:
    docs = documents(recipe.data_source(), "train")
    if recipe.train_documents:
        docs = docs[:: max(1, len(docs) // recipe.train_documents)][: recipe.train_documents]
    return docs


def build_skipdecode_model(name: str, recipe: SkipDecodeRecipe, num_threads: int | None = None) -> Path:
    """Fine-tune the parent for the recipe's schedules, evaluate, publish (zoo.json: params, val metrics)."""
    from tokenworks.methods.decoding.skipdecode.training import finetune_for_plans
    from tokenworks.zoo.load import load_lm

    model, tokenizer = load_lm(recipe.parent, device="cpu")
    previous = torch.get_num_threads()
    threads = configure_threads(num_threads)
    try:
        stream = torch.tensor(token_stream(tokenizer, train_documents(recipe)))
        plans = recipe.schedules(model.config.num_hidden_layers)
        stats = finetune_for_plans(
            model, stream, plans, steps=recipe.steps, batch=recipe.batch, context=recipe.context,
            prompt_range=(recipe.prompt_min, recipe.prompt_max), lr=recipe.lr, warmup_steps=recipe.warmup_steps,
            seed=recipe.seed, bf16=recipe.precision == "bf16", desc=f"zoo: fine-tuning {name} for SkipDecode",
        )
        context = model.config.max_position_embeddings
        val_bpb = bits_per_byte(model, tokenizer, documents(recipe.data_source(), "validation"), context,
                                recipe.eval_tokens)
    finally:
        torch.set_num_threads(previous)
    metadata = {
        "recipe": asdict(recipe), "parent": recipe.parent, "parent_recipe_hash": recipe_hash(ZOO[recipe.parent]),
        "params": sum(p.numel() for p in model.parameters()), "threads": threads, **stats,
        "schedules": [s.label() for s in plans],
        "val_bits_per_byte": round(val_bpb, 4),  # all layers, every position (the fine-tune's full-model quality)
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def save(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    return write_model_dir(name, recipe, save, metadata)


SKIPDECODE_MODELS = {
    "skipdecode-micro": SkipDecodeRecipe(
        description="code-lm-micro (2 layers) fine-tuned for SkipDecode schedules; seconds; for tests",
        parent="code-lm-micro", warmup_choices=(0, 1), max_choices=(2,), min_choices=(1, 2), decay_tokens=8,
        steps=30, batch=4, context=64, prompt_min=8, prompt_max=40, lr=1e-3, warmup_steps=2, train_documents=8,
        eval_tokens=2048, precision="fp32",
    ),
    # History (held-out next-token accuracy, greedy parent 34.1%): lr 1e-3 with warm-up 0 and 1 mixed cost the
    # full model 1.8 points and left no-warm-up schedules far behind (w0:4-2 12.0% vs w1:4-2 28.9%), so warm-up 1
    # only (every w1 schedule uses the layer sets {0..3}, {0,2,3}, {0,3}, {0}) and lr 3e-4.
    "skipdecode-tiny": SkipDecodeRecipe(
        description="code-lm-tiny (4 layers) fine-tuned for SkipDecode schedules (warm-up 1, 4 -> 1/2/3 "
        "layers); about 3-6 CPU-minutes on one core",
        warmup_choices=(1,), lr=3e-4,
    ),
}

# A deeper, narrower parent (the paper skips within 24-32 layers; code-lm-tiny has 4): 8 layers of d128,
# 2.1M params. Measured 2.0 s per 16x256 step on a loaded core (~0.7 s quiet): 600 steps fit the 8-minute
# one-quiet-core budget of a tiny zoo model. Weaker than code-lm-tiny (a third of its tokens).
DEEP_PARENT = Recipe(
    description="8-layer d=128 Llama (2.1M params) on stdlib code: a deeper parent for SkipDecode; ~8 min of "
    "one quiet core",
    hidden=128, layers=8, heads=4, kv_heads=4, ffn=344, context=256, steps=600, batch=16, lr=4e-3, warmup=60,
    eval_tokens=32_768, precision="bf16",
)
SKIPDECODE_MODELS["skipdecode-deep-tiny"] = SkipDecodeRecipe(
    description="code-lm-deep-tiny (8 layers) fine-tuned for SkipDecode schedules (warm-up 1, 8 -> 2/4/6 layers)",
    parent="code-lm-deep-tiny", warmup_choices=(1,), max_choices=(8,), min_choices=(2, 4, 6), lr=3e-4,
    eval_tokens=32_768,
)

register("code-lm-deep-tiny", DEEP_PARENT)
for _name, _recipe in SKIPDECODE_MODELS.items():
    register(_name, _recipe, build_skipdecode_model)
