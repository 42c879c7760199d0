"""S2D: the sorted draft's exits, the run-time exit choice, and losslessness for every target."""

from __future__ import annotations

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.s2d.config import S2DConfig
from tokenworks.methods.decoding.s2d.decoder import S2DDecoder, expected_tokens
from tokenworks.methods.decoding.s2d.sorted_model import exit_logits, sorted_loss, sub_model

from .conftest import VOCAB, ToyTokenizer, tiny_llama

COSTS = {"target": 1.0, "1": 0.2, "2": 0.4, "3": 0.6}


@pytest.fixture(scope="module")
def sorted_draft():
    model = tiny_llama(seed=5, layers=3, hidden=32)
    for layer in model.model.layers:  # non-unit norms, so that norming twice would show
        layer.input_layernorm.weight.data.uniform_(0.5, 1.5)
    model.model.norm.weight.data.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def targets():
    return {"small": tiny_llama(seed=0, layers=2, hidden=64), "large": tiny_llama(seed=6, layers=4, hidden=64)}


def _prompts() -> list[list[int]]:
    g = torch.Generator().manual_seed(3)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() for n in (1, 6, 17)] + [[5, 6, 7, 8] * 4]


def test_exits_are_sub_models_sharing_weights(sorted_draft):
    ids = torch.randint(0, VOCAB, (2, 9))
    logits = exit_logits(sorted_draft, ids, (1, 2, 3))
    assert torch.allclose(logits[2], sorted_draft(input_ids=ids).logits, atol=1e-5)
    for e in (1, 2):
        sub = sub_model(sorted_draft, e)
        assert torch.allclose(logits[e - 1], sub(input_ids=ids).logits, atol=1e-5)
        assert sub.model.layers[0] is sorted_draft.model.layers[0] and sub.lm_head is sorted_draft.lm_head
        assert len(sub.model.layers) == e
    loss = sorted_loss(sorted_draft, torch.randint(0, VOCAB, (2, 10)), (1, 2, 3))
    loss.backward()  # SoFT trains every layer through the mean of the exits' losses
    assert all(p.grad is not None for p in sorted_draft.model.layers[0].parameters())
    sorted_draft.zero_grad(set_to_none=True)


@pytest.mark.parametrize("target_name", ["small", "large"])
@pytest.mark.parametrize("options", [{}, {"exit_layer": 3, "draft_len": 2}])
def test_greedy_output_identical_to_each_targets_greedy(target_name, options, targets, sorted_draft):
    target = targets[target_name]
    decoder = S2DDecoder(target, sorted_draft, ToyTokenizer(), S2DConfig(**options), costs=COSTS)
    for prompt in _prompts():
        for n in (1, 9, 30):
            expected = GreedyDecoder(target, ToyTokenizer()).decode(prompt, n).ids
            got = decoder.decode(prompt, n)
            assert got.ids == expected, (target_name, options, len(prompt), n)
            assert got.stats.new_tokens == len(expected) and got.stats.mean_acceptance_length >= 1.0
    eos = expected[4]
    first = expected.index(eos)
    with_eos = S2DDecoder(target, sorted_draft, ToyTokenizer(eos), S2DConfig(**options), costs=COSTS)
    assert with_eos.decode(_prompts()[-1], 30).ids == expected[: first + 1]
    assert decoder.decode(_prompts()[0], 0).ids == []


def test_draft_as_its_own_target_accepts_everything(sorted_draft):
    """The full draft drafting for itself: every draft is accepted (MAL = 1 + k under a constant length)."""
    decoder = S2DDecoder(sorted_draft, sorted_draft, ToyTokenizer(), S2DConfig(exit_layer=3, draft_len=3),
                         costs=COSTS)
    stats = decoder.decode(_prompts()[1], 30).stats
    assert all(a > 0 for a in stats.accepted_per_step[:-1])
    assert stats.mean_acceptance_length > 3.0


def test_exit_choice_follows_acceptance_per_target(sorted_draft, targets):
    decoder = S2DDecoder(targets["large"], sorted_draft, ToyTokenizer(), S2DConfig(explore_steps=1), costs=COSTS)
    decoder.drafted = {1: 100, 2: 100, 3: 100}
    decoder.accepted = {1: 10, 2: 20, 3: 95}
    decoder.steps = {1: 5, 2: 5, 3: 5}
    assert decoder.choose_exit(5) == 3          # exit 3 is accepted so much more that its cost pays off
    decoder.accepted = {1: 80, 2: 82, 3: 85}
    assert decoder.choose_exit(5) == 1          # similar acceptance: the cheapest exit wins
    decoder.steps = {1: 5, 2: 0, 3: 5}
    assert decoder.choose_exit(5) == 2          # an unexplored exit drafts first
    assert expected_tokens(0.0, 4) == pytest.approx(1.0) and expected_tokens(1.0, 4) == pytest.approx(5.0, rel=1e-6)


def test_bad_exits_are_refused(sorted_draft, targets):
    for cfg in (S2DConfig(exits=[2, 1]), S2DConfig(exits=[4]), S2DConfig(exit_layer=9)):
        with pytest.raises(UserError, match="exits"):
            S2DDecoder(targets["small"], sorted_draft, ToyTokenizer(), cfg, costs=COSTS)
