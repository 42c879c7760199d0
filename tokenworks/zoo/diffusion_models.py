"""Zoo: a masked-diffusion LM (LLaDA/MDLM objective, bidirectional), an AR guide and a same-size AR model,
all on one character tokenizer, trained here on exact-answer tasks whose answer tokens depend on each other
plus a share of stdlib code.

Tasks (prompt ends with '='; the generation region is `gen_length` positions: answer, then EOS padding):
- copy      'copy:qwerty=' -> 'qwerty'        deterministic, each position known from the prompt alone:
                                              committing a whole block at once is safe (LocalLeap's easy case)
- reverse   'reverse:qwerty=' -> 'ytrewq'     the same, mirrored
- sort      'sort:3,1,4,1,5=' -> '1,1,3,4,5'  deterministic, but each digit's place depends on the others
- rep       'rep:e,y,d=' -> 'eeee' | 'yyyy' | 'dddd'   multi-answer with dependent positions: alone, every
            position is a 3-way toss-up and only the joint choice is right. One at a time, the first committed
            letter decides the rest (copying a neighbour is easy); committed together, the positions' separate
            best guesses mix letters ('xxxe'): the workload where over-aggressive parallel commitment visibly
            loses accuracy, and where a threshold or anchor rule waits (nothing is confident until one letter
            is committed).
History (TASKS_VERSION; dlm-tiny at 1200-1400 steps): v1 3-digit addition and 'pick one of three words':
neither learned (0%). v2 had rep: learned (val 0.44), small parallel loss. v3 'perm' (any ordering of three
letters): diffusion 0.00 (AR twin 0.50), so no policy could lose accuracy. v4 copy/reverse/'pick' (any one of
three 3-letter words, copied whole)/rep with MDLM's low-discrepancy t: pick not learned (val 0.08; the
lookup "which word starts with the committed letter" is out of reach), rep 0.80 one-at-a-time vs 0.32 with
the whole block at once. v5 (this one) keeps rep and brings back sort.
Scoring is exact: the generated text up to the first EOS must equal one of the accepted answers.
Splits: examples come from seeded generators; validation/test prompts are drawn first and excluded from
training.

Recipes are `DiffusionRecipe` (registered with a builder): `objective` 'mdlm' (bidirectional, masked
diffusion: t ~ U(0,1) drawn low-discrepancy over the batch, mask each answer position with probability t,
cross-entropy on masked positions weighted 1/t, LLaDA's SFT loss; code windows are masked anywhere, its
pre-training loss) or 'ar' (causal, next-token loss on answer + EOS; code: every position). Training draws
tasks in the proportions of `TASK_WEIGHTS`. Models load with `load_diffusion_lm(name)`.
"""

from __future__ import annotations

import json
import math
import random
import string
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from tokenworks.errors import UserError
from tokenworks.methods.diffusion.model import MaskedTransformer, ModelConfig
from tokenworks.methods.diffusion.tokenizer import CharTokenizer
from tokenworks.runtime import configure_threads
from tokenworks.zoo import corpus
from tokenworks.zoo.recipes import register
from tokenworks.zoo.tasks import TASKS

TASKS_VERSION = 5
GEN_LENGTH = 16
DIFFUSION_TASKS = ("copy", "reverse", "sort", "rep")
# relative share of each task among training task sequences: copy and reverse are learned first, so sort and
# the multi-answer rep get more of the budget
TASK_WEIGHTS = {"copy": 1.0, "reverse": 1.0, "sort": 1.5, "rep": 1.5}
HELD_OUT = {"validation": 100, "test": 400}   # examples per task reserved per split


@dataclass(frozen=True)
class DiffusionTask:
    task: str
    prompt: str
    answers: tuple[str, ...]   # every accepted answer (one, except for `rep`)

    def correct(self, output: str) -> bool:
        return output in self.answers


