"""Session-wide test settings: one torch thread, and MLflow writes to a throw-away store, never ./mlruns."""

from __future__ import annotations

import os
import tempfile

import pytest

# Before anything imports torch: several test processes (Ray workers, subprocesses) share 2 cores.
os.environ.setdefault("TOKENWORKS_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TQDM_DISABLE", "1")
_mlflow_dir = tempfile.mkdtemp(prefix="tokenworks-test-mlflow-")
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{_mlflow_dir}/mlflow.db")
# Triton reads TRITON_INTERPRET when triton.language is first imported: set it before any test module can
# import triton (through transformers or our kernels), or kernels fail depending on test order. Where CUDA is
# present it stays unset and the kernels compile for the GPU.
if not os.path.exists("/dev/nvidia0"):  # no GPU: run Triton kernels in its interpreter
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    import torch

    torch.set_num_threads(1)
    yield
