"""`tokenworks reproduce`: validate the config, run the reproduction in a Ray actor, log it to MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenworks.config import TokenworksConfig, load_config_file
from tokenworks.errors import UserError
from tokenworks.pipelines import get_reproduction
from tokenworks.pipelines.base import Reproduction, Result


@dataclass
class ReproduceOutcome:
    slug: str
    run_id: str | None          # MLflow run id, None when tracking fell back to the local folder
    result: Result
    local_dir: Path | None      # the folder holding every logged file (always written)
    config: dict                # the flattened, validated config


def resolve_config(repro: Reproduction, preset: str, overrides: dict | None = None,
                   config_file: str | None = None) -> TokenworksConfig:
    """preset <- config file <- overrides (the command line wins); UserError on bad keys or values."""
    merged = {**(load_config_file(config_file) if config_file else {}), **(overrides or {})}
    return repro.config_cls.from_preset(preset, merged)


def reproduce(slug: str, preset: str = "tiny", overrides: dict | None = None, config_file: str | None = None,
              progress: bool = True) -> ReproduceOutcome:
    """Run one reproduction of paper `slug` inside a Ray actor and track it (experiment = slug)."""
    repro = get_reproduction(slug)
    cfg = resolve_config(repro, preset, overrides, config_file)   # fails before Ray starts
    from tokenworks.platform import tracking

    with tracking.start_run(slug, f"{slug}-{preset}", tags=run_tags(repro, preset)) as run:
        run.log_params(cfg.flatten())
        result = run_in_actor(repro, cfg, run.local_dir, progress)
        log_result(run, result)
    return ReproduceOutcome(slug=slug, run_id=run.run_id, result=result, local_dir=run.local_dir,
                            config=cfg.flatten())


def run_tags(repro: Reproduction, preset: str) -> dict[str, str]:
    from tokenworks.platform.tracking import standard_tags

    return {**standard_tags(repro.slug, preset), "kind": repro.kind, "status": repro.status}


def run_in_actor(repro: Reproduction, cfg: TokenworksConfig, local_dir: Path, progress: bool = True) -> Result:
    """One ReproductionActor, placed by Ray; its files come back as bytes and land in `local_dir`."""
    import ray

    from tokenworks.platform.actors import ReproductionActor, actor_options, config_device, place_files
    from tokenworks.platform.ray_session import ensure_ray

    ensure_ray()
    # one actor alone: torch may use every core of the node it lands on (num_threads=None there)
    actor = ReproductionActor.options(**actor_options(1, config_device(cfg))).remote(num_threads=None)
    try:
        result, files = ray.get(actor.run.remote(repro, cfg, progress))
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, UserError):   # e.g. a missing model: a message, not a traceback
            raise exc.cause from None
        raise
    finally:
        ray.kill(actor)
    return place_files(result, files, local_dir)


def log_result(run: Any, result: Result) -> None:
    """Metrics, claims (JSON + Markdown), per-sample tables (Parquet), plots (PNG), notes, other files."""
    run.log_metrics(result.metrics)
    run.log_claims(result.claims)
    for name, rows in result.tables.items():
        run.log_table(name, rows)
    for path in result.plots.values():
        run.log_file(path, "plots")
    for path in result.artifacts.values():
        run.log_file(path, "artifacts")
    if result.notes:
        run.log_text("\n".join(result.notes) + "\n", "notes.md")


def format_claims_table(result: Result) -> str:
    """The claims table for the terminal: name, paper, ours, setting, verdict, why; notes below it."""
    from tokenworks.platform.tracking import markdown_table

    cols = ("name", "paper", "ours", "setting", "verdict", "why")
    rows = [{c: getattr(claim, c) for c in cols} for claim in result.claims]
    text = markdown_table(rows) if rows else "(this reproduction reported no claims)"
    return text + "".join(f"\n- {note}" for note in result.notes)
