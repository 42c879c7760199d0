"""Data-mixture inference: from a BPE tokenizer's ordered merge list and sample text of each candidate
category, estimate the share of each category (in bytes) in the tokenizer's training data.

Hayase, Liu, Choi, Oh, Smith, "Data Mixture Inference: What do BPE Tokenizers Reveal about their Training
Data?" (arXiv 2407.16607). Steps: replay the tokenizer's own normaliser and pre-tokeniser on each category's
sample (whole documents, never lines), replay the merges while recording pair counts (`merge_tracer`),
solve the LP (`mixture_lp`), convert weights to byte shares.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from tokenworks.errors import UserError
from tokenworks.methods.tokenization.bpe_replay import BpeSpec, load_bpe_spec, spec_from_tokenizer, word_counts
from tokenworks.methods.tokenization.categories import chunk_document
from tokenworks.methods.tokenization.merge_tracer import Probe, trace_merges
from tokenworks.methods.tokenization.mixture_lp import byte_shares, count_scale, solve_mixture_lp

DEFAULT_TOP_K = 10              # first-LP rivals per category and step; the check replays add any it misses
DEFAULT_CHECK_ROUNDS = 3         # replays that check the solution against every pair and add what it violates
DEFAULT_MAX_BYTES = 10_000_000   # per category; larger samples are sampled down in ~2 KB chunks
DEFAULT_MERGES = 3000            # the paper code's function default; 30K (its CLI default) needs a faster tracer


@dataclass
class MixtureEstimate:
    proportions: dict[str, float]   # category -> estimated share of training bytes
    alpha: dict[str, float]         # the LP's weights on pair-normalised counts
    objective: float                # total slack; 0 when some mixture explains every merge exactly
    rows: int                       # LP constraints
    steps: int                      # merges used
    added_constraints: int = 0      # violated constraints the check replays found beyond the top-k rivals
    check_rounds: int = 0           # check replays run


def infer_mixture(
    tokenizer: Tokenizer | BpeSpec,
    documents: dict[str, list[str]],
    merges: int | None = None,
    top_k: int = DEFAULT_TOP_K,
    check_rounds: int = DEFAULT_CHECK_ROUNDS,
) -> MixtureEstimate:
    """Estimate byte shares of `documents`' categories in the training data of `tokenizer` (first `merges` merges;
    None: all of them)."""
    spec = tokenizer if isinstance(tokenizer, BpeSpec) else spec_from_tokenizer(tokenizer)
    counts = {name: word_counts(spec, docs, desc=f"pre-tokenize {name}") for name, docs in documents.items()}
    return infer_from_word_counts(spec, counts, {n: sum(len(d.encode()) for d in docs) for n, docs in documents.items()},
                                  merges, top_k, check_rounds)


def infer_from_word_counts(
    spec: BpeSpec,
    counts: dict[str, dict[tuple[str, ...], int]],
    n_bytes: dict[str, int],
    merges: int | None = None,
    top_k: int = DEFAULT_TOP_K,
    check_rounds: int = DEFAULT_CHECK_ROUNDS,
) -> MixtureEstimate:
    """As `infer_mixture`, from word tables already counted (so many tokenizers can share one pre-tokenisation).

    Lazy constraint generation: the first LP holds each step's top-`top_k` rivals per category; each check
    replay then tests the solution against every pair, forces the violated constraints in, and re-solves,
    until a replay finds none or `check_rounds` replays have run."""
    chosen = spec.merges if merges is None else spec.merges[:merges]
    trace = trace_merges(counts, chosen, top_k=top_k, continuing_prefix=spec.continuing_prefix)
    solution = solve_mixture_lp(trace)
    forced: dict[int, np.ndarray] = {}
    added, rounds = 0, 0
    while rounds < check_rounds:
        rounds += 1
        probe = Probe(solution.alpha * count_scale(trace.initial_pairs), solution.step_slack, solution.pair_slack)
        trace = trace_merges(counts, chosen, top_k=top_k, continuing_prefix=spec.continuing_prefix,
                             forced=forced, probe=probe)
        if not trace.violators:
            break
        for step, pids in trace.violators.items():
            forced[step] = np.union1d(forced.get(step, np.zeros(0, dtype=np.int64)), pids)
            added += len(pids)
        solution = solve_mixture_lp(trace)
    names = trace.categories
    beta = byte_shares(solution.alpha, trace.initial_pairs, np.array([n_bytes[n] for n in names], dtype=np.float64))
    return MixtureEstimate(
        proportions={n: float(b) for n, b in zip(names, beta)},
        alpha={n: float(a) for n, a in zip(names, solution.alpha)},
        objective=solution.objective,
        rows=solution.rows,
        steps=solution.steps,
        added_constraints=added,
        check_rounds=rounds,
    )


def read_category(name: str, folder: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, seed: int = 0) -> list[str]:
    """The text documents under `folder` (recursively; hidden and binary files skipped), whole when they fit
    in `max_bytes`, otherwise a seeded sample of ~2 KB line-aligned chunks up to `max_bytes`."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"category {name!r}: folder {str(folder)!r} does not exist or is not a folder.")
    docs = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:
            continue
        text = raw.decode("utf-8", errors="replace")
        if text.strip():
            docs.append(text)
    if not docs:
        raise UserError(f"category {name!r}: folder {str(folder)!r} holds no text files; "
                        "give a folder of sample documents for each category.")
    if sum(len(d.encode()) for d in docs) <= max_bytes:
        return docs
    chunks = [c for d in docs for c in chunk_document(d)]
    random.Random(seed).shuffle(chunks)
    out, size = [], 0
    for c in chunks:
        if size >= max_bytes:
            break
        out.append(c)
        size += len(c.encode())
    return out


def infer_from_paths(tokenizer_path: str, categories: dict[str, str], merges: int | None = None) -> dict[str, float]:
    """category -> estimated share of the tokenizer's training bytes, for `tokenworks mixture infer`.

    `categories` maps a category name to a folder of sample text; `merges` defaults to the first
    DEFAULT_MERGES merges (or all, when the tokenizer has fewer). Raises UserError for a missing or non-BPE
    tokenizer, a tokenizer without merges, a missing or empty category folder, or fewer than two categories.
    """
    if len(categories) < 2:
        raise UserError(f"data-mixture inference needs at least two categories (--category NAME=DIR); "
                        f"got {len(categories)}: {', '.join(categories) or 'none'}.")
    if merges is not None and merges < 1:
        raise UserError(f"--merges must be a positive number of merges; got {merges}.")
    spec = load_bpe_spec(tokenizer_path)
    documents = {name: read_category(name, folder) for name, folder in categories.items()}
    return infer_mixture(spec, documents, merges=merges or DEFAULT_MERGES).proportions
