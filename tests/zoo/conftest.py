"""Shared zoo fixtures. Other test packages may use them too (import from tests/zoo/conftest.py or ask the lead
to lift them into tests/conftest.py): `code_tokenizer` and `micro_lm` build into the default cache once per
machine (seconds) and are reused by every later session."""

from __future__ import annotations

import pytest
import torch

from tokenworks.zoo.registry import build
from tokenworks.zoo.tokenizer import load_tokenizer


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def code_tokenizer():
    """The shared code-lm-* tokenizer (PreTrainedTokenizerFast)."""
    return load_tokenizer()


@pytest.fixture(scope="session")
def micro_dir(code_tokenizer):
    """Directory of the built code-lm-micro (default cache; built at most once per machine)."""
    return build("code-lm-micro", num_threads=1)


@pytest.fixture(scope="session")
def micro_lm(micro_dir):
    """(model, tokenizer) of code-lm-micro, eval mode, fp32, CPU."""
    from tokenworks.zoo.load import load_lm

    return load_lm("code-lm-micro", device="cpu")
