"""SkipDecode and the early-exit baselines on random tiny Llamas (seconds).

Invariants: the schedule never increases and its layers shrink position by position; during decoding no
(layer, position) KV entry is written twice and every write lands at the slot of its own position (so no
layer ever reads a slot that was never written); the all-layers schedule equals greedy exactly; batched
decoding equals unbatched decoding; the teacher-forced forward used for fine-tuning and scoring computes
what the decoder computes; the HF self-speculative early exit is lossless.
"""

from __future__ import annotations

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.methods.decoding.greedy import GreedyDecoder
from tokenworks.methods.decoding.registry import make_decoder
from tokenworks.methods.decoding.skipdecode import (
    SkipSchedule, StaticExit, check_kv_safe, full_plan, layer_prefix_ends, mean_layers,
)
from tokenworks.methods.decoding.skipdecode.training import finetune_for_plans, plan_logits, teacher_forced_metrics

from .conftest import VOCAB, ToyTokenizer, tiny_llama

LAYERS = 4


@pytest.fixture(scope="module")
def deep_model():
    return tiny_llama(seed=3, layers=LAYERS)


def _prompts() -> list[list[int]]:
    g = torch.Generator().manual_seed(11)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() for n in (1, 7, 19)]


SCHEDULES = [
    {"warmup_layers": 1, "max_layers": 4, "min_layers": 2, "decay_tokens": 6},
    {"warmup_layers": 0, "max_layers": 3, "min_layers": 1, "decay_tokens": 3},
    {"warmup_layers": 2, "max_layers": 4, "min_layers": 2, "decay_tokens": 1},
]


# --- the schedule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", SCHEDULES)
def test_schedule_never_increases_and_keeps_warmup_plus_top_layers(kw):
    s = SkipSchedule(LAYERS, kw["warmup_layers"], kw["max_layers"], kw["min_layers"], kw["decay_tokens"])
    budgets = [s.budget(t) for t in range(40)]
    assert budgets[0] == s.max_layers and budgets[-1] == s.min_layers
    assert all(a >= b for a, b in zip(budgets, budgets[1:]))
    for t, n in enumerate(budgets):
        layers = s.layers_at(t)
        assert len(layers) == n
        assert layers[: s.warmup] == tuple(range(s.warmup))                    # warm-up always runs
        assert layers[s.warmup:] == tuple(range(LAYERS - (n - s.warmup), LAYERS))  # then only the top
    check_kv_safe(s, 40)


def test_layer_prefix_ends_and_mean_layers():
    s = SkipSchedule(LAYERS, warmup=1, max_layers=4, min_layers=2, decay_tokens=2)  # budgets 4, 3, 2, 2, ...
    assert [s.layers_at(t) for t in range(3)] == [(0, 1, 2, 3), (0, 2, 3), (0, 3)]
    assert layer_prefix_ends(s, prompt_len=5, generated=4) == [9, 6, 7, 9]
    assert layer_prefix_ends(StaticExit(LAYERS, 2), 5, 4) == [9, 9, 0, 0]
    assert mean_layers(s, 3) == (4 + 4 + 3) / 3   # first token from the prompt's last position


def test_a_plan_that_reruns_a_skipped_layer_is_refused():
    class Increasing:
        num_layers = 2

        def prompt_layers(self):
            return (0, 1)

        def layers_at(self, t):
            return (1,) if t == 0 else (0, 1)

    with pytest.raises(ValueError, match="skipped"):
        check_kv_safe(Increasing(), 3)


@pytest.mark.parametrize("bad,field", [
    ({"min_layers": 5, "max_layers": 5}, "max_layers"),
    ({"warmup_layers": 2, "min_layers": 1}, "min_layers"),
    ({"max_layers": 2, "min_layers": 3}, "min_layers"),
])
def test_bad_budgets_fail_with_the_field_name(deep_model, bad, field):
    with pytest.raises(UserError, match=field):
        make_decoder("skipdecode", deep_model, ToyTokenizer(), **bad)