def _rep(rng: random.Random, letters: int = 3, times: int = 4) -> tuple[str, tuple[str, ...]]:
    """Any one of `letters` listed letters, written `times` times."""
    options = rng.sample(string.ascii_lowercase, letters)
    return f"rep:{','.join(options)}=", tuple(o * times for o in options)


_KNOBS = {"copy": {"length": 6}, "reverse": {"length": 6}, "sort": {"length": 5}}
_MULTI_ANSWER = {"rep": _rep}


def draw(task: str, rng: random.Random) -> DiffusionTask:
    if task in _MULTI_ANSWER:
        prompt, answers = _MULTI_ANSWER[task](rng)
        return DiffusionTask(task, prompt, answers)
    if task not in _KNOBS:
        raise UserError(f"diffusion task {task!r} is not defined; allowed: {', '.join(DIFFUSION_TASKS)}.")
    example = TASKS[task][0](rng, **_KNOBS[task])
    return DiffusionTask(task, example.prompt, (example.answer,))


@lru_cache(maxsize=None)
def _held_out(split: str, task: str) -> tuple[DiffusionTask, ...]:
    rng = random.Random(f"diffusion:{split}:{task}:{TASKS_VERSION}")
    seen, out = set(), []
    other = () if split == "validation" else _held_out("validation", task)
    banned = {e.prompt for e in other}
    while len(out) < HELD_OUT[split]:
        example = draw(task, rng)
        if example.prompt not in seen and example.prompt not in banned:
            seen.add(example.prompt)
            out.append(example)
    return tuple(out)


def task_examples(split: str, per_task: int, tasks: tuple[str, ...] = DIFFUSION_TASKS) -> list[DiffusionTask]:
    """`per_task` held-out examples of each task, interleaved (validation or test split)."""
    if split not in HELD_OUT:
        raise UserError(f"split={split!r} is not allowed; allowed: {', '.join(HELD_OUT)}.")
    if not 1 <= per_task <= HELD_OUT[split]:
        raise UserError(f"per_task={per_task} is out of range; allowed: 1..{HELD_OUT[split]} for {split}.")
    columns = [_held_out(split, t)[:per_task] for t in tasks]
    return [ex for row in zip(*columns) for ex in row]


@lru_cache(maxsize=1)
def _held_out_prompts() -> frozenset[str]:
    return frozenset(e.prompt for s in HELD_OUT for t in DIFFUSION_TASKS for e in _held_out(s, t))


@lru_cache(maxsize=1)
def _code_text(max_chars: int = 3_000_000) -> str:
    text, total = [], 0
    for doc in corpus.read_split("train"):
        text.append(doc)
        total += len(doc)
        if total >= max_chars:
            break
    return "\n".join(text)


@dataclass(frozen=True)
class DiffusionRecipe:
    description: str
    objective: str = "mdlm"          # "mdlm" (bidirectional masked diffusion) | "ar" (causal)
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    ffn: int = 512
    context: int = 40
    gen_length: int = GEN_LENGTH
    steps: int = 1400
    batch: int = 64
    lr: float = 3e-3
    warmup: int = 100
    code_fraction: float = 0.10      # share of training sequences that are stdlib code windows
    code_window: int = 32            # characters per code window (about a task sequence's length)
    seed: int = 0
    eval_per_task: int = 40
    tags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.objective not in ("mdlm", "ar"):
            raise UserError(f"DiffusionRecipe.objective={self.objective!r}; allowed: mdlm, ar.")

    def hash_extras(self) -> dict:
        return {"tasks": TASKS_VERSION, "code": corpus.source_id(), "tokenizer": "char-v1"}

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(vocab_size, self.hidden, self.layers, self.heads, self.ffn, self.context,
                           causal=self.objective == "ar")


