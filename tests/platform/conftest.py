"""Platform test settings: the fake reproduction is importable everywhere (this process, Ray workers,
subprocesses), the tokenworks cache is a throw-away folder, and one small local Ray instance is shared."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# set before any ray.init so that Ray workers (which inherit this environment) can import the fake
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
os.environ["TOKENWORKS_EXTRA_REPRODUCTIONS"] = "fake-paper=fake_reproduction:FakeReproduction"

os.environ.setdefault("TOKENWORKS_RAY_CPUS", "2")


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray instance for the in-process tests of this folder, shut down at the end."""
    import ray

    from tokenworks.platform.ray_session import ensure_ray

    started = ensure_ray()
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """A private SQLite MLflow store for one test; returns its tracking URI."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def fresh_tracking(mlflow_store, tmp_path, monkeypatch):
    """A private MLflow store and tokenworks cache (so local run folders land in tmp_path)."""
    monkeypatch.setenv("TOKENWORKS_CACHE", str(tmp_path / "cache"))
    return mlflow_store

