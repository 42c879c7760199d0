"""Replay a BPE merge list on word-frequency tables and record the pair counts the trainer saw at each step.

Terminology (the paper's): at merge step t (0-based here) the count c_{i,p}^(t) of an adjacent pair p in
category i is the frequency-weighted number of occurrences of p in i's words after the first t merges.
BPE training picks the pair with the largest count in the mixture, so the merged pair m^(t) must beat every
other pair p under the true mixture: that inequality is one LP constraint (see `mixture_lp`).

Counts are exact occurrence counts of the current segmentation, recomputed for every word a merge touches;
they equal the bookkeeping of Hugging Face's `BpeTrainer` for every pair that is still a candidate.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm


class PairIndex:
    """Global ids for symbols and for adjacent symbol pairs, shared by all categories of one replay."""

    def __init__(self) -> None:
        self.symbol_id: dict[str, int] = {}
        self.symbols: list[str] = []
        self.pair_id: dict[tuple[int, int], int] = {}
        self.pairs: list[tuple[int, int]] = []

    def symbol(self, s: str) -> int:
        if s not in self.symbol_id:
            self.symbol_id[s] = len(self.symbols)
            self.symbols.append(s)
        return self.symbol_id[s]

    def pair(self, a: int, b: int) -> int:
        key = (a, b)
        if key not in self.pair_id:
            self.pair_id[key] = len(self.pairs)
            self.pairs.append(key)
        return self.pair_id[key]


def merge_word(word: Sequence[int], a: int, b: int, new: int) -> list[int]:
    """Replace every non-overlapping occurrence of (a, b), left to right, as BPE trainers do."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


