import dataclasses

import pytest

from tokenworks.errors import UserError
from tokenworks.zoo.recipes import ZOO, Recipe, recipe_hash
from tokenworks.zoo.tokenizer import TokenizerRecipe


def test_hash_is_stable_and_ignores_the_description():
    recipe = ZOO["code-lm-micro"]
    assert recipe_hash(recipe) == recipe_hash(dataclasses.replace(recipe))
    assert recipe_hash(recipe) == recipe_hash(dataclasses.replace(recipe, description="other words"))


@pytest.mark.parametrize(
    "change",
    [
        {"hidden": 128, "heads": 4},
        {"layers": 3},
        {"ffn": 256},
        {"context": 64},
        {"steps": 151},
        {"batch": 8},
        {"lr": 1e-3},
        {"warmup": 10},
        {"schedule": "constant"},
        {"seed": 1},
        {"tokenizer": TokenizerRecipe(vocab_size=2048)},
    ],
)
def test_hash_changes_when_a_field_changes(change):
    recipe = ZOO["code-lm-micro"]
    assert recipe_hash(dataclasses.replace(recipe, **change)) != recipe_hash(recipe)


def test_zoo_has_the_test_and_default_models():
    assert {"code-lm-micro", "code-lm-tiny"} <= set(ZOO)
    assert len({recipe_hash(r) for r in ZOO.values()}) == len(ZOO)


def test_bad_recipe_values_are_user_errors():
    with pytest.raises(UserError, match="schedule"):
        Recipe(description="x", schedule="linear")
    with pytest.raises(UserError, match="heads"):
        Recipe(description="x", hidden=65, heads=4)
