import pytest

from tokenworks.errors import UserError
from tokenworks.zoo import corpus


def _relative(split):
    root = corpus.stdlib_root()
    return {p.relative_to(root).as_posix() for p in corpus.split_files(split)}


def test_splits_are_disjoint_and_cover_every_file():
    splits = {s: _relative(s) for s in corpus.SPLITS}
    assert all(splits.values()), "every split has files"
    assert not splits["train"] & splits["validation"]
    assert not splits["train"] & splits["test"]
    assert not splits["validation"] & splits["test"]
    everything = {p.relative_to(corpus.stdlib_root()).as_posix() for p in corpus._all_files()}
    assert set().union(*splits.values()) == everything
    # 98/1/1 by hash bucket: train holds the vast majority
    assert len(splits["train"]) > 0.9 * len(everything)


def test_split_is_a_pure_function_of_the_relative_path():
    paths = sorted(_relative("validation"))[:3] + sorted(_relative("test"))[:3] + sorted(_relative("train"))[:3]
    assert [corpus.split_of(p) for p in paths] == [corpus.split_of(p) for p in paths]
    assert [corpus.split_of(p) for p in paths] == ["validation"] * 3 + ["test"] * 3 + ["train"] * 3


def test_corpus_excludes_tests_and_site_packages():
    for path in _relative("train") | _relative("validation") | _relative("test"):
        parts = path.split("/")
        assert not {"test", "tests", "idle_test", "site-packages"} & set(parts[:-1]), path
        assert path.endswith(".py")


def test_read_split_returns_one_document_per_file():
    docs = corpus.read_split("validation")
    assert len(docs) == len(corpus.split_files("validation"))
    assert all("def " in d or "import" in d or "class " in d for d in docs)


def test_unknown_split_is_a_user_error():
    with pytest.raises(UserError, match="valid|allowed"):
        corpus.split_files("dev")
