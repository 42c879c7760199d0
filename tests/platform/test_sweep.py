"""sweep(): Tune over the fake search space, nested MLflow runs, Pareto front; kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tokenworks.config import Choice, IntRange, Uniform
from tokenworks.errors import UserError
from tokenworks.platform.pareto import pareto_front
from tokenworks.platform.sweep import TRIAL_TAG, sweep, to_tune_space


def test_pareto_front_keeps_only_non_dominated():
    axes = (("s", "max"), ("q", "max"))
    trials = [{"trial_id": i, "metrics": {"s": s, "q": q}} for i, (s, q) in
              enumerate([(1, 1), (2, 0.5), (1.5, 0.4), (0.5, 1), (2, 0.5)])]
    assert [t["trial_id"] for t in pareto_front(trials, axes)] == [1, 4, 0]
    assert [t["trial_id"] for t in pareto_front(trials, (("s", "min"), ("q", "max")))] == [3]


def test_search_space_converts_to_tune():
    space = to_tune_space({"a": Choice((1, 2)), "b": Uniform(0.1, 1.0, log=True), "c": IntRange(1, 3)})
    assert space["a"].categories == [1, 2]
    assert (space["b"].lower, space["b"].upper) == (0.1, 1.0)
    assert (space["c"].lower, space["c"].upper) == (1, 4)   # inclusive 3 -> exclusive 4
    assert {space["c"].sample() for _ in range(200)} == {1, 2, 3}


def test_bad_sweep_arguments_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="samples"):
        sweep("fake-paper", 0, storage_dir=str(tmp_path))
    with pytest.raises(UserError, match="nothing to resume|no interrupted sweep"):
        sweep("fake-paper", 2, resume=True, storage_dir=str(tmp_path))


def child_runs(uri: str, parent_run_id: str):
    client = MlflowClient(uri)
    exp = client.get_run(parent_run_id).info.experiment_id
    return client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")


def test_sweep_logs_nested_runs_and_pareto(local_ray, fresh_tracking, tmp_path):
    out = sweep("fake-paper", 4, storage_dir=str(tmp_path / "sweeps"))
    assert len(out.trials) == 4 and all(t["status"] == "finished" for t in out.trials)
    children = child_runs(fresh_tracking, out.parent_run_id)
    assert sorted(r.data.tags[TRIAL_TAG] for r in children) == sorted(t["trial_id"] for t in out.trials)
    assert all(r.info.status == "FINISHED" for r in children)
    assert out.pareto and "fake/speed (max)" in out.pareto_table
    client = MlflowClient(fresh_tracking)
    names = {a.path for a in client.list_artifacts(out.parent_run_id)}
    assert {"pareto.md", "pareto.json", "pareto.png", "trials.json"} <= names
    assert client.get_run(out.parent_run_id).data.metrics["sweep/trials_finished"] == 4


SWEEP_SCRIPT = """
import sys
from tokenworks.platform.sweep import sweep
out = sweep("fake-paper", int(sys.argv[1]), resume=sys.argv[2] == "resume", storage_dir=sys.argv[3],
            overrides={"sleep_s": float(sys.argv[4])})
print("PARENT", out.parent_run_id)
"""


@pytest.mark.integration
def test_sweep_killed_and_resumed_loses_and_repeats_nothing(tmp_path):
    samples, storage = 6, tmp_path / "sweeps"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    calls = tmp_path / "calls.jsonl"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "FAKE_REPRO_CALL_LOG": str(calls),
           "TOKENWORKS_CACHE": str(tmp_path / "cache"), "TOKENWORKS_RAY_CPUS": "2"}
    script = tmp_path / "run_sweep.py"
    script.write_text(SWEEP_SCRIPT)
    first = subprocess.Popen([sys.executable, str(script), str(samples), "fresh", str(storage), "3"], env=env,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _done_lines(calls) < 2:
            time.sleep(0.5)
        assert _done_lines(calls) >= 2, "the first sweep never finished two trials"
        time.sleep(1.0)   # let Tune record the finished trials (or not: both must work)
    finally:
        os.killpg(first.pid, signal.SIGKILL)   # the driver and the Ray processes it started
        first.wait()
    finished_before = _done_lines(calls)
    assert finished_before < samples, "the sweep finished before it could be killed"

    second = subprocess.run([sys.executable, str(script), str(samples), "resume", str(storage), "0"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "are kept" in second.stdout   # sleep_s=0 given on resume; the sweep keeps its saved 3.0
    parent = second.stdout.split("PARENT")[-1].strip()
    state = json.loads((storage / "fake-paper-micro" / "sweep.json").read_text())
    assert state["parent_run_id"] == parent

    lines = [json.loads(s) for s in calls.read_text().splitlines()]
    configs = [(d["x"], d["k"], d["mode"]) for d in lines]
    assert len(configs) == samples and len(set(configs)) == samples   # each trial completed exactly once
    children = child_runs(uri, parent)
    assert len(children) == samples
    assert len({r.data.tags[TRIAL_TAG] for r in children}) == samples
    assert all(r.info.status == "FINISHED" for r in children)

    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(storage / "fake-paper-micro" / "tune"))
    assert len(analysis.trials) == samples
    assert all(t.status == "TERMINATED" for t in analysis.trials)


def _done_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0
