"""Bits per byte of a causal LM on a list of documents: a tokenizer-independent measure of how well it fits."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tokenworks.zoo.tokenizer import token_byte_lengths


def token_stream(tokenizer, texts: list[str]) -> list[int]:
    """EOS doc1 EOS doc2 EOS ...: the leading EOS lets the model predict every document's first token."""
    eos = tokenizer.eos_token_id
    stream = [eos]
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(eos)
    return stream


@torch.no_grad()
def bits_per_byte(model, tokenizer, texts: list[str], context: int, max_tokens: int | None = None) -> float:
    """sum of token NLL (nats) / (ln 2 * UTF-8 bytes of the scored tokens), over non-overlapping windows.

    Each window of `context` targets is scored with only its own prefix as context (no carry-over), which
    is how the model was trained. EOS targets add their NLL but no bytes (they are not text).
    """
    stream = torch.tensor(token_stream(tokenizer, texts))
    if max_tokens is not None:
        stream = stream[: max_tokens + 1]
    byte_lengths = torch.tensor(token_byte_lengths(tokenizer), dtype=torch.float64)
    was_training = model.training
    model.eval()
    nll_nats, n_bytes = 0.0, 0.0
    for start in range(0, len(stream) - 1, context):
        window = stream[start : start + context + 1]  # [<= context + 1]
        inputs, targets = window[:-1].unsqueeze(0), window[1:]
        logits = model(input_ids=inputs).logits[0].float()  # [T, V]
        nll_nats += F.cross_entropy(logits, targets, reduction="sum").item()
        n_bytes += byte_lengths[targets].sum().item()
    model.train(was_training)
    return nll_nats / (math.log(2) * n_bytes)
