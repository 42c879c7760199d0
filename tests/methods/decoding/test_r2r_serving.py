"""R2R's `served_models` (what the serving application imports) on the micro preset."""

from __future__ import annotations

import pytest

from tokenworks.errors import UserError
from tokenworks.methods.decoding.base import Decoder
from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.r2r.serving import served_models


def test_served_models_micro():
    models = served_models({"preset": "micro", "threshold": 0.0})
    assert {"r2r", "r2r-small", "r2r-large"} <= set(models)
    decoder, tokenizer = models["r2r"]
    assert isinstance(decoder, Decoder)
    prompt = tokenizer.encode("123+456=")
    gen = decoder.decode(prompt, 6)
    assert gen.stats.method_stats["large_token_share"] == 1.0   # threshold 0: the large model writes every token
    assert gen.ids == models["r2r-large"][0].decode(prompt, 6).ids
    assert isinstance(models["r2r-small"][0], GreedyDecoder)


def test_default_threshold_is_the_routers_recommended_one():
    decoder, tokenizer = served_models({"preset": "micro"})["r2r"]
    gen = decoder.decode(tokenizer.encode("sort:3,1,2="), 4)
    assert {"large_tokens", "large_token_share"} <= set(gen.stats.method_stats)
    assert 0.0 <= decoder.threshold <= 1.0


@pytest.mark.parametrize("options,field", [({"preset": "huge"}, "preset"), ({"threshold": 2}, "threshold"),
                                            ({"thresold": 0.5}, "thresold")])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(UserError, match=field):
        served_models(options)
