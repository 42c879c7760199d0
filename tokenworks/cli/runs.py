"""`tokenworks reproduce`, `tokenworks sweep` and `tokenworks report`: run papers, sweep them, gather results."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.table import Table

from tokenworks.cli.common import (
    Unavailable,
    configure_threads,
    need,
    out_console,
    print_json,
    stdout_to_stderr,
    warn,
)
from tokenworks.config import load_config_file, parse_set_options
from tokenworks.errors import UserError


class Preset(str, Enum):
    micro = "micro"
    tiny = "tiny"
    paper = "paper"


SET_HELP = "Override one config value, KEY=VALUE (dotted keys; VALUE parsed as JSON when it can be). Repeatable."


def reproduce(
    slugs: Optional[list[str]] = typer.Argument(None, metavar="SLUG", help="Paper slugs (see `tokenworks list`)."),
    run_all: bool = typer.Option(False, "--all", help="Run every registered (implemented) reproduction."),
    preset: Preset = typer.Option(Preset.tiny, "--preset", help="micro: seconds (tests); tiny: CPU minutes; "
                                  "paper: the paper's own models and settings (GPU cluster)."),
    sets: Optional[list[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help=SET_HELP),
    config_file: Optional[Path] = typer.Option(None, "--config", metavar="FILE",
                                               help="JSON or YAML file of config overrides; --set wins over it."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON on stdout (progress goes to stderr). "
                                 "One SLUG: one object; several SLUGs or --all: a list of objects."),
) -> None:
    """Reproduce papers: run each one's reproduction, log it to MLflow, print its claims table.

    The claims table puts the paper's number beside ours, the setting each was measured on, and a verdict
    (reproduced / not reproduced / not comparable at this scale, and why). Every config is validated
    before anything runs: a bad key lists the valid keys, a bad value names the allowed range.

    With --json each paper prints {"slug", "run_id", "metrics": {"ARM/METRIC": value}, "claims": [{"name",
    "paper", "ours", "setting", "verdict", "why"}]}.

    **Examples**

    ```
    tokenworks reproduce token-recycling
    tokenworks reproduce token-recycling --preset micro --set max_new_tokens=32 --json
    tokenworks reproduce --all --preset tiny
    ray job submit -- tokenworks reproduce token-recycling --preset paper
    ```
    """
    overrides = parse_set_options(sets or [])
    targets = _targets(slugs or [], run_all)
    file_overrides = load_config_file(config_file) if config_file else {}
    for slug in targets:  # every config is checked before the first run starts
        validate_config(slug, preset.value, {**file_overrides, **overrides})

    runner = need("tokenworks.platform.runner", purpose="`tokenworks reproduce`")
    configure_threads()
    outputs, failed = [], []
    for slug in targets:
        try:
            with stdout_to_stderr(as_json):
                outcome = runner.reproduce(slug, preset=preset.value, overrides=overrides,
                                           config_file=str(config_file) if config_file else None,
                                           progress=not as_json)
        except Exception as exc:  # noqa: BLE001
            if len(targets) == 1:
                raise
            # one paper that cannot run (missing weights, an OOM) must not cost the rest of a suite; its MLflow
            # run is already marked FAILED with its traceback
            failed.append(slug)
            warn(f"{slug}: reproduction failed ({type(exc).__name__}: {exc}); going on with the others.")
            outputs.append({"slug": slug, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if as_json:
            outputs.append(outcome_json(outcome))
        else:
            print_outcome(outcome, runner.format_claims_table(outcome.result))
    if as_json:
        print_json(outputs[0] if len(slugs or []) == 1 else outputs)
    if failed:
        warn(f"{len(failed)} of {len(targets)} reproductions failed: {', '.join(failed)}.")
        raise typer.Exit(1)


def _targets(slugs: list[str], run_all: bool) -> list[str]:
    from tokenworks import pipelines

    if run_all and slugs:
        raise UserError(f"give either SLUGs ({' '.join(slugs)}) or --all, not both.")
    if run_all:
        registry = pipelines.registered() if hasattr(pipelines, "registered") else pipelines.REPRODUCTIONS
        if not registry:
            raise UserError("--all: no reproduction is registered yet (see `tokenworks list`).")
        return list(registry)
    if not slugs:
        raise UserError("give at least one paper SLUG, or --all (see `tokenworks list` for the slugs).")
    return list(dict.fromkeys(slugs))  # once each, in the order given


def validate_config(slug: str, preset: str, overrides: dict[str, Any]) -> None:
    """The same merge as the runner (preset <- config file <- --set); UserError on an unknown slug, a bad
    key (listing the valid keys) or a bad value (naming the allowed range), before any work starts."""
    from tokenworks.catalog import PAPERS
    from tokenworks.pipelines import get_reproduction

    entry = PAPERS.get(slug)
    if entry is not None and entry.kind == "taxonomy":
        raise UserError(
            f"{slug!r} is a survey: there is nothing to reproduce. Its taxonomy is the catalog's tags; "
            "see `tokenworks list --by paradigm` (or any axis)."
        )
    try:
        repro = get_reproduction(slug)
    except ImportError as exc:  # registered, but its module is missing or broken in this build
        raise Unavailable(f"the reproduction of {slug!r} is registered but cannot be imported: {exc}") from None
    repro.config_cls.from_preset(preset, overrides)


def outcome_json(outcome: Any) -> dict[str, Any]:
    result = outcome.result
    return {
        "slug": outcome.slug,
        "run_id": outcome.run_id,
        "metrics": dict(result.metrics),
        "claims": [claim.as_dict() for claim in result.claims],
    }


def print_outcome(outcome: Any, claims_table: str) -> None:
    console = out_console()
    console.rule(f"{outcome.slug}")
    typer.echo(claims_table)   # plain text: a Markdown table must keep its rows whole
    if outcome.result.metrics:
        console.print(metrics_table(outcome.result.metrics))
    where = f"MLflow run {outcome.run_id}" if outcome.run_id else "MLflow unavailable; logged locally"
    local = f", files in {outcome.local_dir}" if getattr(outcome, "local_dir", None) else ""
    typer.echo(f"{where}{local}")


def metrics_table(metrics: dict[str, Any]) -> Table:
    """Flat 'ARM/METRIC' keys as a grid: one row per arm, one column per metric."""
    arms: dict[str, dict[str, Any]] = {}
    for key, value in metrics.items():
        arm, sep, metric = key.rpartition("/")
        arms.setdefault(arm if sep else "-", {})[metric] = value
    columns = list(dict.fromkeys(m for row in arms.values() for m in row))
    table = Table(title="metrics", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("arm", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right")
    for arm, row in arms.items():
        table.add_row(arm, *(format_number(row.get(c)) for c in columns))
    return table


def format_number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def sweep(
    slug: str = typer.Argument(..., help="Paper slug (see `tokenworks list`)."),
    samples: int = typer.Option(..., "--samples", min=1, metavar="N", help="Number of Ray Tune trials."),
    preset: Preset = typer.Option(Preset.tiny, "--preset", help="Base preset the search space is applied to."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last interrupted sweep of this paper."),
    sets: Optional[list[str]] = typer.Option(None, "--set", metavar="KEY=VALUE",
                                             help=SET_HELP + " Fixed for every trial."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON on stdout: parent_run_id, trials, pareto."),
) -> None:
    """Sweep a paper's knobs with Ray Tune and print the speed/quality Pareto front.

    Every trial is a nested MLflow run under one parent run; the Pareto front is logged as an artifact.

    **Examples**

    ```
    tokenworks sweep token-recycling --samples 8 --preset micro
    tokenworks sweep token-recycling --samples 32 --resume
    ```
    """
    overrides = parse_set_options(sets or [])
    validate_config(slug, preset.value, overrides)
    run_sweep = need("tokenworks.platform.sweep", "sweep", purpose="`tokenworks sweep`")
    configure_threads()
    with stdout_to_stderr(as_json):
        outcome = run_sweep(slug, samples, preset=preset.value, resume=resume, overrides=overrides)
    if as_json:
        print_json({"slug": slug, "parent_run_id": outcome.parent_run_id, "trials": outcome.trials,
                    "pareto": outcome.pareto})
        return
    typer.echo(outcome.pareto_table)
    count = len(outcome.trials) if hasattr(outcome.trials, "__len__") else outcome.trials
    typer.echo(f"{count} trials; MLflow parent run {outcome.parent_run_id}")


def report(
    out: Path = typer.Option(Path("tokenworks-results") / "report", "--out", metavar="DIR",
                             help="Folder to write the report into (created if missing)."),
) -> None:
    """Gather the latest run of every paper from MLflow into one report: claims, ours, verdicts, plots.

    The report also carries the catalog's taxonomy table (the two surveys' axes), labelled as a
    classification rather than a measurement.

    **Examples**

    ```
    tokenworks report
    tokenworks report --out /tmp/tokenworks-report
    ```
    """
    build_report = need("tokenworks.platform.report", "build_report", purpose="`tokenworks report`")
    path = build_report(out)
    typer.echo(f"report written to {path}")
