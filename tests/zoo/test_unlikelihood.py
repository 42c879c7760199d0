import json
import shutil
from dataclasses import replace

import pytest
import torch

from tokenworks.errors import UserError
from tokenworks.zoo import build
from tokenworks.zoo import paths
from tokenworks.zoo.recipes import CODE_TOKENIZER, ZOO, Recipe, UnlikelihoodPhase, recipe_hash
from tokenworks.zoo.tokenizer import tokenizer_dir
from tokenworks.zoo.unlikelihood import (
    continuation_unlikelihood, greedy_rollouts, repeated_ngram_mask, unlikelihood_loss,
)


def test_repeated_ngram_mask_marks_every_position_of_a_repeat():
    tokens = torch.tensor([[1, 2, 3, 1, 2, 3, 9], [5, 6, 7, 8, 9, 10, 11]])
    mask = repeated_ngram_mask(tokens, n=3)
    # row 0: (1,2,3) repeats at position 3, covering 3..5; (2,3,1), (3,1,2), (2,3,9) are new
    assert mask[0].tolist() == [False, False, False, True, True, True, False]
    assert not mask[1].any()


def test_repeated_ngram_mask_one_token_loop():
    mask = repeated_ngram_mask(torch.tensor([[4, 4, 4, 4, 4, 4]]), n=4)
    # the first 4-gram is new; the second (overlapping) one repeats it and marks positions 1..4, the third 2..5
    assert mask[0].tolist() == [False, True, True, True, True, True]


def test_unlikelihood_loss_is_minus_log_one_minus_p_over_marked_positions():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]))  # [1, 2, 3]
    targets = torch.tensor([[0, 1]])
    both = unlikelihood_loss(logits, targets, torch.tensor([[True, True]]))
    assert both.item() == pytest.approx(-(torch.log(torch.tensor(0.5)) + torch.log(torch.tensor(0.2))).item() / 2)
    second = unlikelihood_loss(logits, targets, torch.tensor([[False, True]]))
    assert second.item() == pytest.approx(-torch.log(torch.tensor(0.2)).item(), rel=1e-5)
    none = unlikelihood_loss(logits.requires_grad_(), targets, torch.zeros(1, 2, dtype=torch.bool))
    assert none.item() == 0.0
    none.backward()  # a loop-free batch still has a graph


def test_unlikelihood_step_lowers_the_probability_of_the_repeated_token(micro_lm):
    model, _ = micro_lm
    model = type(model)(model.config)
    model.load_state_dict(micro_lm[0].state_dict())
    sequence = torch.tensor([[5, 9, 5, 9, 5, 9, 5, 9]])
    penalised = repeated_ngram_mask(sequence[:, 1:], 2)

    def repeat_probability():
        with torch.no_grad():
            probs = model(input_ids=sequence[:, :-1]).logits.softmax(-1)
        return probs.gather(-1, sequence[:, 1:, None])[..., 0][penalised].mean().item()

    before = repeat_probability()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = unlikelihood_loss(model(input_ids=sequence[:, :-1]).logits, sequence[:, 1:], penalised)
    loss.backward()
    optimizer.step()
    assert repeat_probability() < before


def test_greedy_rollouts_match_recomputed_argmax(micro_lm):
    model, _ = micro_lm
    prefixes = torch.tensor([[10, 20, 30], [40, 50, 60]])
    rollouts = greedy_rollouts(model, prefixes, 5)
    assert rollouts.shape == (2, 5)
    with torch.no_grad():
        for row in range(2):
            ids = prefixes[row].tolist()
            for _ in range(5):
                ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
            assert rollouts[row].tolist() == ids[3:]


def test_phase_validates_its_fields():
    with pytest.raises(UserError, match="UnlikelihoodPhase.steps=0"):
        UnlikelihoodPhase(steps=0)
    with pytest.raises(UserError, match="ngram=1"):
        UnlikelihoodPhase(ngram=1)


def test_phase_changes_the_hash_and_none_keeps_old_hashes():
    base = Recipe(description="x")
    assert recipe_hash(replace(base, unlikelihood=UnlikelihoodPhase())) != recipe_hash(base)
    assert recipe_hash(replace(base, unlikelihood=UnlikelihoodPhase(steps=5))) != recipe_hash(
        replace(base, unlikelihood=UnlikelihoodPhase(steps=6)))
    assert recipe_hash(ZOO["code-lm-micro"]) == "dec00afe6f4b"  # recipes without the phase keep their cache


def test_a_recipe_with_a_phase_builds_and_reports_it(code_tokenizer, tmp_path, monkeypatch):
    shared_tokenizer = tokenizer_dir(CODE_TOKENIZER)
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    shutil.copytree(shared_tokenizer, tokenizer_dir(CODE_TOKENIZER))
    recipe = Recipe(description="test-only", hidden=32, layers=1, heads=2, kv_heads=2, ffn=64, context=32, steps=3,
                    batch=2, warmup=1, eval_tokens=256,
                    unlikelihood=UnlikelihoodPhase(steps=2, batch=2, prefix=8, rollout_tokens=8))
    monkeypatch.setitem(ZOO, "test-nano-ul", recipe)
    metadata = json.loads((build("test-nano-ul", num_threads=1) / "zoo.json").read_text())
    assert metadata["recipe"]["unlikelihood"]["steps"] == 2
    assert 0 <= metadata["rollout_repeat_share_first"] <= 1 and metadata["unlikelihood_seconds"] >= 0
    assert 0 < metadata["val_greedy_distinct_4gram"] <= 1


def test_continuation_unlikelihood_scores_only_the_rollout(micro_lm):
    model, _ = micro_lm
    prefixes, rollouts = torch.tensor([[3, 4, 5]]), torch.tensor([[6, 6, 6, 6]])
    penalised = torch.tensor([[False, True, True, True]])
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[3, 4, 5, 6, 6, 6]])).logits[:, 2:]  # predicts the 4 rollout ids
        expected = unlikelihood_loss(logits, rollouts, penalised)
        assert continuation_unlikelihood(model, prefixes, rollouts, penalised).item() == pytest.approx(expected.item())
