"""reproduce(): config validated before Ray, run inside a Ray actor, everything logged to MLflow."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from tokenworks.errors import UserError
from tokenworks.platform import runner


def test_bad_config_fails_before_ray_starts(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started for a bad config"))
    with pytest.raises(UserError, match="k"):
        runner.reproduce("fake-paper", preset="micro", overrides={"k": 99})
    with pytest.raises(UserError, match="unknown config key"):
        runner.reproduce("fake-paper", preset="micro", overrides={"kk": 1})
    with pytest.raises(UserError, match="preset"):
        runner.reproduce("fake-paper", preset="huge")


def test_config_file_then_overrides(tmp_path):
    from fake_reproduction import FakeReproduction

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"x": 0.25, "k": 3}))
    cfg = runner.resolve_config(FakeReproduction(), "micro", {"k": 4}, str(path))
    assert (cfg.x, cfg.k) == (0.25, 4)


def test_reproduce_runs_in_actor_and_logs_everything(local_ray, fresh_tracking):
    out = runner.reproduce("fake-paper", preset="micro", overrides={"x": 1.0, "k": 2}, progress=False)
    assert out.result.metrics["fake/speed"] == pytest.approx(4.0)
    assert out.config["k"] == 2
    run = MlflowClient(fresh_tracking).get_run(out.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["x"] == "1.0" and run.data.params["k"] == "2"
    assert run.data.metrics["fake/quality"] == pytest.approx(0.75)
    assert run.data.tags["preset"] == "micro" and run.data.tags["kind"] == "proxy"
    exp = MlflowClient(fresh_tracking).get_experiment(run.info.experiment_id)
    assert exp.name == "fake-paper"
    names = {a.path for a in MlflowClient(fresh_tracking).list_artifacts(out.run_id)}
    assert {"claims.json", "claims.md", "plots", "tables", "notes.md"} <= names
    plot = out.local_dir / "plots" / "speed.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = runner.format_claims_table(out.result)
    assert "| speedup | 2x | 4.00x | fake, CPU | reproduced |" in table and "synthetic numbers" in table


def test_failing_reproduction_is_marked_failed(local_ray, fresh_tracking):
    with pytest.raises(Exception, match="asked to fail"):
        runner.reproduce("fake-paper", preset="micro", overrides={"fail": True}, progress=False)
    runs = MlflowClient(fresh_tracking).search_runs(
        [MlflowClient(fresh_tracking).get_experiment_by_name("fake-paper").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert runs[0].data.params["fail"] == "true"


def test_unreachable_tracking_server_still_completes_the_run(local_ray, monkeypatch, tmp_path, capsys):
    from tokenworks.platform.tracking import TrackingWarning

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")   # nothing listens on the discard port
    monkeypatch.setenv("TOKENWORKS_CACHE", str(tmp_path))
    with pytest.warns(TrackingWarning, match="unreachable"):
        out = runner.reproduce("fake-paper", preset="micro", progress=False)
    assert out.run_id is None and out.local_dir.is_relative_to(tmp_path / "runs" / "fake-paper")
    assert str(out.local_dir) in capsys.readouterr().err
    assert json.loads((out.local_dir / "claims.json").read_text())[0]["name"] == "speedup"
    assert json.loads((out.local_dir / "metrics.json").read_text())["fake/speed"] == pytest.approx(1.5)
    assert (out.local_dir / "tables" / "per_sample.parquet").exists()
    assert (out.local_dir / "plots" / "speed.png").exists()
    assert json.loads((out.local_dir / "status.json").read_text())["status"] == "FINISHED"
