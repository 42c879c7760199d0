"""The one block decode loop: every policy reduces to the baseline, caches are exact where they must be,
guided diffusion with the deterministic rule is the guide's greedy output, NFE is counted by call type."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.methods.diffusion import (
    CachePolicy, ar_greedy, baseline, diffusion_decode, fast_dllm, guided_decode, localleap,
)
from tokenworks.methods.diffusion.forward import BlockForward

PROMPTS = ["417+385=", "copy:qwerty=", "sort:3,1,4,1,5=", "pick:cab|dog|eel="]
GEN, BLOCK = 16, 8
POLICIES = [baseline(), baseline(4), fast_dllm(0.5), fast_dllm(0.9), localleap(0.9, 0.5, 2), localleap(0.7, 0.3, 8)]
MODES = ["none", "prefix", "dual", "freecache"]


def decode(model, tok, prompt, commit, cache=CachePolicy(), block=BLOCK):
    return diffusion_decode(model, tok.encode(prompt), GEN, block, commit, cache, mask_id=tok.mask_id)


@pytest.mark.parametrize("mode", MODES)
def test_threshold_one_and_one_token_per_step_is_the_baseline(dlm, tok, mode):
    for prompt in PROMPTS:
        reference = decode(dlm, tok, prompt, baseline())
        for policy in (fast_dllm(1.0), localleap(1.0, 1.0, 4), localleap(1.0, 0.0, 16)):
            one = dataclasses.replace(policy, max_per_step=1)
            out = decode(dlm, tok, prompt, one, CachePolicy(mode, refresh_interval=1))
            assert out.ids == reference.ids, (policy.name, mode)
            assert out.stats.committed_per_step == [1] * GEN


@pytest.mark.parametrize("mode", ["prefix", "dual", "freecache"])
def test_refresh_every_step_equals_no_cache_exactly(dlm, tok, mode):
    for prompt in PROMPTS:
        for policy in POLICIES:
            plain = decode(dlm, tok, prompt, policy)
            cached = decode(dlm, tok, prompt, policy, CachePolicy(mode, refresh_interval=1))
            assert cached.ids == plain.ids and cached.stats.committed_per_step == plain.stats.committed_per_step
            assert cached.stats.nfe == plain.stats.nfe == {"full": len(plain.stats.committed_per_step)}


def test_policies_differ_and_commit_more_than_one_token_per_step(dlm, tok):
    steps = {p.name + str(p.threshold): sum(len(decode(dlm, tok, s, p).stats.committed_per_step) for s in PROMPTS)
             for p in POLICIES}
    assert steps["baseline" + "inf"] == GEN * len(PROMPTS)
    assert steps["fixed-4" + "inf"] == GEN * len(PROMPTS) // 4
    assert steps["fast-dllm0.5"] < steps["fast-dllm0.9"] <= GEN * len(PROMPTS)
    assert steps["localleap0.9"] < steps["fast-dllm0.9"]   # same anchors, plus relaxed neighbours
    assert steps["localleap0.7"] < steps["fast-dllm0.5"]


@pytest.mark.parametrize("mode", ["prefix", "dual", "freecache"])
def test_cached_logits_equal_full_logits_while_the_sequence_is_unchanged(dlm, tok, mode):
    x = torch.tensor(tok.encode("copy:qwerty=") + [tok.mask_id] * GEN)
    lo = len(tok.encode("copy:qwerty="))
    full, _ = dlm(x[None])
    forward = BlockForward(dlm, CachePolicy(mode))
    first = forward.logits(x, lo, lo + BLOCK)
    second = forward.logits(x, lo, lo + BLOCK)
    assert forward.nfe == {"full": 1, "dual" if mode == "dual" else "prefix": 1}
    torch.testing.assert_close(first, full[0, lo:lo + BLOCK])
    torch.testing.assert_close(second, full[0, lo:lo + BLOCK], rtol=1e-4, atol=1e-4)


def test_nfe_by_call_type_and_tokens_fed(dlm, tok):
    prompt = "sort:3,1,4,1,5="
    p = len(tok.encode(prompt))
    plain = decode(dlm, tok, prompt, baseline())
    assert plain.stats.nfe == {"full": GEN} and plain.stats.tokens_fed == GEN * (p + GEN)
    prefix = decode(dlm, tok, prompt, baseline(), CachePolicy("prefix"))
    assert prefix.stats.nfe == {"full": GEN // BLOCK, "prefix": GEN - GEN // BLOCK}
    dual = decode(dlm, tok, prompt, baseline(), CachePolicy("dual"))
    assert dual.stats.nfe == {"full": GEN // BLOCK, "dual": GEN - GEN // BLOCK}
    free = decode(dlm, tok, prompt, baseline(), CachePolicy("freecache"))
    assert free.stats.nfe == {"full": 1, "prefix": GEN - 1}
    assert free.stats.tokens_fed < prefix.stats.tokens_fed < plain.stats.tokens_fed
    every4 = decode(dlm, tok, prompt, baseline(), CachePolicy("freecache", refresh_interval=4))
    assert every4.stats.nfe == {"full": GEN // 4, "prefix": GEN - GEN // 4}


def _greedy_by_recompute(model, prompt: list[int], n: int, eos: int) -> list[int]:
    seq = list(prompt)
    for _ in range(n):
        token = int(model(torch.tensor(seq)[None])[0][0, -1].argmax())
        seq.append(token)
        if token == eos:
            break
    return seq[len(prompt):]


def test_ar_greedy_with_kv_cache_equals_recompute(guide, tok):
    for prompt in PROMPTS:
        ids = tok.encode(prompt)
        out = ar_greedy(guide, ids, GEN, tok.eos_id)
        assert out.ids == _greedy_by_recompute(guide, ids, GEN, tok.eos_id)
        assert out.stats.guide_nfe == len(out.ids)


def test_causal_model_ignores_later_tokens(guide, tok):
    a = torch.tensor(tok.encode("copy:qwerty=abc"))
    b = a.clone()
    b[-1] = tok.encode("z")[0]
    la, lb = guide(a[None])[0], guide(b[None])[0]
    torch.testing.assert_close(la[0, :-1], lb[0, :-1])


@pytest.mark.parametrize("mode", ["none", "freecache", "dual"])
@pytest.mark.parametrize("block", [4, 16])
def test_guided_deterministic_is_the_guides_greedy_output(dlm, guide, tok, mode, block):
    for prompt in PROMPTS:
        ids = tok.encode(prompt)
        guided = guided_decode(dlm, guide, ids, GEN, block, CachePolicy(mode), mask_id=tok.mask_id,
                               eos_id=tok.eos_id)
        greedy = ar_greedy(guide, ids, GEN, tok.eos_id)
        assert guided.ids[: len(greedy.ids)] == greedy.ids
        assert tok.decode(guided.ids) == tok.decode(greedy.ids)
        assert guided.stats.guide_nfe == guided.stats.dlm_nfe <= len(greedy.ids)


def test_guided_topk_accepts_at_least_as_much(dlm, guide, tok):
    ids = tok.encode("pick:cab|dog|eel=")
    strict = guided_decode(dlm, guide, ids, GEN, 8, mask_id=tok.mask_id, eos_id=tok.eos_id)
    loose = guided_decode(dlm, guide, ids, GEN, 8, rule="topk", top_k=50, mask_id=tok.mask_id, eos_id=tok.eos_id)
    assert loose.stats.dlm_nfe <= strict.stats.dlm_nfe


def test_bad_inputs_name_the_field(dlm, tok):
    with pytest.raises(UserError, match="mode"):
        CachePolicy("sometimes")
    with pytest.raises(UserError, match="relaxed_threshold"):
        localleap(0.5, 0.9, 2)
    with pytest.raises(UserError, match="context"):
        diffusion_decode(dlm, tok.encode("x" * 30), GEN, BLOCK, baseline())
    with pytest.raises(UserError, match="rule"):
        guided_decode(dlm, dlm, [5], GEN, BLOCK, rule="maybe")