# --- decoding -------------------------------------------------------------------------------------------------


class LayerWriteLog:
    """Forward pre-hooks on every decoder layer: (layer, position, cache slots already held at that layer)."""

    def __init__(self, model):
        self.writes: list[tuple[int, int, int]] = []
        self.handles = [layer.register_forward_pre_hook(self._hook(i), with_kwargs=True)
                        for i, layer in enumerate(model.model.layers)]

    def _hook(self, index):
        def hook(_module, _args, kwargs):
            cache, positions = kwargs["past_key_values"], kwargs["position_ids"][0].tolist()
            held = cache.layers[index].get_seq_length() if index < len(cache.layers) else 0
            self.writes += [(index, p, held + k) for k, p in enumerate(positions)]
        return hook

    def close(self):
        for h in self.handles:
            h.remove()


@pytest.mark.parametrize("kw", SCHEDULES)
def test_kv_cache_invariant_no_entry_written_twice_none_missing(deep_model, kw):
    decoder = make_decoder("skipdecode", deep_model, ToyTokenizer(), **kw)
    prompt = _prompts()[2]
    log = LayerWriteLog(deep_model)
    try:
        out = decoder.decode(prompt, 25).ids
    finally:
        log.close()
    pairs = [(layer, pos) for layer, pos, _ in log.writes]
    assert len(pairs) == len(set(pairs)), "a KV entry was written twice"
    assert all(pos == slot for _, pos, slot in log.writes), "a write landed beside its position: a gap was read"
    runs = {pos: {layer for layer, p in pairs if p == pos} for pos in range(len(prompt) + len(out) - 1)}
    assert all(runs[p] == set(range(LAYERS)) for p in range(len(prompt)))   # the prompt runs every layer
    budgets = [len(runs[len(prompt) + t]) for t in range(len(out) - 1)]
    assert budgets == [decoder.plan.budget(t) for t in range(len(out) - 1)]
    assert all(runs[p + 1] <= runs[p] for p in range(len(runs) - 1)), "a position ran a layer an earlier one skipped"
    assert min(budgets) < LAYERS   # something was actually skipped


def test_all_layers_schedule_equals_greedy_exactly(deep_model):
    decoder = make_decoder("skipdecode", deep_model, ToyTokenizer(), warmup_layers=0, max_layers=LAYERS,
                           min_layers=LAYERS)
    greedy = GreedyDecoder(deep_model)
    for prompt in _prompts():
        for n in (1, 2, 33):
            got = decoder.decode(prompt, n)
            assert got.ids == greedy.decode(prompt, n).ids
            assert got.stats.method_stats["layers_per_token"] == LAYERS
    eos_prompt = _prompts()[1]
    ref = greedy.decode(eos_prompt, 12).ids
    eos = next(t for i, t in enumerate(ref) if i >= 3 and t not in ref[:i])
    with_eos = make_decoder("skipdecode", deep_model, ToyTokenizer(eos), warmup_layers=0, max_layers=LAYERS,
                            min_layers=LAYERS)
    expected = GreedyDecoder(deep_model, ToyTokenizer(eos)).decode(eos_prompt, 30).ids
    assert with_eos.decode(eos_prompt, 30).ids == expected and expected[-1] == eos


@pytest.mark.parametrize("name,kw", [("skipdecode", SCHEDULES[0]), ("skipdecode", SCHEDULES[1]),
                                     ("static-exit", {"exit_layer": 2})])
def test_batched_equals_unbatched(deep_model, name, kw):
    decoder = make_decoder(name, deep_model, ToyTokenizer(), **kw)
    prompts = _prompts()   # lengths 1, 7, 19: left padding in the batch
    batched = decoder.decode_batch(prompts, 20)
    assert [g.ids for g in batched] == [decoder.decode(p, 20).ids for p in prompts]
    assert all(g.stats.method_stats["batch_size"] == 3 for g in batched)