class WordTable:
    """One category's words (as symbol-id lists) with frequencies, live pair counts and a pair -> words index.

    A lazy max-heap of (-count, pair id) finds the top pairs: every count change pushes a fresh entry, and
    entries whose count is out of date are dropped when popped (HF's trainer keeps its queue the same way).
    """

    def __init__(self, word_counts: dict[tuple[str, ...], int], index: PairIndex) -> None:
        self.index = index
        self.words: list[list[int]] = []
        self.freqs: list[int] = []
        self.counts = np.zeros(1024, dtype=np.int64)   # by global pair id; grown on demand
        self.where: dict[int, set[int]] = {}
        self._touched: set[int] = set()
        for symbols, freq in word_counts.items():
            w = len(self.words)
            self.words.append([index.symbol(s) for s in symbols])
            self.freqs.append(int(freq))
            self._add(w, +1)
        self.heap: list[tuple[int, int]] = []
        self._push_touched()
        self.initial_pairs = int(self.counts.sum())   # P_i: pairs before any merge, the paper's normaliser

    def _grow(self) -> None:
        if len(self.index.pairs) > len(self.counts):
            grown = np.zeros(max(2 * len(self.counts), len(self.index.pairs)), dtype=np.int64)
            grown[: len(self.counts)] = self.counts
            self.counts = grown

    def _add(self, w: int, sign: int) -> None:
        word, freq = self.words[w], self.freqs[w]
        ids = [self.index.pair(x, y) for x, y in zip(word, word[1:])]
        self._grow()
        for pid, k in Counter(ids).items():
            self.counts[pid] += sign * k * freq
            self._touched.add(pid)
            if sign > 0:
                self.where.setdefault(pid, set()).add(w)

    def _push_touched(self) -> None:
        for pid in self._touched:
            if self.counts[pid] > 0:
                heapq.heappush(self.heap, (-int(self.counts[pid]), pid))
        self._touched.clear()

    def count(self, pid: int) -> int:
        return int(self.counts[pid]) if pid < len(self.counts) else 0

    def counts_of(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids),) counts; pairs this table has never seen count 0."""
        out = np.zeros(len(ids), dtype=np.int64)
        known = ids < len(self.counts)
        out[known] = self.counts[ids[known]]
        return out

    def apply_merge(self, a: int, b: int, new: int) -> None:
        pid = self.index.pair_id.get((a, b))
        if pid is None:
            return
        for w in self.where.pop(pid, ()):   # a superset: words that lost the pair earlier are skipped
            merged = merge_word(self.words[w], a, b, new)
            if len(merged) == len(self.words[w]):
                continue
            self._add(w, -1)
            self.words[w] = merged
            self._add(w, +1)
        self.where.pop(pid, None)
        self._push_touched()

    def top_pairs(self, k: int) -> np.ndarray:
        """Ids of (up to) the k pairs with the largest positive current counts, largest first."""
        found: list[tuple[int, int]] = []
        seen: set[int] = set()
        while self.heap and len(found) < k:
            neg, pid = heapq.heappop(self.heap)
            if pid not in seen and -neg == self.counts[pid]:   # otherwise stale or a duplicate entry
                seen.add(pid)
                found.append((neg, pid))
        for entry in found:
            heapq.heappush(self.heap, entry)
        return np.array([pid for _, pid in found], dtype=np.int64)


def word_symbols(word: str, continuing_prefix: str = "", end_suffix: str = "") -> tuple[str, ...]:
    """A pre-token's initial BPE symbols: its characters, with the model's subword prefix/suffix markers."""
    chars = list(word)
    if continuing_prefix:
        chars = chars[:1] + [continuing_prefix + c for c in chars[1:]]
    if end_suffix and chars:
        chars[-1] = chars[-1] + end_suffix
    return tuple(chars)


def merged_symbol(a: str, b: str, continuing_prefix: str = "") -> str:
    if continuing_prefix and b.startswith(continuing_prefix):
        b = b[len(continuing_prefix):]
    return a + b


@dataclass
class MergeTrace:
    """What the LP needs, per category i: P_i and, per step, the counts of the merged pair and its rivals."""

    categories: list[str]
    initial_pairs: np.ndarray                     # (n,) P_i
    merge_counts: list[np.ndarray] = field(default_factory=list)        # per step: (n,) counts of m^(t)
    rival_ids: list[np.ndarray] = field(default_factory=list)           # per step: (r_t,) pair ids
    rival_counts: list[np.ndarray] = field(default_factory=list)        # per step: (r_t, n) counts
    violators: dict[int, np.ndarray] = field(default_factory=dict)       # step -> pair ids a Probe found

    @property
    def steps(self) -> int:
        return len(self.merge_counts)


@dataclass
class Probe:
    """A candidate solution to check against every pair (lazy constraint generation): a pair p violates step t
    when sum_i w_i c_{i,p} - sum_i w_i c_{i,m_t} > v_t + v_p + tol, with w_i = alpha_i * scale_i."""

    weights: np.ndarray                 # (n,) alpha_i * count scale_i
    step_slack: dict[int, float]
    pair_slack: dict[int, float]
    tol: float = 1e-6
    max_per_step: int = 10              # the paper code's competitor batch size


def _violators(tables: list["WordTable"], probe: Probe, step: int, merged_pid: int, known: np.ndarray) -> np.ndarray:
    n_pairs = len(tables[0].index.pairs)
    mix = np.zeros(n_pairs)
    for w, t in zip(probe.weights, tables):
        m = min(n_pairs, len(t.counts))
        mix[:m] += w * t.counts[:m]
    excess = mix - mix[merged_pid] - probe.step_slack.get(step, 0.0)
    excess[merged_pid] = -np.inf
    excess[known] = -np.inf
    cand = np.flatnonzero(excess > probe.tol)
    cand = np.array([p for p in cand if excess[p] > probe.pair_slack.get(int(p), 0.0) + probe.tol], dtype=np.int64)
    return cand[np.argsort(-excess[cand])[: probe.max_per_step]] if len(cand) else cand


def trace_merges(
    word_counts: dict[str, dict[tuple[str, ...], int]],
    merges: Iterable[tuple[str, str]],
    top_k: int = 30,
    continuing_prefix: str = "",
    forced: dict[int, np.ndarray] | None = None,
    probe: Probe | None = None,
) -> MergeTrace:
    """Advance every category's word table through `merges`, recording before each merge the counts of the
    merged pair and of its rivals: the union of the categories' top-`top_k` pairs, the pairs `forced` for
    that step, and (with a `probe`) the pairs that violate the probe's solution (kept in `violators`).

    Pair ids are assigned in replay order, so they are the same in every replay of the same input."""
    forced = forced or {}
    index = PairIndex()
    names = list(word_counts)
    tables = [WordTable(word_counts[name], index) for name in names]
    trace = MergeTrace(names, np.array([t.initial_pairs for t in tables], dtype=np.float64))
    for a_str, b_str in tqdm(merges, desc="replay merges", leave=False):
        a, b = index.symbol(a_str), index.symbol(b_str)
        new = index.symbol(merged_symbol(a_str, b_str, continuing_prefix))
        merged_pid = index.pair(a, b)
        step = trace.steps
        rivals = np.unique(np.concatenate([t.top_pairs(top_k) for t in tables]
                                          + [forced.get(step, np.zeros(0, dtype=np.int64))]))
        if probe is not None:
            found = _violators(tables, probe, step, merged_pid, rivals)
            if len(found):
                trace.violators[step] = found
                rivals = np.union1d(rivals, found)
        rivals = rivals[rivals != merged_pid]
        trace.merge_counts.append(np.array([t.count(merged_pid) for t in tables], dtype=np.float64))
        trace.rival_ids.append(rivals)
        trace.rival_counts.append(np.stack([t.counts_of(rivals) for t in tables], axis=1).astype(np.float64))
        for t in tables:
            t.apply_merge(a, b, new)
    return trace


def greedy_merges(word_counts: dict[tuple[str, ...], int], n_merges: int, alphabet: Iterable[str] = (),
                  min_frequency: int = 0) -> list[tuple[str, str]]:
    """Train BPE the way HF's BpeTrainer does: most frequent pair first, ties to the smallest (left id, right id),
    with ids given to the alphabet in code-point order and to merged symbols in creation order."""
    index = PairIndex()
    for ch in sorted(set(alphabet) | {c for w in word_counts for c in w}):
        index.symbol(ch)
    table = WordTable(word_counts, index)
    out = []
    for _ in range(n_merges):
        n = len(index.pairs)
        counts = table.counts[:n]
        if n == 0 or counts.max() <= 0 or counts.max() < min_frequency:
            break
        best = np.flatnonzero(counts == counts.max())
        pid = min(best, key=lambda p: index.pairs[p])
        a, b = index.pairs[pid]
        new = index.symbol(index.symbols[a] + index.symbols[b])
        out.append((index.symbols[a], index.symbols[b]))
        table.apply_merge(a, b, new)
        table.counts[pid] = 0   # the merged pair cannot occur again
    return out
