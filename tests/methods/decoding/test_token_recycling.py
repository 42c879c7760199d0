"""Token Recycling's pure functions on hand-built tensors, its statistics, its matrix state and its config."""

from __future__ import annotations

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.kernels.tree_accept import tree_accept_reference
from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.token_recycling import TokenRecyclingConfig, TokenRecyclingDecoder
from tokenworks.methods.decoding.token_recycling.algorithm import fill_tree, recycle, tree_index

TEMPLATE = [(0,), (1,), (0, 0), (0, 1), (1, 0)]  # nodes 1..5


def _index():
    return tree_index(TEMPLATE, torch.device("cpu"), torch.float32)


def test_fill_tree_reads_the_adjacency_breadth_first():
    adjacency = torch.zeros(10, 2, dtype=torch.long)
    adjacency[3] = torch.tensor([4, 5])  # after 3 the target predicted 4, then 5
    adjacency[4] = torch.tensor([6, 7])
    adjacency[5] = torch.tensor([8, 9])
    tokens = fill_tree(adjacency, torch.tensor([3]), _index())
    assert tokens.tolist() == [3, 4, 5, 6, 7, 8]  # root, (0,), (1,), (0,0), (0,1), (1,0)


def test_recycle_writes_topk_of_every_position():
    adjacency = torch.zeros(6, 2, dtype=torch.long)
    logits = torch.tensor([[0.0, 5, 1, 0, 0, 3], [9, 0, 0, 0, 8, 0]])  # [N=2, V=6]
    recycle(adjacency, torch.tensor([2, 4]), logits)
    assert adjacency[2].tolist() == [1, 5] and adjacency[4].tolist() == [0, 4]
    assert adjacency[[0, 1, 3, 5]].eq(0).all()


def test_acceptance_picks_the_longest_matching_path():
    index = _index()
    tokens = torch.tensor([3, 4, 5, 6, 7, 8])
    preds = torch.tensor([4, 7, 9, 1, 1, 1])  # after root 3 -> 4 (node 1 ok), after 4 -> 7 (node 4 ok)
    reward, best = tree_accept_reference(tokens, preds, index.child, index.parent)
    paths = index.tree.paths
    assert paths[best].tolist()[: int(reward[best]) + 1] == [0, 1, 4]
    assert int(reward[best]) == 2
    assert reward.tolist() == [1, 2, 0]  # paths (0,0), (0,1), (1,0)


def test_acceptance_with_no_match_keeps_only_the_root():
    index = _index()
    reward, best = tree_accept_reference(torch.tensor([3, 4, 5, 6, 7, 8]), torch.zeros(6, dtype=torch.long),
                                         index.child, index.parent)
    assert int(reward[best]) == 0 and int(best) == 0


def test_stats_definitions(target_model):
    prompt = [5, 6, 7, 8] * 6
    greedy = GreedyDecoder(target_model).decode(prompt, 30)
    assert greedy.stats.mean_acceptance_length == 1.0
    assert greedy.stats.target_forwards == 30  # prefill + 29 single-token steps
    assert greedy.stats.target_forwards_per_token == 1.0
    assert greedy.stats.tokens_processed == len(prompt) + 29

    decoder = TokenRecyclingDecoder(target_model, cfg=TokenRecyclingConfig(tree="top16"))
    decoder.decode(prompt, 30)  # hot matrix for the second call
    gen = decoder.decode(prompt, 30)
    s = gen.stats
    steps = len(s.accepted_per_step)
    assert s.target_forwards == 1 + steps  # prefill counted
    assert s.new_tokens == 30 == steps + sum(s.accepted_per_step)  # bonus included, truncation accounted
    assert s.mean_acceptance_length == pytest.approx(30 / steps)
    assert sum(s.accepted_per_step) > 0  # drafts were accepted, so the bonus accounting is exercised
    assert s.tokens_processed == len(prompt) - 1 + steps * 17


def test_persist_modes_keep_or_drop_the_matrix(target_model):
    first, second = list(range(10, 30)), [50, 51, 52]

    def matrix_after(persist: str, prompts) -> torch.Tensor:
        decoder = TokenRecyclingDecoder(target_model, cfg=TokenRecyclingConfig(persist=persist, tree="top16"))
        for prompt in prompts:
            decoder.decode(prompt, 10)
        return decoder.adjacency

    rows = lambda m: int(m.any(dim=1).sum())  # noqa: E731
    # per_request: the second request starts cold, so the first leaves no trace
    assert matrix_after("per_request", [first, second]).equal(matrix_after("per_request", [second]))
    # global: rows are only ever overwritten, never cleared
    hot = matrix_after("global", [first, second])
    assert not hot.equal(matrix_after("global", [second]))
    assert rows(hot) >= rows(matrix_after("global", [first]))
    # none: only the latest forward's 17 tree positions have rows
    assert 0 < rows(matrix_after("none", [first])) <= 17


def test_snapshot_restore_gives_identical_stats(target_model):
    decoder = TokenRecyclingDecoder(target_model)
    state = decoder.snapshot()
    first = decoder.decode([5, 6, 7, 8] * 4, 20).stats.accepted_per_step
    decoder.decode([9, 10, 11] * 4, 20)
    decoder.restore(state)
    assert decoder.decode([5, 6, 7, 8] * 4, 20).stats.accepted_per_step == first


def test_config_presets_and_validation():
    paper = TokenRecyclingConfig.from_preset("paper")
    assert (paper.tree, paper.topk, paper.persist, paper.update_from_prefill) == ("2.2.2", 8, "global", False)
    assert TokenRecyclingConfig.from_preset("tiny").tree.startswith("top")
    with pytest.raises(UserError, match="tree"):
        TokenRecyclingConfig.validated({"tree": "bushy"})
    with pytest.raises(UserError, match="topk"):
        TokenRecyclingConfig.validated({"tree": "2.2.2", "topk": 4})
    with pytest.raises(UserError, match="persist"):
        TokenRecyclingConfig.validated({"persist": "forever"})
