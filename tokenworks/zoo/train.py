"""Train one zoo recipe into a Hugging Face directory (model + tokenizer + zoo.json), atomically.

The result is a plain `LlamaForCausalLM` saved with `save_pretrained`, so it loads through the same path as
any Hugging Face model. Training is a fixed number of steps from a fixed seed: the same recipe on the same
machine and thread count gives the same weights.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from tokenworks.runtime import configure_threads
from tokenworks.zoo import paths
from tokenworks.zoo.data import documents
from tokenworks.zoo.evaluate import bits_per_byte, token_stream
from tokenworks.zoo.prompts import code_prompts
from tokenworks.zoo.quality import greedy_diversity
from tokenworks.zoo.recipes import Recipe, recipe_hash
from tokenworks.zoo.tokenizer import load_tokenizer, publish
from tokenworks.zoo.unlikelihood import continuation_unlikelihood, greedy_rollouts, repeated_ngram_mask

METADATA_FILE = "zoo.json"
# the variety check every causal-LM build runs (validation prompts, so the test prompts stay unseen)
VARIETY_PROMPTS, VARIETY_TOKENS = 30, 128


def model_dir(name: str, recipe: Any) -> Path:
    return paths.models_dir() / f"{name}-{recipe_hash(recipe)}"


def llama_config(recipe: Recipe, tokenizer) -> LlamaConfig:
    eos = tokenizer.eos_token_id
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden,
        intermediate_size=recipe.ffn,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.kv_heads,
        max_position_embeddings=recipe.context,
        tie_word_embeddings=True,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
        torch_dtype="float32",
    )


def learning_rate(recipe: Recipe, step: int) -> float:
    """Linear warmup over `warmup` steps, then constant or cosine down to lr * min_lr_ratio."""
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    if recipe.schedule == "constant":
        return recipe.lr
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    floor = recipe.lr * recipe.min_lr_ratio
    return floor + 0.5 * (recipe.lr - floor) * (1 + math.cos(math.pi * progress))


def sample_batch(stream: torch.Tensor, batch: int, context: int, generator: torch.Generator) -> torch.Tensor:
    """[batch, context + 1] random windows of `stream` ([N] token ids of the whole split)."""
    starts = torch.randint(0, len(stream) - context - 1, (batch,), generator=generator)
    return torch.stack([stream[s : s + context + 1] for s in starts.tolist()])


def train_model(recipe: Recipe, tokenizer, name: str = "model") -> tuple[LlamaForCausalLM, dict]:
    """Returns the trained model (eval mode) and training statistics."""
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(llama_config(recipe, tokenizer))
    model.train()
    stream = torch.tensor(token_stream(tokenizer, documents(recipe.data, "train")))
    generator = torch.Generator().manual_seed(recipe.seed)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.95),
    )
    tokens_per_step = recipe.batch * recipe.context
    started = time.perf_counter()
    bar = tqdm(range(recipe.steps), desc=f"zoo: training {name}", file=sys.stderr, unit="step")
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(recipe, step)
        window = sample_batch(stream, recipe.batch, recipe.context, generator)
        loss = window_loss(model, window, recipe.precision == "bf16")
        optimizer_step(model, optimizer, loss)
        elapsed = time.perf_counter() - started
        bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{tokens_per_step * (step + 1) / elapsed:.0f}")
    model.eval()
    stats = {
        "train_seconds": round(time.perf_counter() - started, 1),
        "tokens_seen": tokens_per_step * recipe.steps,
        "final_train_loss": round(loss.item(), 4),
        "train_tokens_available": len(stream),
    }
    if recipe.unlikelihood is not None:
        stats.update(unlikelihood_phase(model, stream, recipe, generator, name))
        stats["train_seconds"] = round(time.perf_counter() - started, 1)
    return model, stats


def window_loss(model, window: torch.Tensor, bf16: bool) -> torch.Tensor:
    """Next-token cross-entropy over window [B, T+1] (fp32 loss; matmuls under bf16 autocast if asked)."""
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=window[:, :-1]).logits  # [B, T, V]
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))


def optimizer_step(model, optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def unlikelihood_phase(model, stream: torch.Tensor, recipe: Recipe, generator: torch.Generator, name: str) -> dict:
    """The recipe's UnlikelihoodPhase on `model` in place (stream [N]: the training split's ids). Each step:
    cross-entropy on a batch of real windows + weight x unlikelihood on the model's own greedy rollouts.
    Statistics include the rollouts' repeated-n-gram share over the first and last tenth of the steps."""
    phase, bf16 = recipe.unlikelihood, recipe.precision == "bf16"
    optimizer = torch.optim.AdamW(model.parameters(), lr=phase.lr, betas=(0.9, 0.95), weight_decay=0.1)
    model.train()
    started, repeat_shares = time.perf_counter(), []
    bar = tqdm(range(phase.steps), desc=f"zoo: unlikelihood phase of {name}", file=sys.stderr, unit="step")
    for _ in bar:
        window = sample_batch(stream, recipe.batch, recipe.context, generator)  # [B, context + 1]
        prefixes = sample_batch(stream, phase.batch, phase.prefix - 1, generator)  # [b, prefix]
        rollouts = greedy_rollouts(model, prefixes, phase.rollout_tokens)  # [b, R], fp32, no gradients
        penalised = repeated_ngram_mask(rollouts, phase.ngram)  # [b, R]
        # one autocast region: both forwards share the bf16 weight copies (and accumulate their gradients there)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
            mle = window_loss(model, window, bf16)
            unlikelihood = continuation_unlikelihood(model, prefixes, rollouts, penalised)
        optimizer_step(model, optimizer, mle + phase.weight * unlikelihood)
        repeat_shares.append(penalised.float().mean().item())
        bar.set_postfix(mle=f"{mle.item():.3f}", repeats=f"{repeat_shares[-1]:.2f}")
    model.eval()
    tenth = max(1, len(repeat_shares) // 10)
    return {
        "unlikelihood_seconds": round(time.perf_counter() - started, 1),
        "rollout_repeat_share_first": round(sum(repeat_shares[:tenth]) / tenth, 4),
        "rollout_repeat_share_last": round(sum(repeat_shares[-tenth:]) / tenth, 4),
    }


def build_model(name: str, recipe: Recipe, num_threads: int | None = None) -> Path:
    """Train, evaluate and publish `name` under its recipe hash; returns the directory."""
    previous_threads = torch.get_num_threads()
    threads = configure_threads(num_threads)
    try:
        tokenizer = load_tokenizer(recipe.tokenizer)
        model, stats = train_model(recipe, tokenizer, name)
        evaluation = {
            f"{split}_bits_per_byte": round(
                bits_per_byte(model, tokenizer, documents(recipe.data, split), recipe.context, recipe.eval_tokens), 4
            )
            for split in ("validation", "test")
        }
        variety = greedy_diversity(model, tokenizer, code_prompts(tokenizer, VARIETY_PROMPTS, split="validation"),
                                   max_new_tokens=VARIETY_TOKENS)
    finally:
        torch.set_num_threads(previous_threads)
    metadata = {
        "name": name,
        "recipe": asdict(recipe),
        "recipe_hash": recipe_hash(recipe),
        "params": sum(p.numel() for p in model.parameters()),
        "threads": threads,
        **stats,
        "val_bits_per_byte": evaluation["validation_bits_per_byte"],
        "test_bits_per_byte": evaluation["test_bits_per_byte"],
        # greedy continuations of held-out function bodies: does the model write varied code or loop?
        "val_greedy_distinct_4gram": round(variety, 4),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def save(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    return write_model_dir(name, recipe, save, metadata)


def write_model_dir(name: str, recipe: Any, save: Callable[[Path], None], metadata: dict) -> Path:
    """Publish a built zoo model atomically: `save(staging_dir)` writes the files, then zoo.json (`metadata`
    plus name and recipe hash) is added and the folder is renamed into place. Any zoo builder ends here, so
    a half-written model is never found by `built_dir`."""
    target = model_dir(name, recipe)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=target.parent))
    try:
        save(staging)
        full = {"name": name, "recipe_hash": recipe_hash(recipe), **metadata}
        (staging / METADATA_FILE).write_text(json.dumps(full, indent=2, default=str))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(staging, target)
    return target
