"""Markov sources, binary dictionaries and per-character loss accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tokenworks.methods.tokenization.binary_tokenizers import (CharTokenizer, LzwTokenizer, make_tokenizer,
                                                               unigram_loss_per_char)
from tokenworks.methods.tokenization.lm_training import TrainSettings, encode_texts, loss_per_char, train_and_evaluate
from tokenworks.methods.tokenization.markov import MarkovSource, binary_entropy, to_strings

torch.set_num_threads(1)


@pytest.mark.parametrize("order,p,q", [(1, 0.8, 0.8), (2, 0.7, 0.4), (3, 0.9, 0.6)])
def test_switching_entropy_rate_matches_closed_form_and_monte_carlo(order, p, q):
    source = MarkovSource.switching(order, p, q)
    closed = (q * binary_entropy(p) + p * binary_entropy(q)) / (p + q)
    assert source.entropy_rate() == pytest.approx(closed, abs=1e-12)
    assert source.unigram_loss() == pytest.approx(binary_entropy(p / (p + q)), abs=1e-12)
    sample = source.sample(200, 1000, np.random.default_rng(order))
    assert source.nll(sample) == pytest.approx(closed, abs=0.01)          # ~0.002 standard error
    assert sample.mean() == pytest.approx(p / (p + q), abs=0.01)


def test_random_kernel_entropy_rate_matches_monte_carlo():
    source = MarkovSource.random_kernel(3, np.random.default_rng(5))
    sample = source.sample(200, 1000, np.random.default_rng(6))
    assert source.nll(sample) == pytest.approx(source.entropy_rate(), abs=0.01)
    assert source.entropy_rate() < source.unigram_loss() <= math.log(2) + 1e-12


def test_switching_source_depends_on_the_symbol_k_back():
    x = MarkovSource.switching(3, 0.95, 0.95).sample(50, 400, np.random.default_rng(0)).astype(int)
    flips_k_back = np.mean(x[:, 3:] != x[:, :-3])
    flips_1_back = np.mean(x[:, 1:] != x[:, :-1])
    assert flips_k_back > 0.9 and abs(flips_1_back - 0.5) < 0.1


def test_tokenizers_cover_the_text_and_lzw_greedy_encoding_is_lossless():
    texts = to_strings(MarkovSource.switching(1, 0.8, 0.8).sample(40, 64, np.random.default_rng(0)))
    for kind in ("bpe", "lzw"):
        tok = make_tokenizer(kind, texts, 16)
        assert tok.vocab_size == 18
        assert all(0 <= i < tok.vocab_size for i in tok.encode(texts[0]))
    lzw = LzwTokenizer(texts, 16)
    inverse = {i: s for s, i in lzw.phrases.items()}
    assert "".join(inverse[i] for i in lzw.encode(texts[1])) == texts[1]


def test_unigram_over_tokens_beats_character_unigram_on_a_markov_source():
    source = MarkovSource.switching(1, 0.8, 0.8)
    rng = np.random.default_rng(0)
    train, test = to_strings(source.sample(300, 256, rng)), to_strings(source.sample(40, 256, rng))
    char = unigram_loss_per_char(CharTokenizer(), train, test)
    bpe = unigram_loss_per_char(make_tokenizer("bpe", train, 64), train, test)
    assert char == pytest.approx(math.log(2), abs=0.01)
    assert source.entropy_rate() < bpe < char - 0.08


class _UniformLogits(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*ids.shape, self.vocab)


def test_loss_per_char_divides_token_nll_by_characters_not_tokens():
    texts = ["0101010101", "0011", "1"]
    bpe = make_tokenizer("bpe", ["0101010101" * 20, "0011" * 30], 4)
    for tok in (CharTokenizer(), bpe):
        data = encode_texts(tok, texts)
        vocab = tok.vocab_size + 2
        n_tokens = sum(len(tok.encode(t)) for t in texts)
        expected = n_tokens * math.log(vocab) / sum(len(t) for t in texts)
        assert int(data.mask.sum()) == n_tokens                    # BOS and padding are never scored
        assert loss_per_char(_UniformLogits(vocab), data, batch_size=2) == pytest.approx(expected, rel=1e-6)
    assert sum(len(bpe.encode(t)) for t in texts) < sum(len(t) for t in texts)


def test_a_tiny_transformer_learns_a_first_order_source_below_the_unigram_loss():
    source = MarkovSource.switching(1, 0.9, 0.9)
    rng = np.random.default_rng(0)
    train, test = to_strings(source.sample(200, 32, rng)), to_strings(source.sample(20, 32, rng))
    out = train_and_evaluate(CharTokenizer(), train, test, TrainSettings(steps=60, n_embd=16, eval_every=30), seed=0)
    assert out.loss_per_char < source.unigram_loss() - 0.1
    assert [s for s, _ in out.curve] == [30, 60]
