"""The data-mixture linear program (Hayase, Liu et al. 2024), solved with HiGHS.

Variables: mixture weights alpha (n,), a slack v_t >= 0 per merge step, a slack v_p >= 0 per rival pair.

    minimise    sum_t v_t + sum_p v_p
    subject to  sum_i alpha_i = 1, alpha >= 0
                sum_i alpha_i (chat_{i,m_t} - chat_{i,p}) + v_t + v_p >= 0   for each step t and rival p

chat_{i,p} = c_{i,p} / P_i: counts normalised by the category's number of pairs before any merge. A row in
which the merged pair beats the rival in every category is met by any alpha and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from tokenworks.methods.tokenization.merge_tracer import MergeTrace


@dataclass
class LpSolution:
    alpha: np.ndarray        # (n,) weights on pair-normalised counts
    objective: float         # total slack, in pairs per mean category size
    rows: int                # constraints that entered the LP
    steps: int
    step_slack: dict[int, float] = field(default_factory=dict)   # step -> v_t (nonzero ones)
    pair_slack: dict[int, float] = field(default_factory=dict)   # pair id -> v_p (nonzero ones)


def count_scale(initial_pairs: np.ndarray) -> np.ndarray:
    """(n,) factors turning raw counts into P_i-normalised counts times the mean P: "pairs of an average
    category", so HiGHS's absolute tolerances (~1e-7) sit far below the count differences that matter."""
    return initial_pairs.mean() / np.maximum(initial_pairs, 1.0)


def solve_mixture_lp(trace: MergeTrace) -> LpSolution:
    n = len(trace.categories)
    scale = count_scale(trace.initial_pairs)    # (n,)
    diffs, step_of, pair_of = [], [], []
    for t in range(trace.steps):
        if len(trace.rival_ids[t]) == 0:
            continue
        d = (trace.merge_counts[t][None, :] - trace.rival_counts[t]) * scale[None, :]     # (r_t, n)
        binding = (d < 0).any(axis=1)
        diffs.append(d[binding])
        step_of.append(np.full(int(binding.sum()), t))
        pair_of.append(trace.rival_ids[t][binding])
    if not diffs or sum(len(d) for d in diffs) == 0:
        return LpSolution(np.full(n, 1.0 / n), 0.0, 0, trace.steps)
    d = np.concatenate(diffs)
    steps, step_col = np.unique(np.concatenate(step_of), return_inverse=True)
    pairs, pair_col = np.unique(np.concatenate(pair_of), return_inverse=True)
    rows = len(d)
    n_vars = n + len(steps) + len(pairs)
    # A_ub x <= 0 with x = [alpha, v_step, v_pair]: -(d . alpha) - v_t - v_p <= 0
    r_idx = np.concatenate([np.repeat(np.arange(rows), n), np.arange(rows), np.arange(rows)])
    c_idx = np.concatenate([np.tile(np.arange(n), rows), n + step_col, n + len(steps) + pair_col])
    vals = np.concatenate([-d.ravel(), -np.ones(rows), -np.ones(rows)])
    a_ub = coo_matrix((vals, (r_idx, c_idx)), shape=(rows, n_vars)).tocsr()
    cost = np.concatenate([np.zeros(n), np.ones(len(steps) + len(pairs))])
    a_eq = coo_matrix((np.ones(n), (np.zeros(n, dtype=int), np.arange(n))), shape=(1, n_vars)).tocsr()
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(rows), A_eq=a_eq, b_eq=[1.0], bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"HiGHS did not solve the mixture LP: {res.message}")
    alpha = np.clip(res.x[:n], 0, None)
    v_step, v_pair = res.x[n:n + len(steps)], res.x[n + len(steps):]
    return LpSolution(alpha / alpha.sum(), float(res.fun), rows, trace.steps,
                      {int(t): float(v) for t, v in zip(steps, v_step) if v > 0},
                      {int(p): float(v) for p, v in zip(pairs, v_pair) if v > 0})


def byte_shares(alpha: np.ndarray, initial_pairs: np.ndarray, n_bytes: np.ndarray) -> np.ndarray:
    """beta_i proportional to alpha_i * B_i / P_i: from weights on pair-normalised counts to shares of bytes."""
    beta = alpha * n_bytes / np.maximum(initial_pairs, 1.0)
    return beta / beta.sum()
