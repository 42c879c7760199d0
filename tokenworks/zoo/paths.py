"""Where the zoo keeps what it builds: one cache root, movable with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "TOKENWORKS_CACHE"


def cache_root() -> Path:
    """$TOKENWORKS_CACHE, else ~/.cache/tokenworks. Read on every call so tests can move it."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tokenworks"


def tokenizers_dir() -> Path:
    return cache_root() / "tokenizers"


def models_dir() -> Path:
    return cache_root() / "models"
