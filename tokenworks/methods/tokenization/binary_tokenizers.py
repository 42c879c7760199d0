"""Dictionaries for strings over {'0', '1'}: characters, BPE (HF trainer) and LZW, plus the best unigram model
over a dictionary's tokens, whose loss per character the theory of tokenization bounds."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

import numpy as np
from tokenizers import Tokenizer, models, trainers

ALPHABET = ("0", "1")


class BinaryTokenizer(Protocol):
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...


class CharTokenizer:
    vocab_size = 2

    def encode(self, text: str) -> list[int]:
        return [ord(c) - ord("0") for c in text]


class BpeBinaryTokenizer:
    """HF BPE over '0'/'1' with `dict_size` merges and no pre-tokeniser: each training string is one word."""

    def __init__(self, texts: list[str], dict_size: int) -> None:
        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=len(ALPHABET) + dict_size, initial_alphabet=list(ALPHABET),
                                      min_frequency=1, show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        self.tokenizer = tok
        self.vocab_size = tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids


class LzwTokenizer:
    """An LZW dictionary grown on the training text until it holds `dict_size` extra phrases; encoding is greedy
    longest match against the dictionary."""

    def __init__(self, texts: list[str], dict_size: int) -> None:
        phrases = {c: i for i, c in enumerate(ALPHABET)}
        for text in texts:
            i = 0
            while i < len(text) and len(phrases) < len(ALPHABET) + dict_size:
                j = i + 1
                while j <= len(text) and text[i:j] in phrases:
                    j += 1
                if j <= len(text):
                    phrases[text[i:j]] = len(phrases)
                i = j - 1
            if len(phrases) >= len(ALPHABET) + dict_size:
                break
        self.phrases = phrases
        self.max_len = max(len(p) for p in phrases)
        self.vocab_size = len(phrases)

    def encode(self, text: str) -> list[int]:
        ids, i = [], 0
        while i < len(text):
            for n in range(min(self.max_len, len(text) - i), 0, -1):
                if text[i:i + n] in self.phrases:
                    ids.append(self.phrases[text[i:i + n]])
                    i += n
                    break
        return ids


def make_tokenizer(kind: str, texts: list[str], dict_size: int) -> BinaryTokenizer:
    if kind == "char":
        return CharTokenizer()
    if kind == "bpe":
        return BpeBinaryTokenizer(texts, dict_size)
    if kind == "lzw":
        return LzwTokenizer(texts, dict_size)
    raise ValueError(f"tokenizer kind {kind!r}; allowed: char, bpe, lzw")


def unigram_loss_per_char(tokenizer: BinaryTokenizer, train: list[str], test: list[str]) -> float:
    """Per-character cross-entropy (nats) on `test` of the add-one-smoothed token-frequency model fitted on `train`:
    sum over test tokens of -log q(token), divided by the number of test characters."""
    counts = Counter(i for t in train for i in tokenizer.encode(t))
    freq = np.ones(tokenizer.vocab_size) + np.array([counts.get(i, 0) for i in range(tokenizer.vocab_size)])
    log_q = np.log(freq / freq.sum())
    nll = -sum(log_q[i] for t in test for i in tokenizer.encode(t))
    return float(nll / sum(len(t) for t in test))