def _sequence(example: DiffusionTask, answer: str, tok: CharTokenizer, recipe: DiffusionRecipe):
    """-> (ids, first position of the trained region). mdlm: answer + EOS padding to gen_length."""
    prompt = tok.encode(example.prompt)
    answer_ids = tok.encode(answer)[: recipe.gen_length - 1]
    pad = recipe.gen_length - len(answer_ids) if recipe.objective == "mdlm" else 1
    return prompt + answer_ids + [tok.eos_id] * pad, len(prompt)


def training_batch(recipe: DiffusionRecipe, tok: CharTokenizer, rng: random.Random):
    """-> ids [B, T], region [B, T] bool (positions the loss covers), padding [B, T] bool."""
    rows, starts = [], []
    banned = _held_out_prompts()
    while len(rows) < recipe.batch:
        if rng.random() < recipe.code_fraction:
            text = _code_text()
            at = rng.randrange(len(text) - recipe.code_window)
            rows.append(tok.encode(text[at:at + recipe.code_window]))
            starts.append(0)
            continue
        example = draw(rng.choices(DIFFUSION_TASKS, [TASK_WEIGHTS[t] for t in DIFFUSION_TASKS])[0], rng)
        if example.prompt in banned:
            continue
        ids, start = _sequence(example, rng.choice(example.answers), tok, recipe)
        rows.append(ids[: recipe.context])
        starts.append(start)
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tok.pad_id)
    region = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (row, start) in enumerate(zip(rows, starts)):
        ids[i, : len(row)] = torch.tensor(row)
        region[i, start: len(row)] = True
    return ids, region, ids == tok.pad_id


def mdlm_loss(model, ids, region, padding, mask_id: int, generator: torch.Generator) -> torch.Tensor:
    """LLaDA/MDLM: t ~ U(eps, 1) per row; mask region positions with prob t; CE on masked / t / |region|.
    t is drawn low-discrepancy (one uniform offset + evenly spaced rows, MDLM's sampler): same expectation,
    lower variance of the 1/t-weighted loss, so the small model learns in fewer steps."""
    rows = ids.shape[0]
    offset = torch.rand(1, generator=generator)
    t = ((offset + torch.arange(rows) / rows) % 1.0).unsqueeze(1) * (1 - 1e-3) + 1e-3
    masked = region & (torch.rand(ids.shape, generator=generator) < t)
    logits, _ = model(torch.where(masked, mask_id, ids), key_padding=padding)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1), reduction="none").view(ids.shape)
    return ((ce * masked / t).sum(1) / region.sum(1).clamp(min=1)).mean()


def ar_loss(model, ids, region, padding) -> torch.Tensor:
    """Next-token CE on the region's tokens (each predicted from the position before it)."""
    logits, _ = model(ids[:, :-1])
    target = region[:, 1:] & ~padding[:, 1:]
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    return (ce.view(target.shape) * target).sum() / target.sum()


def train(recipe: DiffusionRecipe, name: str = "model") -> tuple[MaskedTransformer, dict]:
    tok = CharTokenizer()
    torch.manual_seed(recipe.seed)
    model = MaskedTransformer(recipe.model_config(len(tok)))
    model.train()
    rng, generator = random.Random(recipe.seed), torch.Generator().manual_seed(recipe.seed)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                  lr=recipe.lr, betas=(0.9, 0.98))
    started = time.perf_counter()
    bar = tqdm(range(recipe.steps), desc=f"zoo: training {name}", file=sys.stderr, unit="step")
    for step in bar:
        lr = recipe.lr * min(1.0, (step + 1) / recipe.warmup)
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / recipe.steps))   # cosine to 10%
        for group in optimizer.param_groups:
            group["lr"] = lr
        ids, region, padding = training_batch(recipe, tok, rng)
        if recipe.objective == "mdlm":
            loss = mdlm_loss(model, ids, region, padding, tok.mask_id, generator)
        else:
            loss = ar_loss(model, ids, region, padding)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return model, {"train_seconds": round(time.perf_counter() - started, 1), "final_train_loss": round(loss.item(), 4)}


