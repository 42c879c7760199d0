"""Train a tiny LM on token streams of fixed-character-length texts and measure cross-entropy per character.

Per-character loss of a tokenised model (the paper's end-to-end quantity): the sum of the token NLLs of a
text's tokenisation (each token predicted from BOS and the tokens before it) divided by the text's number
of characters. For the character "tokenizer" this is the usual per-symbol loss; for BPE it upper-bounds the
model's per-character loss, since other tokenisations of the same text are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from tokenworks.methods.tokenization.binary_tokenizers import BinaryTokenizer
from tokenworks.methods.tokenization.tiny_lm import TinyCausalLM


@dataclass
class EncodedTexts:
    ids: torch.Tensor       # (N, L) BOS + token ids, right-padded with PAD
    mask: torch.Tensor      # (N, L) True where ids[:, 1:] holds a real token to predict (first column unused)
    n_chars: torch.Tensor   # (N,) characters per text


def encode_texts(tokenizer: BinaryTokenizer, texts: list[str]) -> EncodedTexts:
    """BOS = vocab_size, PAD = vocab_size + 1 (so the model's vocabulary is tokenizer.vocab_size + 2)."""
    bos, pad = tokenizer.vocab_size, tokenizer.vocab_size + 1
    encoded = [[bos] + tokenizer.encode(t) for t in texts]
    length = max(len(e) for e in encoded)
    ids = torch.full((len(texts), length), pad, dtype=torch.long)
    for i, e in enumerate(encoded):
        ids[i, : len(e)] = torch.tensor(e)
    mask = ids != pad
    mask[:, 0] = False
    return EncodedTexts(ids, mask, torch.tensor([len(t) for t in texts], dtype=torch.float64))


def token_nll(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logits (B, L, V), ids (B, L), mask (B, L) -> (B,) summed NLL (nats) of ids[:, 1:] given the prefix."""
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")    # (B, L-1)
    return (nll * mask[:, 1:]).sum(dim=1)


@torch.no_grad()
def loss_per_char(model: nn.Module, data: EncodedTexts, batch_size: int = 64) -> float:
    """Total token NLL over all texts divided by their total number of characters (nats per character)."""
    model.eval()
    total = 0.0
    for start in range(0, len(data.ids), batch_size):
        ids, mask = data.ids[start:start + batch_size], data.mask[start:start + batch_size]
        total += float(token_nll(model(ids), ids, mask).sum())
    model.train()
    return total / float(data.n_chars.sum())


@dataclass
class TrainSettings:
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-3
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32
    eval_every: int = 100


@dataclass
class TrainOutcome:
    loss_per_char: float            # final test loss, nats per character
    curve: list[tuple[int, float]]  # (step, test loss per char)


def train_and_evaluate(tokenizer: BinaryTokenizer, train: list[str], test: list[str], settings: TrainSettings,
                       seed: int, desc: str = "train") -> TrainOutcome:
    """Train a TinyCausalLM from seed `seed` on `train` (tokenised), report per-character test loss."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_data, test_data = encode_texts(tokenizer, train), encode_texts(tokenizer, test)
    max_len = max(train_data.ids.shape[1], test_data.ids.shape[1])
    model = TinyCausalLM(tokenizer.vocab_size + 2, max_len, settings.n_layer, settings.n_head, settings.n_embd)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    curve = []
    for step in tqdm(range(settings.steps), desc=desc, leave=False):
        rows = torch.from_numpy(rng.integers(0, len(train_data.ids), settings.batch_size))
        ids, mask, chars = train_data.ids[rows], train_data.mask[rows], train_data.n_chars[rows]
        loss = token_nll(model(ids), ids, mask).sum() / chars.sum().float()   # per character, as evaluated
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            curve.append((step + 1, loss_per_char(model, test_data)))
    return TrainOutcome(curve[-1][1], curve)
