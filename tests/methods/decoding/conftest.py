"""Tiny random-init models for the decoding tests: fp32, large init so that argmax ties are unlikely."""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():  # the Triton kernels run in the interpreter on CPU machines
    os.environ.setdefault("TRITON_INTERPRET", "1")

from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

VOCAB = 96


class ToyTokenizer:
    """Just what the decoders and the benchmark use: encode(), eos_token_id, pad_token_id."""

    def __init__(self, eos_token_id: int | None = None):
        self.eos_token_id = eos_token_id
        self.pad_token_id = 0

    def encode(self, text: str) -> list[int]:
        return [4 + (ord(c) % (VOCAB - 4)) for c in text]


def tiny_llama(seed: int, layers: int = 2, hidden: int = 64) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=None, eos_token_id=None, pad_token_id=0, initializer_range=0.3,
        attn_implementation="sdpa", dtype=torch.float32,
    )
    model = LlamaForCausalLM(cfg).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    return model


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def target_model() -> LlamaForCausalLM:
    return tiny_llama(seed=0)


@pytest.fixture(scope="session")
def draft_model() -> LlamaForCausalLM:
    return tiny_llama(seed=1, layers=1)
