"""Binary k-th order Markov sources, their entropy rate and their unigram (stationary-marginal) loss.

Rajaraman, Jiao, Ramchandran, "Toward a Theory of Tokenization in LLMs" (arXiv 2404.08335). The running
example is the k-th order switching source: the next symbol depends only on the symbol k steps back,
P(X_n = 1 | X_{n-k} = 0) = p and P(X_n = 0 | X_{n-k} = 1) = q. Its entropy rate is
H = [q h(p) + p h(q)] / (p + q), and a model that only learns the stationary marginal pays h(p / (p + q)).

A state is the last k symbols as an integer, the oldest symbol in the most significant bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def binary_entropy(p: np.ndarray | float) -> np.ndarray | float:
    """h(p) in nats; h(0) = h(1) = 0."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-300, 1.0)
    q = np.clip(1.0 - p, 1e-300, 1.0)
    return -(p * np.log(p) + q * np.log(q))


@dataclass(frozen=True)
class MarkovSource:
    order: int
    p_one: np.ndarray   # (2**order,) P(next symbol = 1 | state)

    @classmethod
    def switching(cls, order: int, p: float, q: float) -> "MarkovSource":
        oldest = np.arange(2**order) >> (order - 1)
        return cls(order, np.where(oldest == 0, p, 1.0 - q))

    @classmethod
    def random_kernel(cls, order: int, rng: np.random.Generator) -> "MarkovSource":
        """P(1 | state) ~ U(0, 1) independently per state (the EPFL Markov-LLM code's `--transition random`)."""
        return cls(order, rng.uniform(0.0, 1.0, size=2**order))

    @property
    def n_states(self) -> int:
        return 2**self.order

    def next_state(self, state: np.ndarray, symbol: np.ndarray) -> np.ndarray:
        return ((state << 1) | symbol) & (self.n_states - 1)

    def stationary(self) -> np.ndarray:
        """(2**order,) stationary distribution of the state chain (the eigenvector of eigenvalue 1)."""
        states = np.arange(self.n_states)
        t = np.zeros((self.n_states, self.n_states))
        t[states, self.next_state(states, 0)] += 1.0 - self.p_one
        t[states, self.next_state(states, 1)] += self.p_one
        values, vectors = np.linalg.eig(t.T)
        v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
        return v / v.sum()

    def entropy_rate(self) -> float:
        """H = sum_s pi(s) h(P(1 | s)), nats per symbol: the best achievable loss per character."""
        return float(self.stationary() @ binary_entropy(self.p_one))

    def unigram_loss(self) -> float:
        """h(P(X = 1)) under stationarity, nats per symbol: the loss of predicting the marginal only."""
        return float(binary_entropy(self.stationary() @ self.p_one))

    def sample(self, n_sequences: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """(n_sequences, length) int8 symbols, each sequence started from the stationary state distribution."""
        state = rng.choice(self.n_states, size=n_sequences, p=self.stationary())
        out = np.empty((n_sequences, length), dtype=np.int8)
        for j in range(length):
            symbol = (rng.random(n_sequences) < self.p_one[state]).astype(np.int64)
            out[:, j] = symbol
            state = self.next_state(state, symbol)
        return out

    def nll(self, sequences: np.ndarray) -> float:
        """Mean -log P(x_n | previous k symbols) over positions n >= k: a Monte-Carlo estimate of H."""
        seq = sequences.astype(np.int64)
        state = np.zeros(len(seq), dtype=np.int64)
        total, count = 0.0, 0
        for j in range(seq.shape[1]):
            if j >= self.order:
                p1 = self.p_one[state]
                total -= np.log(np.where(seq[:, j] == 1, p1, 1.0 - p1)).sum()
                count += len(seq)
            state = self.next_state(state, seq[:, j])
        return total / count


def to_strings(sequences: np.ndarray) -> list[str]:
    """(n, length) 0/1 array -> n strings of '0'/'1' characters."""
    return ["".join("01"[b] for b in row) for row in sequences.tolist()]
