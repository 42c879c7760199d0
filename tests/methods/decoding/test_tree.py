"""Tree structure, tree attention mask + positions, and KV compaction on hand-built tensors."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from tokenworks.errors import UserError
from tokenworks.methods.decoding.forward import new_cache, prefill, tree_forward
from tokenworks.methods.decoding.token_recycling.templates import paper_template, top_heavy_template
from tokenworks.methods.decoding.tree import build_tree, chain_template, compact_kv_cache, tree_attention_bias


def test_worked_example_from_docstring():
    tree = build_tree([(0, 0), (0,), (1,)])  # any order in, breadth-first out
    assert tree.template == ((0,), (1,), (0, 0))
    assert tree.parents.tolist() == [-1, 0, 0, 1]
    assert tree.ranks.tolist() == [-1, 0, 1, 0]
    assert tree.depths.tolist() == [0, 1, 1, 2]
    assert tree.levels == ((1, 3), (3, 4))
    assert tree.paths.tolist() == [[0, 1, 3], [0, 2, -1]]
    assert tree.ancestor_mask.int().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 1]]


def test_paper_template_shape():
    tree = build_tree(paper_template())
    sizes = [b - a for a, b in tree.levels]
    assert tree.num_nodes == 80 and sizes == [8, 21, 25, 15, 8, 3]
    assert tree.paths.shape[1] == 7  # root + 6 levels


@pytest.mark.parametrize("n", [2, 16, 20, 24, 50])
def test_top_heavy_template_is_prefix_closed(n):
    template = top_heavy_template(n)
    assert len(set(template)) == n
    assert all(p[:-1] in template for p in template if len(p) > 1)
    build_tree(template)  # validates


def test_bad_templates_fail_with_user_error():
    with pytest.raises(UserError, match="no parent"):
        build_tree([(0, 1)])
    with pytest.raises(UserError, match="distinct"):
        build_tree([(0,), (0,)])


def test_tree_attention_bias():
    mask = build_tree(chain_template(2)).ancestor_mask  # [3, 3] lower-triangular
    bias = tree_attention_bias(mask, prefix_len=2, dtype=torch.float32)
    assert bias.shape == (1, 1, 3, 5)
    allowed = bias[0, 0] == 0
    assert allowed[:, :2].all()  # the whole prefix is visible
    assert allowed[:, 2:].equal(torch.tril(torch.ones(3, 3, dtype=torch.bool)))


def test_compact_kv_cache_moves_accepted_rows():
    cache = DynamicCache()
    keys = torch.arange(7.0).view(1, 1, 7, 1).repeat(1, 2, 1, 3)  # [B=1, H=2, prefix 2 + tree 5, Dh=3]
    cache.update(keys, -keys, layer_idx=0)
    compact_kv_cache(cache, prefix_len=2, keep=torch.tensor([0, 2, 4]))
    layer = cache.layers[0]
    assert layer.keys[0, 0, :, 0].tolist() == [0, 1, 2, 4, 6]
    assert layer.values[0, 1, :, 0].tolist() == [0, -1, -2, -4, -6]
    assert cache.get_seq_length() == 5


def test_tree_forward_matches_sequential_forward(target_model):
    """Each tree node's logits equal the logits of feeding its root-to-node path one token at a time."""
    tree = build_tree([(0,), (1,), (2,), (0, 0), (1, 0), (0, 0, 0)])
    prompt = torch.tensor([[5, 9, 13, 21, 34]])
    tokens = torch.tensor([[40, 41, 42, 43, 44, 45, 46]])  # root + 6 nodes
    cache = new_cache(target_model)
    prefill(target_model, prompt, cache)
    bias = tree_attention_bias(tree.ancestor_mask, 5, torch.float32)
    tree_logits = tree_forward(target_model, tokens, cache, bias, (tree.depths + 5)[None])
    for node in range(7):
        path = [j for j in range(7) if tree.ancestor_mask[node, j]]
        full = torch.cat([prompt, tokens[:, path]], dim=1)
        expected = target_model(input_ids=full).logits[0, -1]
        torch.testing.assert_close(tree_logits[node], expected, rtol=1e-4, atol=1e-4)


def test_compact_kv_cache_in_place_only_crops():
    cache = DynamicCache()
    keys = torch.arange(5.0).view(1, 1, 5, 1)
    cache.update(keys, keys, layer_idx=0)
    compact_kv_cache(cache, prefix_len=3, keep=torch.tensor([0]), in_place=True)
    assert cache.layers[0].keys.flatten().tolist() == [0, 1, 2, 3]
