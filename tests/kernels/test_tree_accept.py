"""The Triton acceptance-walk kernel against its PyTorch reference (TRITON_INTERPRET=1 on CPU)."""

from __future__ import annotations

import pytest
import torch

from tokenworks.kernels.tree_accept import tree_accept_reference, tree_accept_triton
from tokenworks.methods.decoding.token_recycling.templates import paper_template, top_heavy_template
from tokenworks.methods.decoding.tree import build_tree

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize("num_nodes,num_paths,path_len,vocab", [
    (2, 1, 1, 2), (3, 1, 2, 2), (17, 5, 3, 3), (33, 13, 7, 2), (81, 42, 6, 4), (130, 67, 9, 3), (250, 129, 5, 2),
])
def test_kernel_matches_reference_on_random_inputs(num_nodes, num_paths, path_len, vocab):
    g = torch.Generator().manual_seed(num_nodes * 131 + num_paths)
    for _ in range(3):  # a small vocabulary makes long matches and reward ties common
        tokens = torch.randint(0, vocab, (num_nodes,), generator=g).to(DEVICE)
        preds = torch.randint(0, vocab, (num_nodes,), generator=g).to(DEVICE)
        child = torch.randint(-1, num_nodes, (num_paths, path_len), generator=g).to(DEVICE)
        parent = torch.randint(0, num_nodes, (num_paths, path_len), generator=g).to(DEVICE)
        reward, best = tree_accept_triton(tokens, preds, child, parent)
        ref_reward, ref_best = tree_accept_reference(tokens, preds, child, parent)
        assert torch.equal(reward, ref_reward)
        assert int(best) == int(ref_best)


@pytest.mark.parametrize("template", [paper_template(), top_heavy_template(20)], ids=["2.2.2", "top20"])
def test_kernel_matches_reference_on_real_trees(template):
    tree = build_tree(template)
    child, parent = tree.paths[:, 1:].contiguous(), tree.paths[:, :-1].contiguous()
    g = torch.Generator().manual_seed(3)
    n = tree.num_nodes + 1
    for _ in range(5):
        tokens, preds = torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)
        reward, best = tree_accept_triton(tokens, preds, child, parent)
        ref_reward, ref_best = tree_accept_reference(tokens, preds, child, parent)
        assert torch.equal(reward, ref_reward) and int(best) == int(ref_best)
