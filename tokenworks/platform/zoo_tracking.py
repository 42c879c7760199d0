"""Every zoo build as an MLflow run: the recipe as params, zoo.json's numbers as metrics, zoo.json itself.

A fine-tune step (SkipDecode's), a router (R2R's) or a ViT trained on the way to a reproduction is then
findable again on its own, beside the reproduction that triggered it. The zoo never imports MLflow: it calls
`tokenworks.zoo.registry.BUILD_HOOKS`, and `enable_zoo_tracking()` puts `log_zoo_build` there (the
reproduction actor and `tokenworks zoo build` do).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ZOO_EXPERIMENT = "zoo-builds"


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


def log_zoo_build(name: str, path: Path) -> str | None:
    """One FINISHED run in experiment `zoo-builds` named after the model; returns its run id (None offline)."""
    from tokenworks.platform import tracking

    path = Path(path)
    metadata = json.loads((path / "zoo.json").read_text())
    params: dict[str, Any] = {}
    _flat("recipe", metadata.get("recipe", {}), params)
    metrics = {k: v for k, v in metadata.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    tags = {**tracking.standard_tags(), "zoo.model": name, "zoo.recipe_hash": metadata.get("recipe_hash", ""),
            "zoo.path": str(path)}
    with tracking.start_run(ZOO_EXPERIMENT, name, tags=tags) as run:
        run.log_params(params)
        run.log_metrics(metrics)
        run.log_file(path / "zoo.json")
    return run.run_id


def enable_zoo_tracking() -> None:
    """Idempotent: register `log_zoo_build` as a zoo build hook in this process."""
    from tokenworks.zoo import registry

    if log_zoo_build not in registry.BUILD_HOOKS:
        registry.BUILD_HOOKS.append(log_zoo_build)
