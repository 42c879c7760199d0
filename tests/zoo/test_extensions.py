"""Zoo models that are not causal-LM recipes: their own builder, their own hash, the same cache and lock."""

from dataclasses import dataclass

import pytest

from tokenworks.zoo import paths, registry
from tokenworks.zoo.recipes import BUILDERS, ZOO, recipe_hash, register
from tokenworks.zoo.train import METADATA_FILE, write_model_dir


@dataclass(frozen=True)
class ToyRecipe:
    description: str
    width: int = 3

    def hash_extras(self) -> dict:
        return {"data": "toy-v1"}


def test_other_recipe_hash_covers_fields_but_not_description():
    assert recipe_hash(ToyRecipe("a")) == recipe_hash(ToyRecipe("b"))
    assert recipe_hash(ToyRecipe("a", width=3)) != recipe_hash(ToyRecipe("a", width=4))


def test_registered_builder_builds_once_and_is_listed(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path))
    calls = []

    def builder(name, recipe, num_threads):
        calls.append(name)
        return write_model_dir(name, recipe, lambda d: (d / "weights.txt").write_text(str(recipe.width)),
                               {"params": recipe.width, "val_accuracy": 0.5})

    register("toy", ToyRecipe("toy model"), builder)
    try:
        path = registry.build("toy")
        assert (path / "weights.txt").read_text() == "3" and (path / METADATA_FILE).is_file()
        assert registry.build("toy") == path and calls == ["toy"]
        listed = {m["name"]: m for m in registry.list_models()}
        assert listed["toy"]["built"] and listed["toy"]["params"] == 3
    finally:
        BUILDERS.pop("toy", None)
        ZOO.pop("toy", None)


def test_a_non_lm_recipe_without_builder_is_refused():
    with pytest.raises(TypeError, match="needs a builder"):
        register("toy-nobuilder", ToyRecipe("x"))
