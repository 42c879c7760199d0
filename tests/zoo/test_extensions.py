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


def test_a_fresh_build_is_an_mlflow_run_and_a_cache_hit_is_not(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from tokenworks.platform import zoo_tracking

    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(registry, "BUILD_HOOKS", [])
    zoo_tracking.enable_zoo_tracking()
    zoo_tracking.enable_zoo_tracking()  # idempotent
    assert registry.BUILD_HOOKS == [zoo_tracking.log_zoo_build]

    def builder(name, recipe, num_threads):
        return write_model_dir(name, recipe, lambda d: None, {"params": 7, "val_accuracy": 0.25, "recipe": {"width": 3}})

    register("toy-tracked", ToyRecipe("tracked"), builder)
    try:
        registry.build("toy-tracked")
        registry.build("toy-tracked")  # cached: no second run
    finally:
        BUILDERS.pop("toy-tracked", None)
        ZOO.pop("toy-tracked", None)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(zoo_tracking.ZOO_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["zoo.model"] == "toy-tracked" and run.info.status == "FINISHED"
    assert run.data.metrics["val_accuracy"] == 0.25 and run.data.params["recipe.width"] == "3"
