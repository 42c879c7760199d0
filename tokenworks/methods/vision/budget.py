"""Accuracy against MACs for every reducer on the same token schedules, without fine-tuning.

Every arm removes the same number of tokens in every block (`removed_per_layer`), so at one schedule all
arms have the same token counts; the MACs each actually costs (its own overhead included) come from the one
counter, `macs.count_macs`, on a real forward. `nearest_budget` picks an arm's point closest to a target
MACs reduction; `accuracy_at` interpolates an arm's accuracy at any MACs reduction (for "at equal MACs").
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm import tqdm

from tokenworks.methods.vision import reducers
from tokenworks.methods.vision.images import normalize
from tokenworks.methods.vision.macs import count_macs

ARMS = ("gtp-vit", "tome", "evit", "random")
NONE = "none"


@dataclass
class BudgetPoint:
    arm: str
    removed_per_layer: float          # mean tokens removed per block (the schedule, see TokenReducer.removals)
    accuracy: float
    macs: float                       # per image
    macs_reduction: float             # 1 - macs / unreduced macs
    correct: int
    total: int
    tokens: list[int] = field(default_factory=list)   # tokens entering each block's MLP
    orphan_rate: float = float("nan")                  # GTP: propagated tokens with no kept neighbour
    images_per_s: float = float("nan")

    @property
    def standard_error(self) -> float:
        return math.sqrt(max(self.accuracy * (1 - self.accuracy), 1e-12) / self.total)

    def row(self) -> dict:
        return {**asdict(self), "tokens": list(self.tokens)}


@torch.inference_mode()
def evaluate(model, images: torch.Tensor, labels: torch.Tensor, batch: int = 250) -> tuple[int, dict]:
    """(correct, reducer stats averaged over batches) of the model as currently patched; images uint8."""
    correct, orphan = 0, []
    for i in range(0, len(labels), batch):
        logits = model(normalize(images[i: i + batch]))
        correct += int((logits.argmax(-1) == labels[i: i + batch]).sum())
        state = getattr(model.token_reducer, "last_state", None)
        if state is not None and state.stats.get("orphan_rate"):
            orphan.append(statistics.mean(state.stats["orphan_rate"]))
    return correct, {"orphan_rate": statistics.mean(orphan) if orphan else float("nan")}


def arm_point(model, arm: str, removed: float, options: dict, images, labels, base_macs: float | None,
              probe: torch.Tensor) -> BudgetPoint:
    """One (arm, schedule) point: accuracy on `images`, MACs per image from the counter on `probe` [1, 3, H, W]."""
    if arm == NONE:
        reducers.remove(model)
    else:
        reducers.apply(model, arm, removed_per_layer=removed, **options)
    try:
        correct, stats = evaluate(model, images, labels)
        report = count_macs(model, probe)
        tokens = [after for _, after in model.token_reducer.token_counts()] if model.token_reducer else \
            [model.cfg.num_patches + 1] * model.cfg.depth
    finally:
        reducers.remove(model)
    base = base_macs or report.macs_per_image
    return BudgetPoint(arm, removed, correct / len(labels), report.macs_per_image, 1 - report.macs_per_image / base,
                       correct, len(labels), tokens, stats["orphan_rate"])


def sweep(model, images, labels, removals: list[float], arm_options: dict[str, dict]) -> list[BudgetPoint]:
    """The unreduced model, then every arm of `arm_options` at every schedule of `removals`."""
    probe = normalize(images[:1])
    none = arm_point(model, NONE, 0, {}, images, labels, None, probe)
    points = [none]
    jobs = [(arm, r) for r in removals for arm in arm_options]
    for arm, r in tqdm(jobs, desc="reducers x budgets", file=sys.stderr, mininterval=2):
        points.append(arm_point(model, arm, r, arm_options[arm], images, labels, none.macs, probe))
    return points


def nearest_budget(points: list[BudgetPoint], arm: str, target: float) -> BudgetPoint:
    """The arm's point whose MACs reduction is closest to `target` (ties: the larger reduction)."""
    own = [p for p in points if p.arm == arm]
    return min(own, key=lambda p: (abs(p.macs_reduction - target), -p.macs_reduction))


def first_at_target(points: list[BudgetPoint], arm: str, target: float) -> BudgetPoint | None:
    """The arm's least-reducing point that still reaches `target` (None when none does)."""
    reaching = [p for p in points if p.arm == arm and p.macs_reduction >= target]
    return min(reaching, key=lambda p: p.macs_reduction) if reaching else None


def accuracy_at(points: list[BudgetPoint], arm: str, reduction: float) -> float:
    """The arm's accuracy linearly interpolated at `reduction` (the unreduced point anchors 0); clamped to its
    range, NaN when the arm has no point at or beyond `reduction`."""
    curve = sorted([(0.0, next(p.accuracy for p in points if p.arm == NONE))] +
                   [(p.macs_reduction, p.accuracy) for p in points if p.arm == arm])
    if reduction > curve[-1][0] + 1e-9:
        return float("nan")
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if x0 <= reduction <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (reduction - x0) / (x1 - x0)
    return curve[0][1]


@torch.inference_mode()
def measure_speeds(model, runs: dict[str, tuple[str, float, dict]], images: torch.Tensor, batch_size: int,
                   warmup: int, repeats: int) -> dict[str, float]:
    """images/s of every run {name: (method or NONE, removed per layer, options)} at `batch_size`, interleaved:
    each repeat times one forward of every run in turn, so load changes on a shared machine hit all arms
    alike; `warmup` untimed forwards per run first; median over repeats."""
    batch = normalize(images[:batch_size])
    if batch.shape[0] < batch_size:
        batch = batch.repeat((batch_size + batch.shape[0] - 1) // batch.shape[0], 1, 1, 1)[:batch_size]
    sync = torch.cuda.synchronize if batch.is_cuda else (lambda: None)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(warmup + repeats):
        for name, (method, removed, options) in runs.items():
            if method != NONE:
                reducers.apply(model, method, removed_per_layer=removed, **options)
            try:
                sync()
                start = time.perf_counter()
                model(batch)
                sync()
                if round_ >= warmup:
                    rates[name].append(batch_size / (time.perf_counter() - start))
            finally:
                reducers.remove(model)
    return {name: statistics.median(r) for name, r in rates.items()}
