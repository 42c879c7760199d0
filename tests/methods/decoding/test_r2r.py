"""R2R: token labelling (identical / neutral / divergent), the router and its threshold, routed decoding's
two limits (all tokens to the large model = its greedy output; none = the small model's)."""

from __future__ import annotations

import pytest
import torch

from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.r2r.config import RouterConfig
from tokenworks.methods.decoding.r2r.decoder import RoutedDecoder
from tokenworks.methods.decoding.r2r.labeling import Label, LabelledTokens, label_position, label_prompts
from tokenworks.methods.decoding.r2r.router import (
    EntropyRouter, MLPRouter, load_router, recall_threshold, save_router, train_router,
)

from .conftest import VOCAB, ToyTokenizer, tiny_llama

EOS = 3


@pytest.fixture(scope="module")
def pair():
    return tiny_llama(seed=2, layers=1, hidden=32), tiny_llama(seed=3, layers=2, hidden=64)


def _prompts() -> list[list[int]]:
    g = torch.Generator().manual_seed(11)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() for n in (1, 5, 12)]


def test_label_position_rules():
    assert label_position(7, 7, "42", "41") is Label.IDENTICAL       # same token: identical, whatever follows
    assert label_position(7, 8, "42", "42") is Label.NEUTRAL         # other token, same outcome
    assert label_position(7, 8, "42", "24") is Label.DIVERGENT       # other token, other outcome


def test_labels_follow_the_large_models_continuation(pair):
    """A constructed case: answers are the first 3 generated ids, so a small-model token is divergent exactly
    when the large model, forced to take it, ends with a different 3-id answer."""
    small, large = pair
    answer_of = lambda ids: str(ids[:3])  # noqa: E731
    data = label_prompts(small, large, _prompts(), answer_of, eos=EOS, max_new_tokens=6, topk=5, progress=False)
    expected = []
    for prompt in _prompts():
        response = GreedyDecoder(large).decode(prompt, 6).ids
        logits = small(input_ids=torch.tensor([prompt + response])).logits[0, len(prompt) - 1 : -1]
        for i, (big, mine) in enumerate(zip(response, logits.argmax(-1).tolist())):
            if big == mine:
                expected.append(Label.IDENTICAL)
                continue
            tail = GreedyDecoder(large).decode(prompt + response[:i] + [mine], 6 - i - 1).ids
            same = answer_of(response[:i] + [mine] + tail) == answer_of(response)
            expected.append(Label.NEUTRAL if same else Label.DIVERGENT)
    assert data.label.tolist() == [int(x) for x in expected]
    assert data.hidden.shape == (len(expected), 32) and data.topk.shape == (len(expected), 5)
    assert (data.topk[:, 0] >= data.topk[:, 1]).all() and len(set(data.prompt_index.tolist())) == 3
    assert sum(data.counts().values()) == len(expected) and data.counts()["divergent"] > 0


@pytest.mark.parametrize("router_kind", ["mlp", "entropy"])
def test_threshold_limits_give_each_models_greedy_output(pair, router_kind):
    small, large = pair
    if router_kind == "mlp":
        router = MLPRouter(small.model.embed_tokens.weight, RouterConfig(topk=10, width=16, depth=1))
    else:
        router = EntropyRouter()
    always, never = (0.0, 1.0) if router_kind == "mlp" else (0.0, float("inf"))
    tok = ToyTokenizer()
    for prompt in _prompts():
        for n in (1, 7, 20):
            big = RoutedDecoder(small, large, router, always, tok).decode(prompt, n)
            assert big.ids == GreedyDecoder(large, tok).decode(prompt, n).ids
            assert big.stats.method_stats["large_token_share"] == 1.0 and big.stats.new_tokens == n
            little = RoutedDecoder(small, large, router, never, tok).decode(prompt, n)
            assert little.ids == GreedyDecoder(small, tok).decode(prompt, n).ids
            assert little.stats.method_stats["large_tokens"] == 0.0 and little.stats.target_forwards == 0


def test_routed_decoding_mixes_and_counts_large_tokens(pair):
    small, large = pair
    prompt = _prompts()[1]
    router = EntropyRouter()
    gen = GreedyDecoder(small).decode(prompt, 12).ids
    logits = small(input_ids=torch.tensor([prompt + gen])).logits[0].detach()
    scores = sorted(float(x) for x in torch.special.entr(logits.softmax(-1)).sum(-1))
    mid = scores[len(scores) // 2]
    out = RoutedDecoder(small, large, router, mid, ToyTokenizer()).decode(prompt, 12)
    share = out.stats.method_stats["large_token_share"]
    assert 0.0 < share < 1.0
    assert out.stats.method_stats["large_tokens"] == out.stats.target_forwards == round(share * 12)
    # the catch-up prefill feeds every committed token to the large model at most once
    assert out.stats.tokens_processed <= len(prompt) + 12


def test_router_learns_a_separable_label_and_its_threshold_reaches_the_recall(tmp_path):
    g = torch.Generator().manual_seed(0)
    n, hidden, vocab = 600, 8, 20
    h = torch.randn(n, hidden, generator=g)
    label = torch.where(h[:, 0] > 0.8, Label.DIVERGENT, Label.IDENTICAL)
    data = LabelledTokens(h, torch.randint(0, vocab, (n,), generator=g), torch.randn(n, 4, generator=g), label,
                          torch.arange(n) // 3, torch.rand(n, generator=g))
    cfg = RouterConfig(topk=4, width=32, depth=1, epochs=30, lr=3e-3, min_recall=0.9)
    router, report = train_router(data, torch.randn(vocab, hidden, generator=g), cfg, progress=False)
    assert report["recall"] >= 0.9 and report["precision"] > 0.6
    save_router(router, tmp_path / "router.pt")
    again = load_router(tmp_path / "router.pt")
    assert torch.equal(again(h[:5], data.token[:5], data.topk[:5]), router(h[:5], data.token[:5], data.topk[:5]))


def test_recall_threshold():
    probs = torch.tensor([0.9, 0.8, 0.7, 0.2, 0.1])
    targets = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    assert recall_threshold(probs, targets, 0.6) == pytest.approx(0.7)    # 2 of 3 positives routed
    assert recall_threshold(probs, targets, 1.0) == pytest.approx(0.2)
    assert recall_threshold(probs, torch.zeros(5), 0.95) == 1.0            # nothing divergent: never route