def accuracy(model: MaskedTransformer, examples: list[DiffusionTask], gen_length: int = GEN_LENGTH) -> float:
    """Exact-match accuracy: mdlm with the one-token-per-step baseline (block = gen_length), ar greedily."""
    from tokenworks.methods.diffusion import ar_greedy, baseline, diffusion_decode

    tok, right = CharTokenizer(), 0
    for example in examples:
        prompt = tok.encode(example.prompt)
        if model.cfg.causal:
            ids = ar_greedy(model, prompt, gen_length, tok.eos_id).ids
        else:
            ids = diffusion_decode(model, prompt, gen_length, gen_length, baseline(), mask_id=tok.mask_id).ids
        right += example.correct(tok.decode(ids))
    return right / max(1, len(examples))


def build(name: str, recipe: DiffusionRecipe, num_threads: int | None = None) -> Path:
    from tokenworks.zoo.train import write_model_dir

    previous = torch.get_num_threads()
    threads = configure_threads(num_threads)
    try:
        model, stats = train(recipe, name)
        val = accuracy(model, task_examples("validation", recipe.eval_per_task), recipe.gen_length)
    finally:
        torch.set_num_threads(previous)
    metadata = {"recipe": asdict(recipe), "params": sum(p.numel() for p in model.parameters()), "threads": threads,
                **stats, "val_accuracy": round(val, 4), "model_config": model.cfg.as_dict(),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def save(staging: Path) -> None:
        torch.save(model.state_dict(), staging / "model.pt")
        (staging / "config.json").write_text(json.dumps(model.cfg.as_dict()))

    return write_model_dir(name, recipe, save, metadata)


def load_diffusion_lm(name_or_path: str, device: str | None = None) -> tuple[MaskedTransformer, CharTokenizer]:
    """(model in eval mode, tokenizer) for a zoo name of this module (built on first use) or its directory."""
    from tokenworks.runtime import device_name
    from tokenworks.zoo.recipes import ZOO
    from tokenworks.zoo.registry import build as build_zoo

    path = Path(build_zoo(name_or_path)) if name_or_path in ZOO else Path(name_or_path)
    if not (path / "model.pt").is_file():
        raise UserError(f"{name_or_path!r} is neither a diffusion zoo name ({', '.join(DIFFUSION_ZOO)}) nor a "
                        "directory holding model.pt and config.json.")
    cfg = ModelConfig(**json.loads((path / "config.json").read_text()))
    model = MaskedTransformer(cfg)
    model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
    return model.to(device or device_name()).eval(), CharTokenizer()


_MICRO = dict(hidden=32, layers=2, heads=2, ffn=64, steps=60, batch=16, warmup=10, eval_per_task=4,
              tags=("test",))
DIFFUSION_ZOO: dict[str, DiffusionRecipe] = {
    "dlm-micro": DiffusionRecipe("2-layer d=32 masked-diffusion LM; builds in seconds; for tests, quality "
                                 "irrelevant", **_MICRO),
    "dlm-ar-micro": DiffusionRecipe("causal twin of dlm-micro (same size); the micro AR guide and AR arm",
                                    objective="ar", **_MICRO),
    "dlm-tiny": DiffusionRecipe("4-layer d=128 masked-diffusion LM (LLaDA objective) on the diffusion tasks + "
                                "10% stdlib code"),
    "dlm-ar-tiny": DiffusionRecipe("causal twin of dlm-tiny (same size, same data, fewer steps: the dense AR "
                                   "loss learns faster): the `ar` arm", objective="ar", steps=600),
    "dlm-guide-tiny": DiffusionRecipe("2-layer d=64 causal LM on the same data: the small AR guide",
                                      objective="ar", hidden=64, layers=2, ffn=256, heads=4, steps=500),
}
for _name, _recipe in DIFFUSION_ZOO.items():
    register(_name, _recipe, build)
