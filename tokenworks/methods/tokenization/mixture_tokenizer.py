"""Target tokenizers with a known training mixture: simplex sampling, mixture building, BPE training."""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tokenworks.methods.tokenization.categories import CategoryPools, take_bytes


def paper_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """The paper's controlled-experiment pre-tokeniser: digit runs split off, then GPT-2's byte-level regex."""
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=False),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])


def train_bpe(documents: list[str], n_merges: int, min_frequency: int = 2) -> Tokenizer:
    """Byte-level BPE with (at most) `n_merges` merges; each document is one training sequence, pre-tokenised whole."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = paper_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + n_merges, min_frequency=min_frequency,
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(documents, trainer=trainer)
    return tok


def sample_simplex(n: int, rng: np.random.Generator, resolution: int = 10_000) -> np.ndarray:
    """A uniform draw from the n-simplex (Smith & Tromble): gaps between sorted distinct integers of 1..resolution-1."""
    cuts = np.sort(rng.choice(np.arange(1, resolution), size=n - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [resolution]])) / resolution


def build_mixture(pools: dict[str, CategoryPools], beta: np.ndarray, total_bytes: int, seed: int) -> dict[str, list[str]]:
    """category -> the tokenizer-pool chunks that make up its share beta_i of `total_bytes` (pool cycled if short)."""
    return {name: take_bytes(pool.tokenizer, int(round(b * total_bytes)), seed=seed + i)
            for i, ((name, pool), b) in enumerate(zip(pools.items(), beta))}


def interleave(per_category: dict[str, list[str]], seed: int) -> list[str]:
    """All chunks of a mixture in one seeded order (the trainer's counts do not depend on it)."""
    docs = [d for chunks in per_category.values() for d in chunks]
    np.random.default_rng(seed).shuffle(docs)
    return docs
