"""Token reducers as reversible patches: reduction 0 is the unpatched model bit for bit, remove() restores it,
schedules give the token counts they promise, and each method does what its paper says on small cases."""

from __future__ import annotations

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.methods.vision import reducers
from tokenworks.methods.vision.evit import EViT
from tokenworks.methods.vision.gtp import GTPViT, normalized_graph, semantic_graph, sparsify, spatial_graph
from tokenworks.methods.vision.macs import count_macs
from tokenworks.methods.vision.tome import bipartite_soft_matching, merge_weighted
from tokenworks.methods.vision.vit import ViTConfig, VisionTransformer

CFG = ViTConfig(image_size=32, patch_size=4, num_classes=5, embed_dim=32, depth=3, num_heads=4)
VARIANTS = {
    "gtp-vit": {},
    "gtp-vit-spatial": {"graph": "spatial", "alpha": 0.3},
    "gtp-vit-semantic-sparse": {"graph": "semantic", "num_neighbours": 3, "sparsity": 0.7},
    "gtp-vit-mean": {"propagation": "mean", "token_scale": False},
    "gtp-vit-none": {"propagation": "none", "selection": "cls_attn_mean"},
    "tome": {},
    "tome-no-prop-attn": {"proportional_attention": False},
    "evit": {},
    "evit-topk": {"fuse": False},
    "random": {"seed": 3},
}


def method_of(variant: str) -> str:
    return "gtp-vit" if variant.startswith("gtp-vit") else variant.split("-")[0]


@pytest.fixture(scope="module")
def model_and_images():
    torch.manual_seed(0)
    model = VisionTransformer(CFG).eval()
    images = torch.randn(4, 3, 32, 32)
    return model, images


def options(variant: str) -> dict:
    opts = dict(VARIANTS[variant])
    if variant.startswith("gtp-vit"):
        opts.pop("sparsity", None)       # sparsity < 1 changes attention even at 0 removed: tested separately
    return opts


@pytest.mark.parametrize("variant", VARIANTS)
def test_reduction_zero_is_bit_identical_and_remove_restores(model_and_images, variant):
    model, images = model_and_images
    with torch.no_grad():
        plain = model(images)
        reducers.apply(model, method_of(variant), removed_per_layer=0, **options(variant))
        assert torch.equal(model(images), plain)
        reducers.apply(model, method_of(variant), removed_per_layer=4, **VARIANTS[variant])
        reduced = model(images)
        assert not torch.equal(reduced, plain)
        reducers.remove(model)
        assert model.token_reducer is None
        assert torch.equal(model(images), plain)


@pytest.mark.parametrize("variant", VARIANTS)
def test_token_counts_follow_the_schedule(model_and_images, variant):
    model, images = model_and_images
    reducer = reducers.apply(model, method_of(variant), removed_per_layer=[5, 0, 3], **VARIANTS[variant])
    try:
        with torch.no_grad():
            out = model(images)
    finally:
        reducers.remove(model)
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    assert reducer.token_counts() == [(65, 60), (60, 60), (60, 57)]


def test_the_macs_counter_sees_the_reduced_token_counts(model_and_images):
    """Random pruning has no overhead, so its MACs are the hand count over the scheduled token counts."""
    model, images = model_and_images
    d, m = CFG.embed_dim, 4
    reducers.apply(model, "random", removed_per_layer=6)
    try:
        report = count_macs(model, images[:1])
    finally:
        reducers.remove(model)
    hand = 64 * 3 * 16 * d + d * 5
    for t_in, t_mlp in [(65, 59), (59, 53), (53, 47)]:
        hand += 4 * t_in * d * d + 2 * t_in * t_in * d + 2 * m * t_mlp * d * d
    assert report.macs_per_image == hand
    reducers.apply(model, "tome", removed_per_layer=6)
    try:
        tome = count_macs(model, images[:1])
    finally:
        reducers.remove(model)
    assert tome.by_kind["reducer.tome_scores"] == 33 * 32 * 8 + 30 * 29 * 8 + 27 * 26 * 8   # |A| x |B| x d_head
    assert tome.macs_per_image == hand + tome.by_kind["reducer.tome_scores"]


