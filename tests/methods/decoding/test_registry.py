"""make_decoder / DECODER_NAMES: names, option validation, the Decoder contract."""

from __future__ import annotations

import pytest

from tokenworks.errors import UserError
from tokenworks.methods.decoding.base import Decoder
from tokenworks.methods.decoding.hf_generate import accepted_from_calls
from tokenworks.methods.decoding.registry import DECODER_NAMES, make_decoder

from .conftest import ToyTokenizer


def test_every_name_builds_a_decoder(target_model, draft_model):
    for name in DECODER_NAMES:
        extra = {"draft_model": draft_model} if name == "assisted" else {}
        decoder = make_decoder(name, target_model, ToyTokenizer(), **extra)
        assert isinstance(decoder, Decoder) and decoder.name == name


def test_unknown_name_suggests_close_matches(target_model):
    with pytest.raises(UserError, match="Did you mean: token-recycling"):
        make_decoder("token-recyling", target_model, ToyTokenizer())


@pytest.mark.parametrize(
    "name,options,field",
    [
        ("token-recycling", {"topk": 0}, "topk"),
        ("token-recycling", {"tree": "2.2.2", "topk": 3}, "topk"),
        ("token-recycling", {"trees": "top16"}, "trees"),
        ("prompt-lookup", {"num_tokens": 0}, "num_tokens"),
        ("greedy", {"topk": 8}, "topk"),
    ],
)
def test_bad_options_name_the_field(name, options, field, target_model):
    with pytest.raises(UserError, match=field):
        make_decoder(name, target_model, ToyTokenizer(), **options)


def test_hf_call_log_to_accepted_counts():
    # prompt 10 tokens: prefill, then calls starting at cache length 10, 13, 14; 8 new tokens in all
    calls = [(0, 10), (10, 4), (13, 2), (14, 5)]
    assert accepted_from_calls(calls, prompt_len=10, new_tokens=8) == [2, 0, 2]
    assert accepted_from_calls([(0, 10)], prompt_len=10, new_tokens=1) == []
