"""The zoo by name: which models exist, which are built, and building one on demand (cached, locked)."""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tokenworks.errors import UserError, close_matches
from tokenworks.zoo.recipes import BUILDERS, ZOO, Recipe, ensure_extensions, recipe_hash
from tokenworks.zoo.train import METADATA_FILE, build_model, model_dir


# called as hook(name, path) after every fresh build (not for cache hits): the platform registers one that
# records the build as an MLflow run (the zoo itself never imports MLflow); a failing hook only warns
BUILD_HOOKS: list = []


def get_recipe(name: str) -> Recipe:
    ensure_extensions()
    if name not in ZOO:
        raise UserError(f"model {name!r} is not a zoo name; zoo names: {', '.join(ZOO)}." + close_matches(name, ZOO))
    return ZOO[name]


def built_dir(name: str) -> Path | None:
    """The cached directory of `name` when it is built for its current recipe, else None."""
    path = model_dir(name, get_recipe(name))
    return path if (path / METADATA_FILE).is_file() else None


def read_metadata(path: Path) -> dict | None:
    file = Path(path) / METADATA_FILE
    return json.loads(file.read_text()) if file.is_file() else None


def model_info(name: str) -> dict:
    """name, built, path, params, val_bits_per_byte, val_accuracy, val_greedy_distinct_4gram, recipe_hash,
    description (+ zoo.json)."""
    recipe = get_recipe(name)
    path = model_dir(name, recipe)
    metadata = read_metadata(path) or {}
    return {
        **metadata,
        "name": name,
        "built": bool(metadata),
        "path": str(path),
        "params": metadata.get("params"),
        "val_bits_per_byte": metadata.get("val_bits_per_byte"),
        "val_accuracy": metadata.get("val_accuracy"),  # task, image and diffusion models
        # code LMs: distinct-4-gram share of greedy continuations of validation prompts (< 0.6: it loops)
        "val_greedy_distinct_4gram": metadata.get("val_greedy_distinct_4gram"),
        "recipe_hash": recipe_hash(recipe),
        "description": recipe.description,
    }


def list_models() -> list[dict]:
    ensure_extensions()
    keys = ("name", "built", "path", "params", "val_bits_per_byte", "val_accuracy", "val_greedy_distinct_4gram",
            "recipe_hash", "description")
    return [{key: info[key] for key in keys} for info in map(model_info, ZOO)]


@contextmanager
def _build_lock(target: Path):
    """One builder per recipe across processes: concurrent test sessions wait instead of training twice."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(name: str, force: bool = False, num_threads: int | None = None) -> Path:
    """The model's directory, training it first unless it is cached (or `force`)."""
    recipe = get_recipe(name)
    target = model_dir(name, recipe)
    with _build_lock(target):
        if built_dir(name) and not force:
            return target
        if target.exists():  # forced rebuild, or a directory without zoo.json: set it aside, delete after
            retired = Path(tempfile.mkdtemp(prefix=f".old-{target.name}-", dir=target.parent))
            target.rename(retired / "model")
            shutil.rmtree(retired, ignore_errors=True)
        if name in BUILDERS:
            path = BUILDERS[name](name, recipe, num_threads)
        else:
            path = build_model(name, recipe, num_threads=num_threads)
    _run_build_hooks(name, Path(path))
    return path


def _run_build_hooks(name: str, path: Path) -> None:
    import warnings

    for hook in list(BUILD_HOOKS):
        try:
            hook(name, path)
        except Exception as exc:  # noqa: BLE001 - a model that trained must not be lost to a logging problem
            warnings.warn(f"zoo build hook {getattr(hook, '__name__', hook)!r} failed for {name!r}: {exc}")
