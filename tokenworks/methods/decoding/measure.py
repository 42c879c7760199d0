"""The decoding benchmark core: one table, one run, same prompts, same token counting (Ray-free, MLflow-free).

Protocol (peers.md C.1):
- every method decodes the same prompts with the same max_new_tokens; tokens are counted as the generated
  ids after EOS / max_new_tokens truncation (`len(Generation.ids)`), never re-tokenized text;
- one warm-up call per method is run first and excluded; a stateful decoder (Token Recycling's matrix) is
  then restored to the state it had before the warm-up, and again at the start of every repeat, so every
  repeat serves the same prompt stream from the same state (a global matrix warms up over the prompts of
  a repeat but never sees a prompt's own answer twice);
- the repeats are interleaved (repeat > prompt > method, the method order rotated per prompt), so drift in
  machine load hits every arm alike;
- tokens/s per repeat = total new tokens / total wall seconds over the prompts; reported: the median over
  repeats; speedup = that over the first method's;
- mean acceptance length = 1 + accepted drafts / verify steps, pooled over prompts (vLLM: bonus included);
  target forwards per token pooled the same way (prefill included);
- exact_match = share of prompts whose ids equal plain greedy's (our `greedy`, run untimed if not an arm);
- distinct_4gram = distinct / total 4-grams of the generated ids, averaged over prompts;
- forward cost (a detail, and the table's "fwd cost" column) = wall seconds per target forward over the first
  method's, pooled over every repeat: speedup is about (tokens per forward) / (forward cost), which separates
  what the drafter wins (acceptance) from what the hardware charges for a wider verify forward.

A method label is a decoder name, or any label whose `method_options` entry names the decoder:
`{"tr-chain": {"decoder": "token-recycling", "tree": "chain8"}}`.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from tokenworks.errors import UserError
from tokenworks.methods.decoding.base import Generation
from tokenworks.methods.decoding.registry import LOSSLESS_DECODERS, make_decoder

ROW_KEYS = (
    "tokens_per_s", "speedup", "mean_acceptance_length", "target_forwards_per_token", "exact_match", "distinct_4gram",
)


@dataclass
class BenchReport:
    rows: dict[str, dict[str, float]]      # label -> exactly ROW_KEYS
    per_sample: list[dict[str, Any]]       # one row per (repeat, prompt, method)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> extra aggregates
    setting: dict[str, Any] = field(default_factory=dict)

    def to_table(self) -> str:
        head = ("method", "tok/s", "speedup", "MAL", "fwd/tok", "exact", "dist4", "fwd cost")
        lines = [f"{head[0]:<22}" + "".join(f"{h:>9}" for h in head[1:])]
        for label, r in self.rows.items():
            vals = [r[k] for k in ROW_KEYS]
            cost = self.details.get(label, {}).get("forward_cost")
            lines.append(f"{label:<22}" + "".join(f"{v:>9.3f}" if k != "tokens_per_s" else f"{v:>9.1f}"
                                                   for k, v in zip(ROW_KEYS, vals))
                         + (f"{cost:>9.2f}" if cost is not None else ""))
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def distinct_ngram_share(ids: list[int], n: int = 4) -> float:
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(decoder, ids: list[int], max_new_tokens: int, device: torch.device) -> tuple[Generation, float]:
    _sync(device)
    start = time.perf_counter()
    gen = decoder.decode(ids, max_new_tokens)
    _sync(device)
    return gen, time.perf_counter() - start


def build_decoders(model, tokenizer, methods: list[str], method_options: dict[str, dict] | None) -> dict[str, Any]:
    if len(set(methods)) != len(methods):
        raise UserError(f"methods = {methods!r} is invalid; allowed: a list of distinct labels.")
    decoders = {}
    for label in methods:
        options = dict((method_options or {}).get(label, {}))
        decoders[label] = make_decoder(options.pop("decoder", label), model, tokenizer, **options)
    return decoders


def compare_decoders(
    model,
    tokenizer,
    methods: list[str],
    prompts: list[str],
    max_new_tokens: int,
    repeats: int,
    method_options: dict[str, dict] | None = None,
    progress: bool = True,
    *,
    decoders: dict[str, Any] | None = None,
) -> BenchReport:
    """Run every method on every prompt `repeats` times, interleaved; one BenchReport (see module docstring).

    `decoders`: already built decoders by label (e.g. a Token Recycling decoder whose matrix was warmed on
    other prompts); their state at the call is the state every repeat starts from."""
    if not methods:
        raise UserError("methods = [] is invalid; allowed: a non-empty list of decoder labels.")
    if repeats < 1 or not prompts:
        raise UserError(f"repeats = {repeats!r} and {len(prompts)} prompts: need repeats >= 1 and >= 1 prompt.")
    prebuilt = decoders or {}
    built = build_decoders(model, tokenizer, [m for m in methods if m not in prebuilt], method_options)
    decoders = {m: prebuilt.get(m) or built[m] for m in methods}
    prompt_ids = [tokenizer.encode(p) for p in prompts]
    device = model.device
    initial = {m: d.snapshot() for m, d in decoders.items() if hasattr(d, "snapshot")}
    for label, decoder in decoders.items():  # warm-up, excluded
        decoder.decode(prompt_ids[0], min(max_new_tokens, 16))
    reference = _greedy_reference(decoders, model, tokenizer, prompt_ids, max_new_tokens)
    samples: list[dict[str, Any]] = []
    bar = tqdm(total=repeats * len(prompts) * len(methods), desc="bench decoding", disable=not progress)
    for r in range(repeats):
        for label, state in initial.items():
            decoders[label].restore(state)
        for i, ids in enumerate(prompt_ids):
            order = methods[(i + r) % len(methods):] + methods[: (i + r) % len(methods)]
            for label in order:
                gen, wall = _timed(decoders[label], ids, max_new_tokens, device)
                samples.append(_sample_row(label, i, r, gen, wall, reference[i]))
                bar.update()
    bar.close()
    report = _report(methods, samples, repeats, setting={
        "prompts": len(prompts), "max_new_tokens": max_new_tokens, "repeats": repeats,
        "device": str(device), "threads": torch.get_num_threads(), "method_options": method_options or {},
    })
    report.warnings += _thread_warnings(device)
    # "exact match < 1" is a bug only for lossless decoders; lossy ones (skipdecode, static-exit) differ by design
    lossy = {label for label, d in decoders.items() if getattr(d, "name", label) not in LOSSLESS_DECODERS}
    report.warnings = [w for w in report.warnings if not any(w.startswith(f"{m}: exact match") for m in lossy)]
    return report


def _greedy_reference(decoders, model, tokenizer, prompt_ids, max_new_tokens) -> list[list[int]]:
    greedy = decoders.get("greedy") or make_decoder("greedy", model, tokenizer)
    return [greedy.decode(ids, max_new_tokens).ids for ids in prompt_ids]


def _sample_row(label: str, i: int, r: int, gen: Generation, wall: float, reference: list[int]) -> dict[str, Any]:
    s = gen.stats
    return {
        "method": label, "prompt": i, "repeat": r, "new_tokens": s.new_tokens, "wall_s": wall,
        "tokens_per_s": s.new_tokens / wall if wall > 0 else 0.0,
        "mean_acceptance_length": s.mean_acceptance_length, "verify_steps": len(s.accepted_per_step),
        "accepted": sum(s.accepted_per_step), "target_forwards": s.target_forwards,
        "draft_forwards": s.draft_forwards, "tokens_processed": s.tokens_processed,
        "exact_match": float(gen.ids == reference), "distinct_4gram": distinct_ngram_share(gen.ids),
    }


def _report(methods: list[str], samples: list[dict], repeats: int, setting: dict) -> BenchReport:
    rows, details = {}, {}
    for label in methods:
        mine = [s for s in samples if s["method"] == label]
        first = [s for s in mine if s["repeat"] == 0]
        per_repeat = [
            sum(s["new_tokens"] for s in mine if s["repeat"] == r) / sum(s["wall_s"] for s in mine if s["repeat"] == r)
            for r in range(repeats)
        ]
        steps, new = sum(s["verify_steps"] for s in first), sum(s["new_tokens"] for s in first)
        rows[label] = {
            "tokens_per_s": statistics.median(per_repeat),
            "speedup": 0.0,
            "mean_acceptance_length": 1.0 + sum(s["accepted"] for s in first) / steps if steps else 1.0,
            "target_forwards_per_token": sum(s["target_forwards"] for s in first) / new if new else 0.0,
            "exact_match": statistics.fmean(s["exact_match"] for s in mine),
            "distinct_4gram": statistics.fmean(s["distinct_4gram"] for s in first),
        }
        details[label] = {
            "tokens_per_s_per_repeat": per_repeat, "new_tokens": new, "verify_steps": steps,
            "tokens_processed_per_token": sum(s["tokens_processed"] for s in first) / new if new else 0.0,
            "draft_forwards_per_token": sum(s["draft_forwards"] for s in first) / new if new else 0.0,
            "seconds_per_forward": _seconds_per_forward(mine),
        }
    base = rows[methods[0]]["tokens_per_s"]
    for r in rows.values():
        r["speedup"] = r["tokens_per_s"] / base if base else 0.0
    base_forward = details[methods[0]]["seconds_per_forward"]
    for d in details.values():
        d["forward_cost"] = d["seconds_per_forward"] / base_forward if base_forward else 0.0
    return BenchReport(rows, samples, _warnings(rows), details, setting)


def _seconds_per_forward(samples: list[dict]) -> float:
    """Wall seconds per target forward (draft forwards and prefill included in the wall), pooled."""
    forwards = sum(s["target_forwards"] for s in samples)
    return sum(s["wall_s"] for s in samples) / forwards if forwards else 0.0


def _thread_warnings(device: torch.device) -> list[str]:
    """Several intra-op threads on a CPU that other processes also use make small-model decoding collapse
    (measured here: 30x slower with 2 threads on 2 busy cores), and hit multi-token verify steps hardest."""
    threads, load = torch.get_num_threads(), os.getloadavg()[0]
    if device.type == "cpu" and threads > 1 and load + threads > (os.cpu_count() or 1) + 0.5:
        return [f"torch uses {threads} threads on a CPU with load average {load:.1f} over {os.cpu_count()} cores: "
                "timings are oversubscribed; rerun with TOKENWORKS_THREADS=1."]
    return []


# Below this share of distinct 4-grams a model's output is mostly loops (the bar for code-lm-tiny).
MIN_VARIETY = 0.6


def _warnings(rows: dict[str, dict[str, float]]) -> list[str]:
    out = []
    if "greedy" in rows and "hf-greedy" in rows and rows["greedy"]["tokens_per_s"] < rows["hf-greedy"]["tokens_per_s"]:
        out.append(
            f"greedy is slower than hf-greedy ({rows['greedy']['tokens_per_s']:.1f} < "
            f"{rows['hf-greedy']['tokens_per_s']:.1f} tok/s): speedups over greedy are inflated; "
            "compare with hf-greedy."
        )
    reference = rows.get("greedy") or next(iter(rows.values()), None)
    if reference is not None and reference["distinct_4gram"] < MIN_VARIETY:
        out.append(
            f"the model's greedy output repeats itself (distinct-4-gram share {reference['distinct_4gram']:.2f} < "
            f"{MIN_VARIETY}): every drafter looks fast for the wrong reason on such a model."
        )
    for label, r in rows.items():
        if r["exact_match"] < 1.0:
            out.append(f"{label}: exact match with greedy is {r['exact_match']:.3f} < 1 (lossless methods must be 1).")
    return out
