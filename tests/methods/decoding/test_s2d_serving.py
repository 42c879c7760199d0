"""S2D's `served_models` (what the serving application imports) on the micro preset: one lossless decoder
per target, all sharing one sorted draft."""

from __future__ import annotations

import pytest

from tokenworks.errors import UserError
from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.s2d.serving import served_models


def test_one_lossless_decoder_per_target_sharing_the_draft():
    models = served_models({"preset": "micro"})
    assert set(models) == {"task-lm-large", "task-lm-xl"}
    drafts = {id(d.drafts[max(d.drafts)]) for d, _ in models.values()}
    assert len(drafts) == 1                                   # one sorted draft serves every target
    for name, (decoder, tokenizer) in models.items():
        prompt = tokenizer.encode("reverse:abcdefgh=")
        gen = decoder.decode(prompt, 10)
        assert gen.ids == GreedyDecoder(decoder.target, tokenizer).decode(prompt, 10).ids, name
        assert gen.stats.mean_acceptance_length >= 1.0 and "exit_layer" in gen.stats.method_stats


def test_targets_restrict_the_served_models():
    assert set(served_models({"preset": "micro", "targets": ["task-lm-xl-micro"]})) == {"task-lm-xl"}


@pytest.mark.parametrize("options,field", [({"targets": ["task-lm-huge"]}, "targets"), ({"draft_len": 0}, "draft_len"),
                                            ({"preset": "paper"}, "preset"), ({"target": ["x"]}, "target")])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(UserError, match=field):
        served_models(options)
