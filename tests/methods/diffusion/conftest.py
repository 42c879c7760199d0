from __future__ import annotations

import pytest
import torch

from tokenworks.methods.diffusion import CharTokenizer, MaskedTransformer, ModelConfig


def peaked_model(causal: bool, seed: int) -> MaskedTransformer:
    """A random model whose logits are peaked enough that confidences spread over (0, 1): thresholds then
    commit several positions some steps and one on others, which is what the policy tests need."""
    torch.manual_seed(seed)
    model = MaskedTransformer(ModelConfig(len(CharTokenizer()), hidden=32, layers=2, heads=2, ffn=64, context=40,
                                          causal=causal))
    with torch.no_grad():   # larger weights: per-position confidences spread between ~0.1 and 1
        for name, weight in model.named_parameters():
            if weight.dim() == 2 and "embed" not in name:
                weight.mul_(3.0)
        model.embed.weight.mul_(40.0)
        model.pos.weight.mul_(40.0)
    return model.eval()


@pytest.fixture(scope="module")
def dlm():
    return peaked_model(causal=False, seed=0)


@pytest.fixture(scope="module")
def guide():
    return peaked_model(causal=True, seed=1)


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer()
