"""Helpers shared by the platform tests (a plain module: `conftest` is not importable by name when several
test folders have one)."""

from __future__ import annotations

import socket
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
