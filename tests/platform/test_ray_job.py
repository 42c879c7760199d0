"""`ray start --head` on loopback (own ports, own temp dir, token authentication on), then
`ray job submit -- tokenworks reproduce SLUG --preset micro`: the job succeeds and its MLflow run exists.

Token authentication: Ray 2.60 turns it on for `ray start` when ~/.ray/auth_token exists, and then a
`ray job submit` without RAY_AUTH_MODE=token is refused ("Missing authentication token"). The test sets
RAY_AUTH_MODE=token and its own RAY_AUTH_TOKEN for both, so it behaves the same on every machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from platform_helpers import HERE, free_port
from mlflow import MlflowClient

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ray_head():
    """A `ray start --head --block` in its own process group; stopped by pid in the finalizer, always."""
    temp_dir = tempfile.mkdtemp(prefix="/tmp/twr-")   # short: Ray's unix socket paths must stay < 108 bytes
    token = secrets.token_hex(32)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    dash = free_port()
    ports = {"--port": free_port(), "--dashboard-port": dash, "--ray-client-server-port": free_port(),
             "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
             "--metrics-export-port": free_port(), "--runtime-env-agent-port": free_port(),
             "--node-manager-port": free_port(), "--object-manager-port": free_port()}
    cmd = [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
           "--include-dashboard=true", "--dashboard-host=127.0.0.1", "--num-cpus=2", "--disable-usage-stats",
           f"--temp-dir={temp_dir}", *(f"{k}={v}" for k, v in ports.items())]
    head = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_dashboard(f"http://127.0.0.1:{dash}", token, head)
        yield {"address": f"http://127.0.0.1:{dash}", "env": env}
    finally:
        _stop_group(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_dashboard(url: str, token: str, head: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited early:\n{head.stdout.read().decode()[-3000:]}")
        try:
            r = httpx.get(f"{url}/api/version", headers={"Authorization": f"Bearer {token}"}, timeout=2)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the Ray dashboard at {url} did not answer within {timeout_s}s")


def _stop_group(head: subprocess.Popen) -> None:
    """SIGTERM lets `ray start --block` stop its daemons; SIGKILL the group for anything left."""
    try:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait()


def _submit(ray_head, slug: str, tmp_path: Path, extra_env: dict[str, str]) -> tuple[subprocess.CompletedProcess, str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    runtime_env = {"env_vars": {"MLFLOW_TRACKING_URI": uri, "TOKENWORKS_THREADS": "1", **extra_env}}
    cmd = [str(BIN / "ray"), "job", "submit", "--address", ray_head["address"],
           "--runtime-env-json", json.dumps(runtime_env), "--",
           "tokenworks", "reproduce", slug, "--preset", "micro"]
    done = subprocess.run(cmd, env=ray_head["env"], capture_output=True, text=True, timeout=900)
    return done, uri


def _assert_job_logged(done: subprocess.CompletedProcess, uri: str, slug: str) -> None:
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "succeeded" in done.stdout
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(slug)
    assert exp is not None, f"no MLflow experiment {slug!r}"
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert runs[0].data.tags["preset"] == "micro"


def test_job_submit_runs_fake_reproduction(ray_head, tmp_path):
    """The platform path end to end, independent of any paper's pipeline."""
    done, uri = _submit(ray_head, "fake-paper", tmp_path, {
        "TOKENWORKS_EXTRA_REPRODUCTIONS": "fake-paper=fake_reproduction:FakeReproduction",
        "PYTHONPATH": str(HERE)})
    _assert_job_logged(done, uri, "fake-paper")


@pytest.mark.skipif(importlib.util.find_spec("tokenworks.pipelines.token_recycling") is None,
                    reason="the token-recycling pipeline is not written yet")
def test_job_submit_runs_token_recycling(ray_head, tmp_path):
    done, uri = _submit(ray_head, "token-recycling", tmp_path, {})
    _assert_job_logged(done, uri, "token-recycling")


def test_submit_without_token_is_refused(ray_head):
    """The head enforces token authentication: a client that sends no token gets no job."""
    env = {k: v for k, v in ray_head["env"].items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    env.update(RAY_AUTH_MODE="disabled", HOME=tempfile.mkdtemp())   # no ~/.ray/auth_token to fall back on
    done = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", ray_head["address"], "--", "true"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "auth" in (done.stdout + done.stderr).lower()
