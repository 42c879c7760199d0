"""Tracking without Ray: a run read back from a SQLite store, offline fallback, FAILED runs, Parquet."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from tokenworks.pipelines.base import Claim
from tokenworks.platform import tracking


def test_run_is_logged_and_read_back(fresh_tracking):
    with tracking.start_run("exp-a", "run-1", tags={"preset": "micro"}) as run:
        run.log_params({"a": 1, "b.c": "x", "lst": [1, 2]})
        run.log_metrics({"greedy/tok_s": 3.5, "bad": float("nan"), "flag": True})
        run.log_claims([Claim("speedup", "2x", "1.5x", "cpu", "not reproduced", "small model")])
        run.log_table("per_sample", [{"i": 0, "ids": [1, 2]}, {"i": 1, "ids": [3]}])
    client = MlflowClient(fresh_tracking)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"a": "1", "b.c": "x", "lst": "[1, 2]"}
    assert got.data.metrics == {"greedy/tok_s": 3.5}
    assert got.data.tags["preset"] == "micro"
    names = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"claims.json", "claims.md", "tables"} <= names
    claims_path = client.download_artifacts(run.run_id, "claims.json")
    assert json.loads(open(claims_path).read())[0]["verdict"] == "not reproduced"
    table = pq.read_table(client.download_artifacts(run.run_id, "tables/per_sample.parquet"))
    assert table.column("ids").to_pylist() == [[1, 2], [3]]


def test_unreachable_server_falls_back_to_local_folder(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")   # discard port: nothing listens
    monkeypatch.setenv("TOKENWORKS_CACHE", str(tmp_path))
    with pytest.warns(tracking.TrackingWarning, match="unreachable"):
        with tracking.start_run("exp-b", "run-offline") as run:
            run.log_metrics({"m": 2.0})
    assert run.run_id is None and run.offline
    assert str(run.local_dir) in capsys.readouterr().err
    assert run.local_dir.is_relative_to(tmp_path)
    assert json.loads((run.local_dir / "metrics.json").read_text()) == {"m": 2.0}
    assert json.loads((run.local_dir / "status.json").read_text())["status"] == "FINISHED"


def test_failing_run_is_marked_failed_with_what_it_had(fresh_tracking):
    with pytest.raises(ZeroDivisionError):
        with tracking.start_run("exp-c", "run-fails") as run:
            run.log_metrics({"before": 1.0})
            1 / 0
    got = MlflowClient(fresh_tracking).get_run(run.run_id)
    assert got.info.status == "FAILED"
    assert got.data.metrics == {"before": 1.0}
    assert "ZeroDivisionError" in (run.local_dir / "error.txt").read_text()


def test_parquet_stores_mixed_columns_as_json(tmp_path):
    path = tmp_path / "t.parquet"
    tracking.write_parquet([{"v": 1}, {"v": "two"}, {"v": {"k": [1]}}], path)
    assert pq.read_table(path).column("v").to_pylist() == ["1", "two", '{"k": [1]}']


def test_standard_tags_name_versions_and_device():
    tags = tracking.standard_tags("fake-paper", "micro")
    assert tags["preset"] == "micro" and tags["paper"] == "fake-paper"
    assert tags["device"] in ("cpu", "cuda")
    assert {"torch", "ray", "mlflow", "transformers"} <= set(tags)


def test_log_bench_logs_arm_metrics_and_tables(fresh_tracking):
    rows = {"greedy": {"tokens_per_s": 10.0, "speedup": 1.0}, "token-recycling": {"tokens_per_s": 20.0,
                                                                                  "speedup": 2.0}}
    run_id = tracking.log_bench("decoding", {"model": "code-lm-micro", "max_new_tokens": 16}, rows,
                                [{"arm": "greedy", "prompt": 0, "ids": [1, 2]}])
    client = MlflowClient(fresh_tracking)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == tracking.BENCH_EXPERIMENT
    assert run.data.metrics["token-recycling/speedup"] == 2.0 and run.data.params["model"] == "code-lm-micro"
    table = pq.read_table(client.download_artifacts(run_id, "tables/per_sample.parquet"))
    assert table.column("ids").to_pylist() == [[1, 2]]