def test_unknown_reducer_and_bad_options_are_user_errors(model_and_images):
    model, _ = model_and_images
    with pytest.raises(UserError, match="tomee"):
        reducers.apply(model, "tomee")
    with pytest.raises(UserError, match="graph"):
        reducers.apply(model, "gtp-vit", graph="knn")
    with pytest.raises(UserError, match=">= 0"):
        reducers.apply(model, "tome", removed_per_layer=-1)
    with pytest.raises(UserError, match="cannot take a token reducer"):
        reducers.apply(torch.nn.Linear(2, 2), "tome")
    assert model.token_reducer is None


# --- GTP-ViT pieces ------------------------------------------------------------------------------------------


def test_spatial_graph_is_the_8_neighbourhood():
    graph = spatial_graph(4)
    degree = graph.sum(-1).reshape(4, 4)
    assert degree[0, 0] == 3 and degree[0, 1] == 5 and degree[1, 1] == 8
    assert torch.equal(graph, graph.T) and graph.diagonal().sum() == 0


def test_semantic_graph_links_each_token_to_its_k_most_similar():
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(2, 10, 6, generator=g)
    graph = semantic_graph(tokens, 3)
    assert torch.equal(graph.sum(-1), torch.full((2, 10), 3.0)) and graph.diagonal(dim1=1, dim2=2).sum() == 0
    unit = tokens / tokens.norm(dim=-1, keepdim=True)
    sim = unit @ unit.transpose(1, 2) - 10 * torch.eye(10)
    assert torch.equal(graph.bool(), torch.zeros_like(graph).scatter(2, sim.topk(3, dim=-1).indices, 1.0).bool())


def test_normalized_graph_is_symmetric_normalisation():
    x0 = torch.randn(1, 17, 8)
    graph = normalized_graph(x0, 4, "spatial", 2)[0]
    adjacency = spatial_graph(4)
    d = adjacency.sum(-1).rsqrt()
    assert torch.allclose(graph, d[:, None] * adjacency * d[None, :])


def test_gtp_propagates_removed_tokens_into_their_neighbours_and_their_scales():
    """One layer by hand: x_kept + alpha * A_hat[kept, prop] x_prop, sizes likewise, CLS untouched."""
    torch.manual_seed(0)
    model = VisionTransformer(ViTConfig(image_size=16, patch_size=4, num_classes=3, embed_dim=16, depth=1,
                                        num_heads=2)).eval()
    images = torch.randn(2, 3, 16, 16)
    captured = {}
    reducer = GTPViT(removed_per_layer=5, alpha=0.4, graph="spatial")
    original = reducer.reduce

    def spy(layer, x, probs, keys, state, r):
        captured.update(x=x.clone(), probs=probs.clone(), graph=state.graph.clone())
        out = original(layer, x, probs, keys, state, r)
        captured.update(out=out.clone(), size=state.size.clone())
        return out

    reducer.reduce = spy
    reducers.apply(model, reducer)
    with torch.no_grad():
        model(images)
    reducers.remove(model)
    x, probs, graph = captured["x"], captured["probs"], captured["graph"]
    score = probs.diagonal(dim1=-2, dim2=-1)[:, :, 1:].amax(1) * probs[:, :, :, 1:].sum(-2).amax(1)
    for b in range(2):
        order = score[b].argsort(descending=True)
        kept, prop = order[:-5], order[-5:]
        w = graph[b][kept][:, prop]
        expect = x[b, 1:][kept] + 0.4 * w @ x[b, 1:][prop]
        assert torch.allclose(captured["out"][b, 1:], expect, atol=1e-5)
        assert torch.equal(captured["out"][b, 0], x[b, 0])
        assert torch.allclose(captured["size"][b], torch.cat([torch.ones(1), 1 + 0.4 * w.sum(1)]), atol=1e-6)


def test_gtp_orphan_rate_is_zero_with_a_complete_semantic_graph():
    torch.manual_seed(0)
    model = VisionTransformer(CFG).eval()
    reducer = reducers.apply(model, "gtp-vit", removed_per_layer=8, graph="semantic", num_neighbours=63)
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert reducer.last_state.stats["orphan_rate"] == [0.0, 0.0, 0.0]


