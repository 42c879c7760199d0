"""The Triton graph-propagation scatter against its PyTorch reference and the dense matmul of the official
code (TRITON_INTERPRET=1 on CPU)."""

from __future__ import annotations

import pytest
import torch

from tokenworks.kernels.graph_propagate import (
    graph_propagate, graph_propagate_reference, graph_propagate_triton, propagation_lists,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_case(batch, kept, prop, channels, density, seed):
    g = torch.Generator().manual_seed(seed)
    weight = torch.rand(batch, kept, prop, generator=g) * (torch.rand(batch, kept, prop, generator=g) < density)
    x_kept = torch.randn(batch, kept, channels, generator=g)
    x_prop = torch.randn(batch, prop, channels, generator=g)
    return weight.to(DEVICE), x_kept.to(DEVICE), x_prop.to(DEVICE)


@pytest.mark.parametrize("batch,kept,prop,channels,density", [
    (1, 1, 1, 1, 1.0), (2, 7, 3, 5, 0.5), (2, 33, 5, 17, 0.2), (1, 60, 4, 65, 0.1), (1, 97, 3, 129, 0.05),
    (2, 12, 12, 300, 0.0),
])
def test_kernel_matches_reference_and_dense(batch, kept, prop, channels, density):
    weight, x_kept, x_prop = random_case(batch, kept, prop, channels, density, seed=kept * 7 + prop)
    nbr, w = propagation_lists(weight)
    ref = graph_propagate_reference(x_kept, x_prop, nbr, w, 0.3)
    dense = x_kept + 0.3 * weight @ x_prop
    out = graph_propagate_triton(x_kept, x_prop, nbr, w, 0.3)
    assert torch.allclose(ref, dense, atol=1e-5)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(graph_propagate(x_kept, x_prop, weight, 0.3, use_kernel=True), dense, atol=1e-5)


def test_ell_lists_hold_exactly_the_nonzero_edges():
    weight = torch.tensor([[[0.0, 0.5], [0.2, 0.0], [0.3, 0.7]]])     # 3 kept x 2 propagated
    nbr, w = propagation_lists(weight)
    edges = {(int(k), p, round(float(v), 4)) for p in range(2) for k, v in zip(nbr[0, p], w[0, p]) if k >= 0}
    assert edges == {(1, 0, 0.2), (2, 0, 0.3), (0, 1, 0.5), (2, 1, 0.7)}


def test_worked_example_of_the_docstring():
    out = graph_propagate_triton(torch.tensor([[[1.0], [2.0]]]), torch.tensor([[[10.0]]]),
                                 torch.tensor([[[1, -1]]]), torch.tensor([[[0.5, 0.0]]]), 0.1)
    assert torch.allclose(out, torch.tensor([[[1.0], [2.5]]]))