def test_batched_rows_stop_at_their_own_eos(deep_model):
    plain = make_decoder("skipdecode", deep_model, ToyTokenizer(), **SCHEDULES[0])
    prompts = _prompts()
    ref = plain.decode(prompts[0], 16).ids
    eos = ref[5]
    cut = ref[: ref.index(eos) + 1]
    decoder = make_decoder("skipdecode", deep_model, ToyTokenizer(eos), **SCHEDULES[0])
    batched = decoder.decode_batch(prompts, 16)
    assert batched[0].ids == cut and batched[0].stats.new_tokens == len(cut)
    assert [g.ids for g in batched[1:]] == [decoder.decode(p, 16).ids for p in prompts[1:]]


def test_teacher_forced_forward_computes_what_the_decoder_computes(deep_model):
    """Fine-tuning and scoring use one masked forward with per-layer prefix ends; it must agree with the
    KV-cached decoder: re-scoring the decoder's own output gives 100% accuracy."""
    decoder = make_decoder("skipdecode", deep_model, ToyTokenizer(), **SCHEDULES[1])
    prompt = _prompts()[2]
    out = decoder.decode(prompt, 16).ids
    window = torch.tensor([prompt + out])                         # [1, P + G + 1] with G = 15
    logits = plan_logits(deep_model, window[:, :-1], decoder.plan, len(prompt))
    assert logits[0, len(prompt) - 1 :].argmax(-1).tolist() == out
    metrics = teacher_forced_metrics(deep_model, window, decoder.plan, len(prompt))
    assert metrics["next_token_accuracy"] == 1.0


def test_static_exit_runs_only_the_bottom_layers(deep_model):
    decoder = make_decoder("static-exit", deep_model, ToyTokenizer(), exit_layer=1)
    log = LayerWriteLog(deep_model)
    try:
        gen = decoder.decode(_prompts()[1], 6)
    finally:
        log.close()
    assert {layer for layer, _, _ in log.writes} == {0}
    assert gen.stats.layers_executed == 7 + 5 and gen.stats.method_stats["layers_per_token"] == 1.0


def test_hf_early_exit_is_lossless_and_drafts_with_the_bottom_layers(deep_model):
    greedy = GreedyDecoder(deep_model)
    for exit_layer, draft_tokens in ((1, None), (2, 3)):
        decoder = make_decoder("hf-early-exit", deep_model, ToyTokenizer(), exit_layer=exit_layer,
                               num_assistant_tokens=draft_tokens)
        for prompt in _prompts():
            got = decoder.decode(prompt, 24)
            assert got.ids == greedy.decode(prompt, 24).ids
            assert got.stats.draft_forwards > 0 and got.stats.new_tokens == 24
            assert got.stats.layers_executed > 0
    assert deep_model.config.num_hidden_layers == LAYERS   # transformers restored the depth
    with pytest.raises(UserError, match="exit_layer"):
        make_decoder("hf-early-exit", deep_model, ToyTokenizer(), exit_layer=LAYERS)


def test_finetuning_for_a_schedule_lowers_its_loss():
    model = tiny_llama(seed=5, layers=3, hidden=32)
    model.config._attn_implementation = "sdpa"
    stream = torch.tensor([4 + (i * 7) % 13 for i in range(600)])    # a periodic sequence to learn
    plan = SkipSchedule(3, warmup=1, max_layers=3, min_layers=2, decay_tokens=4)
    windows = stream[:99].reshape(3, 33)
    before = teacher_forced_metrics(model, windows, plan, prompt_len=12)["nll_per_token"]
    stats = finetune_for_plans(model, stream, [plan], steps=25, batch=4, context=32, prompt_range=(8, 16),
                               lr=3e-3, warmup_steps=2)
    after = teacher_forced_metrics(model, windows, plan, prompt_len=12)["nll_per_token"]
    assert not model.training and stats["finetune_tokens"] == 25 * 4 * 32
    assert after < 0.5 * before
    assert full_plan(3).layers_at(100) == (0, 1, 2)
