"""`tokenworks sweep`: Ray Tune over a reproduction's search space, one nested MLflow run per trial, a Pareto front.

Resumable: the Tune experiment lives in a stable folder per slug + preset (under the tokenworks cache, or
`storage_dir`) beside `sweep.json`, which keeps the MLflow parent run id. `resume=True` restores the Tune
experiment (finished trials are kept, unfinished and errored ones restarted) and reopens the same parent run.
Each trial looks up its own child run by trial id first: a trial that finished in MLflow but not yet in Tune's
last experiment checkpoint reports its logged metrics instead of running again, so no finished trial is lost
or repeated, in Tune or in MLflow.

Early stopping: a reproduction trial is single-shot (it reports once, at the end), so a trial scheduler such
as ASHA has no intermediate results to act on; trials run to completion and the Pareto front is drawn over
all of them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenworks.config import Choice, IntRange, SearchSpace, TokenworksConfig, Uniform
from tokenworks.errors import UserError
from tokenworks.pipelines import get_reproduction
from tokenworks.pipelines.base import Reproduction, RunContext
from tokenworks.platform.pareto import pareto_front, pareto_table, plot_front

TRIAL_TAG = "tokenworks.trial_id"
STATE_FILE = "sweep.json"
TUNE_NAME = "tune"


@dataclass
class SweepOutcome:
    parent_run_id: str | None
    trials: list[dict]          # {"trial_id", "config", "metrics", "run_id", "status"} per trial
    pareto: list[dict]          # the non-dominated finished trials
    pareto_table: str
    sweep_dir: Path | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class TrialSetup:
    """Everything a trial needs, shipped to the Tune worker once."""

    repro: Reproduction
    base: TokenworksConfig
    parent_run_id: str | None
    tracking_uri: str
    trials_dir: Path
    num_threads: int = 1


def sweep(slug: str, samples: int, preset: str = "micro", resume: bool = False, overrides: dict | None = None,
          storage_dir: str | None = None) -> SweepOutcome:
    """Sweep `samples` configs of paper `slug` (its search space over the `preset` base, plus `overrides`)
    with Ray Tune; every trial a nested MLflow run; the Pareto front over `pareto_axes` logged and returned."""
    repro = get_reproduction(slug)
    from tokenworks.platform.runner import resolve_config

    base = resolve_config(repro, preset, overrides)   # bad keys or values fail here, before Ray starts
    space = validated_space(repro, base)
    if samples < 1:
        raise UserError(f"--samples {samples} is invalid: a sweep needs at least 1 sample.")
    sweep_dir = sweep_root(storage_dir) / f"{slug}-{preset}"
    state = prepare_sweep_dir(sweep_dir, resume, {"slug": slug, "preset": preset, "samples": samples,
                                                  "overrides": overrides or {}})
    base = resolve_config(repro, preset, state["overrides"])   # a resumed sweep keeps its own settings
    from tokenworks.platform import tracking
    from tokenworks.platform.runner import run_tags

    with tracking.start_run(slug, f"sweep-{slug}-{preset}", tags={**run_tags(repro, preset), "sweep": "parent"},
                            resume_run_id=state.get("parent_run_id"), local_dir=sweep_dir / "parent") as parent:
        if parent.run_id and not state.get("parent_run_id"):
            state["parent_run_id"] = parent.run_id
            (sweep_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        parent.log_params({**base.flatten(), "sweep.samples": state["samples"],
                           "sweep.space": {k: repr(v) for k, v in space.items()}})
        setup = TrialSetup(repro, base, parent.run_id, tracking.tracking_uri(), sweep_dir / "trials")
        trials, errors = run_tune(setup, space, state["samples"], sweep_dir, resume)
        outcome = summarise(repro, trials, parent.run_id, sweep_dir, errors)
        parent.log_metrics({"sweep/trials_finished": sum(t["status"] == "finished" for t in trials),
                            "sweep/pareto_size": len(outcome.pareto)})
        log_pareto(parent, repro, outcome)
    return outcome


def validated_space(repro: Reproduction, base: TokenworksConfig) -> SearchSpace:
    space = repro.search_space()
    if not space:
        raise UserError(f"paper {repro.slug!r} defines no search space, so there is nothing to sweep.")
    valid = set(base.flat_keys())
    unknown = [k for k in space if k not in valid]
    if unknown:   # a reproduction bug, but say it plainly rather than fail inside a trial
        raise UserError(f"search space of {repro.slug!r} names unknown config keys {unknown}; valid: {sorted(valid)}")
    return space


def sweep_root(storage_dir: str | None) -> Path:
    from tokenworks.zoo.paths import cache_root

    return Path(storage_dir).expanduser().resolve() if storage_dir else cache_root() / "sweeps"


def prepare_sweep_dir(sweep_dir: Path, resume: bool, fresh_state: dict) -> dict:
    """On resume, the saved state (which must exist); otherwise archive any old sweep and start clean."""
    state_path = sweep_dir / STATE_FILE
    if resume:
        from ray.tune import Tuner

        if not state_path.exists() or not Tuner.can_restore(str(sweep_dir / TUNE_NAME)):
            raise UserError(f"--resume: no interrupted sweep to resume at {sweep_dir}; run without --resume.")
        saved = json.loads(state_path.read_text())
        changed = [k for k in ("samples", "overrides") if saved.get(k) != fresh_state[k]]
        if changed:   # Tune restores the experiment as it was defined; say so rather than ignore silently
            print(f"--resume continues the saved sweep; its {', '.join(changed)} "
                  f"({', '.join(repr(saved.get(k)) for k in changed)}) are kept.")
        return saved
    if sweep_dir.exists():
        archived = sweep_dir.with_name(f"{sweep_dir.name}-{_dt.datetime.now():%Y%m%d-%H%M%S}")
        shutil.move(str(sweep_dir), str(archived))
        print(f"previous sweep moved to {archived}")
    sweep_dir.mkdir(parents=True)
    state_path.write_text(json.dumps(fresh_state, indent=2))
    return dict(fresh_state)


def to_tune_space(space: SearchSpace) -> dict[str, Any]:
    """tokenworks.config dimensions -> ray.tune samplers."""
    from ray import tune

    out: dict[str, Any] = {}
    for key, dim in space.items():
        if isinstance(dim, Choice):
            out[key] = tune.choice(list(dim.values))
        elif isinstance(dim, Uniform):
            out[key] = (tune.loguniform if dim.log else tune.uniform)(dim.low, dim.high)
        elif isinstance(dim, IntRange):
            out[key] = tune.randint(dim.low, dim.high + 1)   # tune.randint's upper bound is exclusive
        else:
            raise TypeError(f"search space {key!r}: unsupported dimension {dim!r}")
    return out


def run_tune(setup: TrialSetup, space: SearchSpace, samples: int, sweep_dir: Path,
             resume: bool) -> tuple[list[dict], list[str]]:
    from ray import tune

    from tokenworks.platform.actors import actor_options, config_device
    from tokenworks.platform.ray_session import ensure_ray

    ensure_ray()
    # checkpoint the experiment state after every event, not every 10+ s: a kill loses no finished trial
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    resources = actor_options(1, config_device(setup.base))
    trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup),
                                    {"cpu": resources["num_cpus"], "gpu": resources["num_gpus"]})
    path = str(sweep_dir / TUNE_NAME)
    if resume:
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, restart_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=to_tune_space(space),
            tune_config=tune.TuneConfig(num_samples=samples),
            run_config=tune.RunConfig(name=TUNE_NAME, storage_path=str(sweep_dir), verbose=0),
        )
    grid = tuner.fit()
    trials, errors = [], []
    for res in grid:
        metrics = dict(res.metrics or {})
        status = "errored" if res.error else "finished"
        if res.error:
            errors.append(f"{metrics.get('trial_id', '?')}: {res.error}")
        trials.append({"trial_id": metrics.get("trial_id") or Path(res.path).name, "config": res.config,
                       "metrics": {k: v for k, v in metrics.items() if "/" in k},
                       "run_id": metrics.get("mlflow_run_id"), "status": status})
    return trials, errors


def run_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """One trial inside a Tune worker: one nested MLflow run (reopened, never duplicated, on resume)."""
    from ray import tune

    from tokenworks.platform import tracking
    from tokenworks.platform.runner import log_result
    from tokenworks.runtime import configure_threads

    configure_threads(setup.num_threads)
    os.environ["MLFLOW_TRACKING_URI"] = setup.tracking_uri   # Tune workers must not guess (ray#36257)
    trial_id = tune.get_context().get_trial_id()
    cfg = setup.base.with_overrides(config)
    previous = find_child_run(setup, trial_id)
    if previous is not None and previous.info.status == "FINISHED":
        tune.report({**previous.data.metrics, "mlflow_run_id": previous.info.run_id, "reused": 1})
        return
    with tracking.start_run(setup.repro.slug, f"trial-{trial_id}", parent_run_id=setup.parent_run_id,
                            resume_run_id=previous.info.run_id if previous else None,
                            local_dir=setup.trials_dir / trial_id,
                            tags={TRIAL_TAG: trial_id, "sweep": "trial"}) as run:
        run.log_params(cfg.flatten())
        result = setup.repro.run(cfg, RunContext(workdir=run.local_dir, progress=lambda _: None, num_threads=1))
        log_result(run, result)
    tune.report({**result.metrics, "mlflow_run_id": run.run_id or "", "reused": 0})


def find_child_run(setup: TrialSetup, trial_id: str) -> Any:
    """The child run an earlier, interrupted attempt of this trial opened, if MLflow has one."""
    if not setup.parent_run_id:
        return None
    from mlflow import MlflowClient

    from tokenworks.platform.tracking import PARENT_TAG

    client = MlflowClient(setup.tracking_uri)
    experiment = client.get_run(setup.parent_run_id).info.experiment_id
    runs = client.search_runs([experiment], filter_string=f"tags.`{PARENT_TAG}` = '{setup.parent_run_id}' "
                                                          f"and tags.`{TRIAL_TAG}` = '{trial_id}'")
    return max(runs, key=lambda r: r.info.status == "FINISHED", default=None)


def summarise(repro: Reproduction, trials: list[dict], parent_run_id: str | None, sweep_dir: Path,
              errors: list[str]) -> SweepOutcome:
    axes = repro.pareto_axes
    done = [t for t in trials if t["status"] == "finished" and all(a in t["metrics"] for a, _ in axes)]
    front = pareto_front(done, axes)
    return SweepOutcome(parent_run_id, trials, front, pareto_table(front, axes), sweep_dir, errors)


def log_pareto(parent: Any, repro: Reproduction, outcome: SweepOutcome) -> None:
    """pareto.md, pareto.json (front), trials.json (all) and pareto.png on the parent run."""
    parent.log_text(outcome.pareto_table + "\n", "pareto.md")
    parent.log_text(json.dumps(outcome.pareto, indent=2, default=str) + "\n", "pareto.json")
    parent.log_text(json.dumps(outcome.trials, indent=2, default=str) + "\n", "trials.json")
    finished = [t for t in outcome.trials if t["status"] == "finished"]
    if finished:
        png = parent.local_dir / "pareto.png"
        plot_front(finished, outcome.pareto, repro.pareto_axes, png, title=f"{repro.slug} sweep")
        parent.log_file(png)
