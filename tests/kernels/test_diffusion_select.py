"""The Triton per-step selection kernel against its PyTorch reference (TRITON_INTERPRET=1 on CPU)."""

from __future__ import annotations

import pytest
import torch

from tokenworks.kernels.diffusion_select import select_reference, select_triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _check(logits, masked, threshold, relaxed, radius):
    conf, x0, commit = select_triton(logits, masked, threshold, relaxed, radius)
    ref_conf, ref_x0, ref_commit = select_reference(logits, masked, threshold, relaxed, radius)
    assert torch.equal(x0.cpu(), ref_x0.cpu())
    assert torch.equal(torch.isinf(conf), torch.isinf(ref_conf))
    finite = ~torch.isinf(ref_conf)
    torch.testing.assert_close(conf[finite], ref_conf[finite], rtol=1e-5, atol=1e-6)
    assert torch.equal(commit.cpu(), ref_commit.cpu())


@pytest.mark.parametrize("n,vocab", [(1, 2), (3, 5), (7, 33), (16, 101), (29, 1100), (64, 7)])
@pytest.mark.parametrize("threshold,relaxed,radius", [(0.9, 0.75, 4), (0.6, 0.3, 1), (0.5, 0.5, 0),
                                                      (float("inf"), float("inf"), 0), (0.99, 0.2, 16)])
def test_kernel_matches_reference_on_random_inputs(n, vocab, threshold, relaxed, radius):
    g = torch.Generator().manual_seed(n * 1000 + vocab)
    for scale in (0.5, 3.0, 12.0):   # flat to peaked distributions: few to many anchors
        logits = (torch.randn(n, vocab, generator=g) * scale).to(DEVICE)
        masked = (torch.rand(n, generator=g) < 0.7).to(DEVICE)
        _check(logits, masked, threshold, relaxed, radius)


def test_ties_and_no_masked_positions():
    logits = torch.zeros(6, 9, device=DEVICE)          # every row a tie: argmax 0, equal confidence
    masked = torch.tensor([False, True, True, False, True, True], device=DEVICE)
    _check(logits, masked, 0.9, 0.5, 2)
    _, _, commit = select_triton(logits, masked, 0.9, 0.5, 2)
    assert commit.tolist() == [False, True, False, False, False, False]   # top-1 = first masked on ties
    _check(logits, torch.zeros(6, dtype=torch.bool, device=DEVICE), 0.9, 0.5, 2)


def test_worked_example_of_the_docstring():
    probs = torch.tensor([[0.95, 0.05], [0.8, 0.2], [0.3, 0.7], [0.85, 0.15]])
    conf, x0, commit = select_reference(probs.log(), torch.ones(4, dtype=torch.bool), 0.9, 0.75, 1)
    assert x0.tolist() == [0, 0, 1, 0]
    assert commit.tolist() == [True, True, False, False]
    _check(probs.log().to(DEVICE), torch.ones(4, dtype=torch.bool, device=DEVICE), 0.9, 0.75, 1)


def test_ruled_out_tokens_and_vocab_tiles():
    """-inf logits (the decode loop rules out [MASK]) and a vocabulary spanning several kernel tiles, with
    a whole tile of -inf before the first finite value."""
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(5, 2100, generator=g) * 4
    logits[:, :1024] = float("-inf")
    logits[:, 1] = float("-inf")
    masked = torch.tensor([True, True, False, True, True])
    _check(logits.to(DEVICE), masked.to(DEVICE), 0.3, 0.1, 1)