def test_sparsify_keeps_the_largest_share_without_renormalising():
    probs = torch.softmax(torch.randn(2, 3, 10, 10), dim=-1)
    out = sparsify(probs, 0.3)
    kept = (out > 0).reshape(2, 3, -1).sum(-1)
    assert (kept == 100 - 70 + 1).all()       # the k-th smallest itself survives (k = 70), as in models_v3.py
    assert torch.equal(out[out > 0], probs[out > 0])
    assert sparsify(probs, 1.0) is probs


# --- ToMe / EViT / random pieces -----------------------------------------------------------------------------


def test_tome_merges_the_most_similar_pairs_with_size_weighted_means():
    # tokens: CLS, then pairs (1,2) identical direction, (3,4) identical, 5 and 6 orthogonal to the rest
    x = torch.tensor([[[1., 0, 0, 0], [0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 3, 0], [0, 0, 0, 1],
                       [1, 1, 1, 1]]])
    unmerged, merged, partner = bipartite_soft_matching(x, 1)
    # A = tokens 0, 2, 4, 6; B = 1, 3, 5: token 2 -> 1 and token 4 -> 3 both score 1; CLS never merges
    assert 0 in unmerged[0].tolist() and merged.shape == (1, 1)
    size = torch.tensor([[1., 1, 3, 1, 1, 1, 1]])
    out, new_size = merge_weighted(x, size, unmerged, merged, partner)
    assert out.shape == (1, 6, 4) and new_size.sum() == size.sum()
    src = merged[0, 0].item() * 2
    dst = partner[0, 0].item() * 2 + 1
    expect = (x[0, src] * size[0, src] + x[0, dst] * size[0, dst]) / (size[0, src] + size[0, dst])
    assert torch.allclose(out[0, len(unmerged[0]) + partner[0, 0].item()], expect)
    assert torch.equal(out[0, 0], x[0, 0])


def test_evit_keeps_the_most_attended_and_fuses_the_rest_by_attention():
    x = torch.arange(6 * 2, dtype=torch.float).reshape(1, 6, 2)
    probs = torch.zeros(1, 2, 6, 6)
    probs[:, :, 0, 1:] = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15])
    out = EViT(fuse=True).reduce(0, x, probs, None, None, r=1)
    # drop r + 1 = 2 least attended (tokens 1 and 3), keep 2, 4, 5 in attention order, append the fusion
    assert torch.equal(out[0, :4], x[0, [0, 2, 4, 5]])
    assert torch.allclose(out[0, 4], 0.05 * x[0, 1] + 0.1 * x[0, 3])
    assert out.shape[1] == 5


def test_random_pruning_is_reproducible_and_keeps_cls():
    torch.manual_seed(0)
    model = VisionTransformer(CFG).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reducers.apply(model, "random", removed_per_layer=7, seed=1)
        a = model(images)
        b = model(images)
        reducers.apply(model, "random", removed_per_layer=7, seed=2)
        c = model(images)
    reducers.remove(model)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_fractional_schedules_spread_the_tokens_earliest_first():
    assert reducers.make_reducer("tome", removed_per_layer=5.5).removals(6) == [6, 6, 6, 5, 5, 5]
    assert reducers.make_reducer("random", removed_per_layer=4).removals(3) == [4, 4, 4]
    assert reducers.make_reducer("evit", removed_per_layer=[1, 0, 2]).removals(3) == [1, 0, 2]
    with pytest.raises(UserError, match="3 blocks"):
        reducers.make_reducer("evit", removed_per_layer=[1, 0]).removals(3)


def test_interleaved_speeds_cover_every_run_and_leave_the_model_unpatched(model_and_images):
    from tokenworks.methods.vision.budget import NONE, measure_speeds

    model, _ = model_and_images
    images = torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)
    speeds = measure_speeds(model, {"none": (NONE, 0, {}), "tome": ("tome", 4, {}), "gtp": ("gtp-vit", 4, {})},
                            images, batch_size=4, warmup=1, repeats=2)
    assert set(speeds) == {"none", "tome", "gtp"} and all(v > 0 for v in speeds.values())
    assert model.token_reducer is None
