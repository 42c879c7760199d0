"""Task LMs for R2R and S2D: small and large causal LMs on the shared code tokenizer, trained on a mix of
exact-answer tasks and stdlib code, plus S2D's sorted multi-exit draft and one separately trained
(distilled) draft per S2D target.

Data source `task-mix`: one document per task example, `prompt + answer` (the stream puts EOS between
documents, so a model answers `EOS prompt` with `answer EOS`), shuffled with stdlib source files; about
two thirds of the training tokens are task tokens. Tasks: `addition` (3 digits), `sort` (6 digits) and
`reverse` (8 letters): multi-token answers where a 2-layer d=128 model is clearly worse than a 4-layer
d=256 one (measured accuracies are in each model's zoo.json as `val_accuracy`, and in
/work/notes/issue-4-methods.md). Held-out examples (validation/test) exclude every training prompt.

Models (tiny; `-micro` variants build in seconds for tests):
- `task-lm-small`  2 layers d=128 (R2R's small model, S2D's small target)
- `task-lm-large`  4 layers d=256 (R2R's large model, S2D's large target)
- `s2d-draft-sorted`  3 layers d=128 trained with SoFT at exits {1, 2, 3} (one draft for every target)
- `s2d-draft-for-task-lm-small` / `s2d-draft-for-task-lm-large`  plain drafts distilled from one target each
  (the per-target baseline S2D replaces)
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from tqdm import tqdm

from tokenworks.errors import UserError
from tokenworks.zoo.data import DataSource, documents, register_source, source_id
from tokenworks.zoo.recipes import Recipe, recipe_hash, register
from tokenworks.zoo.tasks import TaskExample, make_tasks, score

TASK_MIX: dict[str, dict[str, int]] = {"addition": {"digits": 3}, "sort": {"length": 6}, "reverse": {"length": 8}}
SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}
ANSWER_TOKENS = 16  # longest answer (sort: 11 tokens) + EOS, with room


@dataclass(frozen=True)
class MixSpec:
    """How many task examples per task and how many stdlib characters go into each split."""

    train_per_task: int
    heldout_per_task: int
    train_code_chars: int
    heldout_code_chars: int


MIX_SPECS = {
    "task-mix": MixSpec(30_000, 400, 3_000_000, 60_000),
    "task-mix-micro": MixSpec(1_500, 40, 60_000, 6_000),
}


@lru_cache(maxsize=8)
def task_examples(split: str, per_task: int, train_per_task: int) -> tuple[TaskExample, ...]:
    """`per_task` examples of every task of TASK_MIX for `split`; held-out splits drop training prompts."""
    out: list[TaskExample] = []
    for name, difficulty in TASK_MIX.items():
        if split == "train":
            out += make_tasks(name, per_task, seed=SPLIT_SEEDS["train"], **difficulty)
            continue
        seen = {ex.prompt for ex in make_tasks(name, train_per_task, seed=SPLIT_SEEDS["train"], **difficulty)}
        fresh = [ex for ex in make_tasks(name, 3 * per_task, seed=SPLIT_SEEDS[split], **difficulty)
                 if ex.prompt not in seen]
        out += fresh[:per_task]
    return tuple(out)


def heldout_examples(source: str, split: str, per_task: int | None = None,
                     tasks: tuple[str, ...] | list[str] | None = None) -> list[TaskExample]:
    """Held-out task examples of a mix (`split` validation or test): `per_task` (default all) of each of
    `tasks` (default every task of TASK_MIX)."""
    spec = MIX_SPECS[source]
    examples = task_examples(split, spec.heldout_per_task, spec.train_per_task)
    names = list(tasks or TASK_MIX)
    for name in names:
        if name not in TASK_MIX:
            raise UserError(f"tasks: {name!r} is not a task of {source}; allowed: {', '.join(TASK_MIX)}.")
    return [ex for name in names for ex in [e for e in examples if task_of(e) == name][:per_task]]


def task_of(example: TaskExample) -> str:
    """The TASK_MIX name an example belongs to (from its prompt's shape)."""
    if example.prompt.startswith("sort:"):
        return "sort"
    if example.prompt.startswith("reverse:"):
        return "reverse"
    return "addition"


def _read_mix(source: str, split: str) -> list[str]:
    spec = MIX_SPECS[source]
    per_task = spec.train_per_task if split == "train" else spec.heldout_per_task
    docs = [ex.prompt + ex.answer for ex in task_examples(split, per_task, spec.train_per_task)]
    code = sorted(documents("stdlib", split))
    random.Random(f"{source}:{split}:code").shuffle(code)
    budget = spec.train_code_chars if split == "train" else spec.heldout_code_chars
    for text in code:
        if budget <= 0:
            break
        docs.append(text[:budget])
        budget -= len(docs[-1])
    random.Random(f"{source}:{split}:order").shuffle(docs)
    return docs


for _name in MIX_SPECS:
    register_source(_name, DataSource(
        read=lambda split, _n=_name: _read_mix(_n, split),
        identity=lambda _n=_name: f"{asdict(MIX_SPECS[_n])}|{TASK_MIX}|{source_id('stdlib')}|v1",
    ))


# --- evaluation helpers (pipelines and zoo.json use the same ones) -------------------------------------------


def prompt_ids(tokenizer, example: TaskExample) -> list[int]:
    """EOS + prompt: exactly how every task example starts in the training stream."""
    return [tokenizer.eos_token_id, *tokenizer.encode(example.prompt)]


def answer_text(tokenizer, ids: list[int]) -> str:
    """Generated ids -> the answer text (stops at EOS)."""
    eos = tokenizer.eos_token_id
    return tokenizer.decode(ids[: ids.index(eos)] if eos in ids else ids)


def is_correct(tokenizer, example: TaskExample, ids: list[int]) -> bool:
    return score(example, answer_text(tokenizer, ids))


def task_accuracy(model, tokenizer, examples: list[TaskExample]) -> dict[str, float]:
    """Greedy exact-match accuracy, per task and overall ("all")."""
    from tokenworks.methods.decoding.greedy import GreedyDecoder

    decoder = GreedyDecoder(model, tokenizer)
    hits: dict[str, list[bool]] = {}
    for ex in examples:
        ok = is_correct(tokenizer, ex, decoder.decode(prompt_ids(tokenizer, ex), ANSWER_TOKENS).ids)
        hits.setdefault(task_of(ex), []).append(ok)
    out = {name: sum(v) / len(v) for name, v in hits.items()}
    out["all"] = sum(sum(v) for v in hits.values()) / max(1, sum(len(v) for v in hits.values()))
    return out


# --- builders ----------------------------------------------------------------------------------------------


def _eval_per_task(recipe: Recipe) -> int:
    return 100 if recipe.data == "task-mix" else 10


def build_task_lm(name: str, recipe: Recipe, num_threads: int | None = None) -> Path:
    """The shared causal-LM trainer, plus held-out task accuracy in zoo.json (`val_accuracy`)."""
    from tokenworks.runtime import configure_threads
    from tokenworks.zoo.evaluate import bits_per_byte
    from tokenworks.zoo.tokenizer import load_tokenizer
    from tokenworks.zoo.train import train_model, write_model_dir

    previous = torch.get_num_threads()
    threads = configure_threads(num_threads)
    try:
        tokenizer = load_tokenizer(recipe.tokenizer)
        model, stats = train_model(recipe, tokenizer, name)
        bpb = bits_per_byte(model, tokenizer, documents(recipe.data, "validation"), recipe.context, recipe.eval_tokens)
        accuracy = task_accuracy(model, tokenizer, heldout_examples(recipe.data, "validation", _eval_per_task(recipe)))
    finally:
        torch.set_num_threads(previous)
    metadata = {
        "recipe": asdict(recipe), "params": sum(p.numel() for p in model.parameters()), "threads": threads, **stats,
        "val_bits_per_byte": round(bpb, 4), "val_accuracy": round(accuracy["all"], 4),
        "val_accuracy_per_task": {k: round(v, 4) for k, v in accuracy.items()},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def save(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    return write_model_dir(name, recipe, save, metadata)


@dataclass(frozen=True)
class SortedDraftRecipe:
    """S2D's draft: `base` (a Llama recipe) trained with SoFT, the mean CE over `exits`."""

    description: str
    base: Recipe
    exits: tuple[int, ...]
    tags: tuple[str, ...] = field(default_factory=tuple)

    def hash_extras(self) -> dict:
        return {"base": recipe_hash(self.base)}


@dataclass(frozen=True)
class DistilledDraftRecipe:
    """A per-target draft: `base` trained to match zoo model `target`'s next-token distribution (KL)."""

    description: str
    base: Recipe
    target: str
    tags: tuple[str, ...] = field(default_factory=tuple)

    def hash_extras(self) -> dict:
        from tokenworks.zoo.recipes import ZOO

        return {"base": recipe_hash(self.base), "target": recipe_hash(ZOO[self.target])}


def _train_draft(name: str, recipe, loss_fn, num_threads: int | None) -> Path:
    """The training loop both draft kinds share (data, schedule, optimizer as zoo.train), then publish."""
    from tokenworks.runtime import configure_threads
    from tokenworks.zoo.evaluate import bits_per_byte, token_stream
    from tokenworks.zoo.tokenizer import load_tokenizer
    from tokenworks.zoo.train import learning_rate, llama_config, sample_batch, write_model_dir
    from transformers import LlamaForCausalLM

    base = recipe.base
    previous = torch.get_num_threads()
    threads = configure_threads(num_threads)
    try:
        tokenizer = load_tokenizer(base.tokenizer)
        torch.manual_seed(base.seed)
        model = LlamaForCausalLM(llama_config(base, tokenizer)).train()
        stream = torch.tensor(token_stream(tokenizer, documents(base.data, "train")))
        generator = torch.Generator().manual_seed(base.seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=base.lr, betas=(0.9, 0.95), weight_decay=base.weight_decay)
        started = time.perf_counter()
        bar = tqdm(range(base.steps), desc=f"zoo: training {name}", file=sys.stderr, unit="step")
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(base, step)
            window = sample_batch(stream, base.batch, base.context, generator)  # [B, context + 1]
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=base.precision == "bf16"):
                loss = loss_fn(model, window)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        bpb = bits_per_byte(model, tokenizer, documents(base.data, "validation"), base.context, base.eval_tokens)
        accuracy = task_accuracy(model, tokenizer, heldout_examples(base.data, "validation", _eval_per_task(base)))
    finally:
        torch.set_num_threads(previous)
    metadata = {
        "params": sum(p.numel() for p in model.parameters()), "threads": threads,
        "train_seconds": round(time.perf_counter() - started, 1), "final_train_loss": round(loss.item(), 4),
        "val_bits_per_byte": round(bpb, 4), "val_accuracy": round(accuracy["all"], 4),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def save(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    return write_model_dir(name, recipe, save, metadata)


def build_sorted_draft(name: str, recipe: SortedDraftRecipe, num_threads: int | None = None) -> Path:
    from tokenworks.methods.decoding.s2d.sorted_model import sorted_loss

    return _train_draft(name, recipe, lambda model, window: sorted_loss(model, window, recipe.exits), num_threads)


def build_distilled_draft(name: str, recipe: DistilledDraftRecipe, num_threads: int | None = None) -> Path:
    from tokenworks.methods.decoding.s2d.sorted_model import distill_loss
    from tokenworks.zoo.load import load_lm

    teacher, _ = load_lm(recipe.target, device="cpu")

    def loss_fn(model, window):
        with torch.no_grad():
            teacher_logits = teacher(input_ids=window[:, :-1]).logits  # [B, T, V]
        return distill_loss(model(input_ids=window[:, :-1]).logits, teacher_logits)

    return _train_draft(name, recipe, loss_fn, num_threads)


# --- recipes -----------------------------------------------------------------------------------------------
# Calibrated on this machine (1 thread, bf16 autocast, 32 x 64-token steps): d128/L2 0.21 s/step,
# d128/L3 0.23 s, d256/L4 0.45 s. Budgets: small 800 steps (~3 min), large 500 (~3.7 min), sorted draft
# 400 (~1.5 min), distilled drafts 250 each (~1-1.5 min with the teacher's forward): ~11 min in all.

def _lm(hidden: int, layers: int, steps: int, lr: float, data: str = "task-mix", **extra) -> Recipe:
    micro = data.endswith("micro")
    return Recipe(
        description="", data=data, hidden=hidden, layers=layers, heads=4, kv_heads=4, ffn=3 * hidden,
        context=32 if micro else 64, steps=steps, batch=8 if micro else 32, lr=lr, warmup=5 if micro else 50,
        eval_tokens=2_048 if micro else 16_384, precision="fp32" if micro else "bf16", **extra,
    )


def _described(recipe: Recipe, description: str) -> Recipe:
    from dataclasses import replace

    return replace(recipe, description=description)


TARGETS = ("task-lm-large", "task-lm-xl")  # S2D's targets; R2R's pair is (task-lm-small, task-lm-large)

for _suffix, _data, _steps in (("", "task-mix", None), ("-micro", "task-mix-micro", 40)):
    _micro = bool(_suffix)
    register(f"task-lm-small{_suffix}", _described(
        _lm(32 if _micro else 64, 1, _steps or 400, 3e-3, _data),
        "R2R's small task LM: " + ("micro, for tests" if _micro else "1 layer d=64 on task-mix")), build_task_lm)
    register(f"task-lm-large{_suffix}", _described(
        _lm(48 if _micro else 128, 2 if _micro else 2, _steps or 800, 3e-3, _data),
        "R2R's large task LM, S2D's smaller target: " + ("micro, for tests" if _micro else "2 layers d=128 on "
                                                         "task-mix")), build_task_lm)
    register(f"task-lm-xl{_suffix}", _described(
        _lm(48 if _micro else 256, 2 if _micro else 4, _steps or 500, 2e-3, _data),
        "S2D's larger target: " + ("micro, for tests" if _micro else "4 layers d=256 on task-mix (500 steps: "
                                   "too few to learn the tasks, a fine LM to draft for)")), build_task_lm)
    _sorted_base = _lm(32 if _micro else 128, 2 if _micro else 3, _steps or 400, 3e-3, _data)
    register(f"s2d-draft-sorted{_suffix}", SortedDraftRecipe(
        description="S2D sorted draft: one Llama trained with SoFT over nested exits"
        + (" (micro)" if _micro else " {1, 2, 3} of 3 layers d=128"),
        base=_sorted_base, exits=(1, 2) if _micro else (1, 2, 3)), build_sorted_draft)
    for _target, _layers in zip(TARGETS, (1, 1) if _micro else (1, 2)):
        register(f"s2d-draft-for-{_target}{_suffix}", DistilledDraftRecipe(
            description=f"per-target draft distilled from {_target}{_suffix}: {_layers} layer(s)",
            base=_lm(32 if _micro else 128, _layers, _steps or 250, 3e-3, _data),
            target=f"{_target}{_suffix}"), build_distilled_draft)


# --- R2R's router (labelled with the task LMs, trained once, cached like any zoo model) ----------------------


@dataclass(frozen=True)
class RouterRecipe:
    """R2R's router for (small, large): tokens of `label_per_task` validation prompts per task labelled
    identical/neutral/divergent, then an MLP trained with RouterConfig(**router)."""

    description: str
    small: str
    large: str
    label_per_task: int
    tasks: tuple[str, ...] = ("sort",)
    router: tuple[tuple[str, object], ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)

    def hash_extras(self) -> dict:
        from tokenworks.zoo.recipes import ZOO

        return {"small": recipe_hash(ZOO[self.small]), "large": recipe_hash(ZOO[self.large]), "format": 1}


def source_of(model_name: str) -> str:
    """The task-mix data source a task LM was trained on."""
    from tokenworks.zoo.recipes import ZOO

    return ZOO[model_name].data


def label_task_tokens(small, large, tokenizer, examples: list[TaskExample], topk: int, progress: bool = True):
    """R2R labels for every large-model answer token of `examples` (see methods.decoding.r2r.labeling)."""
    from tokenworks.methods.decoding.r2r.labeling import label_prompts

    return label_prompts(
        small, large, [prompt_ids(tokenizer, ex) for ex in examples],
        answer_of=lambda ids: answer_text(tokenizer, ids).strip(), eos=tokenizer.eos_token_id,
        max_new_tokens=ANSWER_TOKENS, topk=topk, progress=progress,
    )


def build_router(name: str, recipe: RouterRecipe, num_threads: int | None = None) -> Path:
    from tokenworks.methods.decoding.r2r.config import RouterConfig
    from tokenworks.methods.decoding.r2r.router import save_router, train_router
    from tokenworks.runtime import configure_threads
    from tokenworks.zoo.load import load_lm
    from tokenworks.zoo.train import write_model_dir

    previous = torch.get_num_threads()
    configure_threads(num_threads)
    try:
        small, tokenizer = load_lm(recipe.small, device="cpu")
        large, _ = load_lm(recipe.large, device="cpu")
        cfg = RouterConfig.validated(dict(recipe.router))
        examples = heldout_examples(source_of(recipe.small), "validation", recipe.label_per_task, recipe.tasks)
        data = label_task_tokens(small, large, tokenizer, examples, cfg.topk)
        router, report = train_router(data, small.model.embed_tokens.weight, cfg)
    finally:
        torch.set_num_threads(previous)
    metadata = {"params": sum(p.numel() for p in router.parameters()), "labels": data.counts(),
                **{f"val_{k}": v for k, v in report.items()}}
    def save(staging: Path) -> None:
        save_router(router, staging / "router.pt")
        data.save(staging / "labels.pt")  # the labelled tokens, so the reproduction can reuse this build

    return write_model_dir(name, recipe, save, metadata)


for _suffix, _per_task in (("", 300), ("-micro", 10)):
    register(f"r2r-router{_suffix}", RouterRecipe(
        description=f"R2R router for task-lm-small{_suffix} + task-lm-large{_suffix}",
        small=f"task-lm-small{_suffix}", large=f"task-lm-large{_suffix}", label_per_task=_per_task,
        # tiny: width 64, depth 1 (~50k parameters, 16% of the 1-layer small model; the paper's router is ~4% of
        # R1-1.5B); the first build used width 256, depth 2 (1.1M, larger than the small model itself)
        router=(("epochs", 5), ("width", 32), ("depth", 1)) if _suffix else (("width", 64), ("depth", 1))),
        build_router)
