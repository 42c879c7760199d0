"""Process-level settings every entry point applies before heavy work."""

from __future__ import annotations

import os

import torch


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op thread count on purpose and return it.

    Several actors sharing 2 cores each running N threads oversubscribe the CPU and run 3-6x slower, so
    actors pass 1; a single in-process run uses all cores. `TOKENWORKS_THREADS` overrides both.
    """
    env = os.environ.get("TOKENWORKS_THREADS")
    n = int(env) if env else (num_threads or os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def device_name() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"
