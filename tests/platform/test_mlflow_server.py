"""A real MLflow server (SQLite store, loopback, free port): a run is logged through it and read back;
when the server dies mid-run the run carries on into its local folder with a warning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from platform_helpers import free_port
from mlflow import MlflowClient

from tokenworks.pipelines.base import Claim
from tokenworks.platform import tracking

pytestmark = pytest.mark.integration


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
           f"sqlite:///{tmp_path}/server.db", "--artifacts-destination", str(tmp_path / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while tracking.check_reachable(url) is not None:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.5)
        yield url, server
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_run_logged_through_server_and_read_back(mlflow_server, monkeypatch, tmp_path):
    url, _ = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("TOKENWORKS_CACHE", str(tmp_path / "cache"))
    with tracking.start_run("server-exp", "served", tags=tracking.standard_tags("token-recycling", "micro")) as run:
        run.log_params({"max_new_tokens": 32})
        run.log_metrics({"token-recycling/speedup": 1.7})
        run.log_claims([Claim("speedup", "2x", "1.7x", "micro", "not reproduced", "tiny model")])
        run.log_table("per_sample", [{"prompt": 0, "accepted": [1, 0, 2]}])
    client = MlflowClient(url)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"max_new_tokens": "32"}
    assert got.data.metrics == {"token-recycling/speedup": 1.7}
    assert got.data.tags["paper_title"]   # from the catalog
    claims = json.loads(Path(client.download_artifacts(run.run_id, "claims.json", str(tmp_path))).read_text())
    assert claims[0]["ours"] == "1.7x"
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_server_dying_mid_run_falls_back_to_local_folder(mlflow_server, monkeypatch, tmp_path):
    url, server = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("TOKENWORKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.warns(tracking.TrackingWarning, match="offline"):
        with tracking.start_run("server-exp", "dies") as run:
            run.log_metrics({"a": 1.0})
            _stop(server)
            run.log_metrics({"b": 2.0})
    assert run.offline
    assert json.loads((run.local_dir / "metrics.json").read_text()) == {"a": 1.0, "b": 2.0}
