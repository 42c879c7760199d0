"""Data-mixture inference: the tracer against HF's trainer, the LP's oracle exactness, the user-facing errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tokenworks.errors import UserError
from tokenworks.methods.tokenization.bpe_replay import spec_from_tokenizer, word_counts
from tokenworks.methods.tokenization.categories import build_pools, chunk_document, strip_python, to_greek
from tokenworks.methods.tokenization.data_mixture import infer_from_paths, infer_mixture
from tokenworks.methods.tokenization.merge_tracer import MergeTrace, greedy_merges, merge_word, trace_merges
from tokenworks.methods.tokenization.mixture_lp import solve_mixture_lp
from tokenworks.methods.tokenization.mixture_tokenizer import build_mixture, interleave, sample_simplex, train_bpe


@pytest.fixture(scope="module")
def pools():
    return build_pools(30)


def test_merge_word_is_left_to_right_and_non_overlapping():
    assert merge_word([1, 1, 1, 2, 1, 1], 1, 1, 9) == [9, 1, 2, 9]
    assert merge_word([3, 4], 1, 2, 9) == [3, 4]


def test_strip_python_removes_docstrings_and_comments():
    code, docs = strip_python('"""Module doc."""\nx = 1  # note\n# alone\ndef f():\n    """F doc."""\n    return x\n')
    assert docs == ["Module doc.", "F doc."]
    assert "#" not in code and "doc" not in code and "return x" in code and "x = 1" in code


def test_chunks_are_line_aligned_and_lossless():
    text = "".join(f"line {i}\n" for i in range(1000))
    chunks = chunk_document(text, chunk_bytes=100)
    assert "".join(chunks) == text and all(c.endswith("\n") for c in chunks) and len(chunks) > 50
    assert to_greek("abc") == "αβψ"


def test_tracer_reproduces_hf_bpe_trainer_merge_order(pools):
    docs = list(pools["py"].tokenizer[:20]) + list(pools["el"].tokenizer[:10])
    tok = train_bpe(docs, 150)
    spec = spec_from_tokenizer(tok)
    ours = greedy_merges(word_counts(spec, docs), 150, alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    assert len(spec.merges) == 150
    assert ours == spec.merges


def test_each_hf_merge_is_a_most_frequent_pair_in_the_replay(pools):
    docs = list(pools["c"].tokenizer[:15]) + list(pools["en"].tokenizer[:15]) if "c" in pools else list(pools["en"].tokenizer[:30])
    tok = train_bpe(docs, 100)
    spec = spec_from_tokenizer(tok)
    trace = trace_merges({"all": word_counts(spec, docs)}, spec.merges, top_k=5)
    for t in range(trace.steps):
        assert trace.merge_counts[t][0] >= trace.rival_counts[t][:, 0].max(initial=0), f"step {t}"


def test_lp_recovers_a_planted_mixture_from_a_synthetic_trace():
    # two categories; rival counts chosen so that only alpha = (0.3, 0.7) makes every merge a (tied) maximum
    trace = MergeTrace(["a", "b"], np.array([100.0, 100.0]))
    trace.merge_counts = [np.array([10.0, 0.0]), np.array([0.0, 10.0])]
    trace.rival_ids = [np.array([7]), np.array([8])]
    trace.rival_counts = [np.array([[0.0, 30.0 / 7.0]]), np.array([[70.0 / 3.0, 0.0]])]
    sol = solve_mixture_lp(trace)
    np.testing.assert_allclose(sol.alpha, [0.3, 0.7], atol=1e-9)
    assert sol.objective == pytest.approx(0.0, abs=1e-9)


def test_oracle_attacker_data_recovers_the_proportions_exactly(pools):
    beta = sample_simplex(len(pools), np.random.default_rng(0))
    mixture = build_mixture(pools, beta, 200_000, seed=1)
    sizes = np.array([sum(len(c.encode()) for c in chunks) for chunks in mixture.values()], dtype=float)
    truth = sizes / sizes.sum()
    tok = train_bpe(interleave(mixture, seed=1), 300)
    estimate = infer_mixture(tok, mixture)
    assert estimate.objective == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose([estimate.proportions[n] for n in mixture], truth, atol=1e-6)


def test_lazy_check_replays_recover_constraints_a_small_top_k_misses(pools):
    beta = sample_simplex(len(pools), np.random.default_rng(3))
    tok = train_bpe(interleave(build_mixture(pools, beta, 100_000, seed=3), seed=3), 150)
    attacker = {n: list(p.attacker[:25]) for n, p in pools.items()}
    narrow = infer_mixture(tok, attacker, top_k=2, check_rounds=0)
    lazy = infer_mixture(tok, attacker, top_k=2, check_rounds=10)
    wide = infer_mixture(tok, attacker, top_k=200, check_rounds=10)
    assert lazy.added_constraints > 0 and narrow.added_constraints == 0
    assert narrow.objective < lazy.objective                 # the narrow LP ignored violated constraints
    assert lazy.objective == pytest.approx(wide.objective, rel=1e-6)
    assert lazy.check_rounds < 10                            # converged: the last replay found nothing new


def _write_category(folder, docs):
    folder.mkdir(parents=True)
    for i, d in enumerate(docs):
        (folder / f"doc{i}.txt").write_text(d, encoding="utf-8")


def test_infer_from_paths_on_a_saved_tokenizer_and_whole_documents(tmp_path, pools):
    cats = {"py": list(pools["py"].tokenizer[:40]), "el": list(pools["el"].tokenizer[:15])}
    tok = train_bpe(cats["py"] + cats["el"], 200)
    tok.save(str(tmp_path / "tokenizer.json"))
    for name, docs in cats.items():
        _write_category(tmp_path / name, docs)
    shares = infer_from_paths(str(tmp_path / "tokenizer.json"), {n: str(tmp_path / n) for n in cats})
    sizes = {n: sum(len(d.encode()) for d in docs) for n, docs in cats.items()}
    for n in cats:
        assert shares[n] == pytest.approx(sizes[n] / sum(sizes.values()), abs=1e-6)


def test_infer_from_paths_rejects_bad_input_with_clear_messages(tmp_path):
    _write_category(tmp_path / "a", ["some text here\n"])
    _write_category(tmp_path / "b", ["more text there\n"])
    (tmp_path / "empty").mkdir()
    good = {"a": str(tmp_path / "a"), "b": str(tmp_path / "b")}
    with pytest.raises(UserError, match="does not exist"):
        infer_from_paths(str(tmp_path / "missing.json"), good)
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(UserError, match="not a valid"):
        infer_from_paths(str(tmp_path / "garbage.json"), good)
    wordlevel = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    wordlevel.save(str(tmp_path / "wl.json"))
    with pytest.raises(UserError, match="BPE"):
        infer_from_paths(str(tmp_path / "wl.json"), good)
    Tokenizer(models.BPE()).save(str(tmp_path / "nomerges.json"))
    with pytest.raises(UserError, match="no merges"):
        infer_from_paths(str(tmp_path / "nomerges.json"), good)
    tok = train_bpe(["some text here\n", "more text there\n"] * 5, 5, min_frequency=1)
    tok.save(str(tmp_path / "tok.json"))
    with pytest.raises(UserError, match="'empty'.*no text files"):
        infer_from_paths(str(tmp_path / "tok.json"), {**good, "empty": str(tmp_path / "empty")})
    with pytest.raises(UserError, match="'gone'.*does not exist"):
        infer_from_paths(str(tmp_path / "tok.json"), {**good, "gone": str(tmp_path / "gone")})
    with pytest.raises(UserError, match="at least two categories"):
        infer_from_paths(str(tmp_path / "tok.json"), {"a": good["a"]})
    assert json.loads((tmp_path / "tok.json").read_text())["model"]["merges"]
