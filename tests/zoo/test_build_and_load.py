import json
import math
import shutil

import pytest
import torch
from transformers import LlamaForCausalLM

from tokenworks.errors import UserError
from tokenworks.zoo import build, list_models, load_lm, model_info, zoo_bits_per_byte
from tokenworks.zoo import load as zoo_load
from tokenworks.zoo import paths, registry
from tokenworks.zoo.recipes import CODE_TOKENIZER, ZOO, Recipe
from tokenworks.zoo.tokenizer import tokenizer_dir

NANO = Recipe(
    description="test-only",
    hidden=32,
    layers=1,
    heads=2,
    kv_heads=2,
    ffn=64,
    context=32,
    steps=3,
    batch=2,
    warmup=1,
    eval_tokens=256,
)


@pytest.fixture
def nano_in_temp_cache(code_tokenizer, tmp_path, monkeypatch):
    """A 3-step zoo entry in an empty temporary cache (the shared tokenizer copied in, so nothing retrains it)."""
    shared_tokenizer = tokenizer_dir(CODE_TOKENIZER)
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    shutil.copytree(shared_tokenizer, tokenizer_dir(CODE_TOKENIZER))
    monkeypatch.setitem(ZOO, "test-nano", NANO)
    return "test-nano"


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path))
    assert paths.cache_root() == tmp_path
    monkeypatch.delenv(paths.CACHE_ENV)
    assert paths.cache_root().parts[-2:] == (".cache", "tokenworks")


def test_build_is_cached_by_recipe_hash(nano_in_temp_cache, tmp_path, monkeypatch):
    path = build(nano_in_temp_cache, num_threads=1)
    assert path.is_relative_to(tmp_path / "cache")
    assert registry.built_dir(nano_in_temp_cache) == path

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model must not be retrained")

    monkeypatch.setattr(registry, "build_model", no_training)
    assert build(nano_in_temp_cache) == path
    with pytest.raises(AssertionError, match="retrained"):
        build(nano_in_temp_cache, force=True)


def test_a_failed_build_leaves_nothing_in_the_cache(nano_in_temp_cache, monkeypatch):
    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(LlamaForCausalLM, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):
        build(nano_in_temp_cache, num_threads=1)
    assert registry.built_dir(nano_in_temp_cache) is None
    assert not list(paths.models_dir().glob("test-nano*"))
    assert not list(paths.models_dir().glob(".tmp-*"))


def test_not_built_and_not_allowed_to_build(nano_in_temp_cache):
    with pytest.raises(UserError, match="not built"):
        load_lm(nano_in_temp_cache, build_if_missing=False)
    assert zoo_bits_per_byte(nano_in_temp_cache) is None
    assert model_info(nano_in_temp_cache)["built"] is False


def test_micro_metadata(micro_dir):
    metadata = json.loads((micro_dir / "zoo.json").read_text())
    assert metadata["name"] == "code-lm-micro"
    assert 0 < metadata["val_bits_per_byte"] < 8 and math.isfinite(metadata["test_bits_per_byte"])
    assert metadata["recipe_hash"] in micro_dir.name
    assert metadata["tokens_seen"] == ZOO["code-lm-micro"].steps * ZOO["code-lm-micro"].batch * ZOO["code-lm-micro"].context
    listed = {m["name"]: m for m in list_models()}["code-lm-micro"]
    assert listed["built"] and listed["val_bits_per_byte"] == metadata["val_bits_per_byte"]
    assert listed["params"] == metadata["params"]
    assert zoo_bits_per_byte("code-lm-micro") == zoo_bits_per_byte(str(micro_dir)) == metadata["val_bits_per_byte"]


def test_micro_second_build_is_a_cache_hit(micro_dir, monkeypatch):
    monkeypatch.setattr(registry, "build_model", lambda *a, **k: pytest.fail("retrained a cached model"))
    assert build("code-lm-micro") == micro_dir


def test_load_by_name_and_by_path_give_the_same_model(micro_lm, micro_dir):
    model, tokenizer = micro_lm
    by_path, path_tokenizer = load_lm(str(micro_dir), device="cpu")
    assert not model.training and not by_path.training
    assert next(model.parameters()).dtype == torch.float32
    ids = torch.tensor([tokenizer("def add(a, b):\n    return", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, by_path(ids).logits)
    assert path_tokenizer.get_vocab() == tokenizer.get_vocab()
    assert sum(p.numel() for p in model.parameters()) == model_info("code-lm-micro")["params"]


def test_unknown_zoo_name_suggests_close_matches():
    with pytest.raises(UserError, match=r"code-lm-tinyy.*code-lm-micro, code-lm-tiny.*Did you mean: code-lm-tiny"):
        build("code-lm-tinyy")


def test_unknown_hub_id_is_a_user_error(monkeypatch):
    monkeypatch.setattr(zoo_load.hub_constants, "HF_HUB_OFFLINE", True)  # no hub here; fail fast and the same everywhere
    with pytest.raises(UserError) as error:
        load_lm("code-lm-mikro")
    message = str(error.value)
    assert "not a zoo name" in message and "code-lm-tiny" in message and "Did you mean: code-lm-micro" in message
    assert "could not be fetched as a Hugging Face id" in message


def test_missing_path_is_a_user_error_naming_it(tmp_path):
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(UserError, match=str(missing)):
        load_lm(str(missing))
    with pytest.raises(UserError, match="does not load"):
        load_lm(str(tmp_path))  # exists, but holds no model
    assert zoo_load.hub_unavailable_reason(str(missing)).startswith("it is not of the form")
