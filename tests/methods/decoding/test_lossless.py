"""The invariant every lossless decoder shares: output identical to plain greedy, token for token.

One parametrized test over every lossless decoder (and several Token Recycling trees / persist modes),
each decoder serving the same prompt stream (so a global matrix is hot for the later prompts), including
max_new_tokens edge cases and a generation that stops at EOS.
"""

from __future__ import annotations

import pytest
import torch

from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.registry import LOSSLESS_DECODERS, make_decoder

from .conftest import VOCAB, ToyTokenizer

DECODERS = [
    ("greedy", {}),
    ("hf-greedy", {}),
    ("prompt-lookup", {}),
    ("prompt-lookup", {"num_tokens": 3, "max_ngram_size": 1}),
    ("assisted", {"draft": True}),
    ("assisted", {"draft": True, "num_assistant_tokens": 3, "schedule": "constant"}),
    ("token-recycling", {}),
    ("token-recycling", {"tree": "2.2.2", "update_from_prefill": False}),
    ("token-recycling", {"tree": "chain6", "persist": "per_request"}),
    ("token-recycling", {"tree": "top8", "persist": "none", "topk": 5}),
    ("token-recycling", {"tree": "top24", "kernel": "triton"}),
    ("hf-early-exit", {}),
    ("hf-early-exit", {"num_assistant_tokens": 3}),
]


def _prompts() -> list[list[int]]:
    g = torch.Generator().manual_seed(7)
    repetitive = [5, 6, 7, 8] * 5  # lets prompt lookup and recycling accept drafts
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() for n in (1, 9, 23)] + [repetitive]


def _eos_case(model) -> tuple[list[int], int, int]:
    """A prompt and an EOS id that greedy emits as its 5th token (and not before)."""
    for prompt in _prompts():
        ids = GreedyDecoder(model).decode(prompt, 12).ids
        for pos in range(4, 12):
            if ids[pos] not in ids[:pos]:
                return prompt, ids[pos], pos + 1
    raise AssertionError("no usable EOS candidate in the random model's outputs")


def test_every_lossless_decoder_is_covered():
    assert {name for name, _ in DECODERS} == set(LOSSLESS_DECODERS)


@pytest.mark.parametrize("name,options", DECODERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DECODERS)])
def test_output_identical_to_greedy(name, options, target_model, draft_model):
    options = dict(options)
    if options.pop("draft", False):
        options["draft_model"] = draft_model
    cases = [(p, n, None) for p in _prompts() for n in (1, 2, 40)]
    eos_prompt, eos_id, eos_len = _eos_case(target_model)
    cases += [(eos_prompt, 30, eos_id), (eos_prompt, eos_len, eos_id), (eos_prompt, 0, None)]
    with_eos = make_decoder(name, target_model, ToyTokenizer(eos_id), **options)
    plain = make_decoder(name, target_model, ToyTokenizer(), **options)
    for prompt, max_new, eos in cases:
        tok = ToyTokenizer(eos)
        expected = GreedyDecoder(target_model, tok).decode(prompt, max_new).ids
        got = (with_eos if eos is not None else plain).decode(prompt, max_new)
        assert got.ids == expected, f"{name} {options} prompt_len={len(prompt)} max_new={max_new} eos={eos}"
        assert got.stats.new_tokens == len(got.ids)
        if eos is not None:
            assert got.ids[-1] == eos and len(got.ids) == eos_len
