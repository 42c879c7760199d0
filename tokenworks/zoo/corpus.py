"""The Python standard library's own source as a text corpus, split by file into train/validation/test.

Every interpreter install ships it, so every machine can build the zoo with no download. The split is a pure
function of each file's path relative to the stdlib root (a hash, not a random draw), so it is the same on
every machine and run with the same Python version, and no file is in two splits.
"""

from __future__ import annotations

import hashlib
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

from tokenworks.errors import UserError

SPLITS = ("train", "validation", "test")
# Out of 100 hash buckets: 98 train, 1 validation, 1 test.
_BUCKETS = {"validation": range(0, 1), "test": range(1, 2), "train": range(2, 100)}
# Tests are excluded (they are mostly assertions about the stdlib itself); generated tables (codec maps,
# pydoc topics, sysconfig data) are not code anyone writes.
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "pydoc_data", "encodings", "__pycache__"}
_SKIP_PREFIXES = ("_sysconfigdata",)
MAX_FILE_BYTES = 250_000


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def source_id() -> str:
    """Identifies the corpus contents for recipe hashes: the stdlib changes between Python versions."""
    return f"stdlib-py{sys.version_info.major}.{sys.version_info.minor}"


def split_of(relative_path: str) -> str:
    """'train' | 'validation' | 'test', from a hash of the POSIX relative path."""
    bucket = int(hashlib.sha256(relative_path.encode()).hexdigest(), 16) % 100
    return next(name for name, buckets in _BUCKETS.items() if bucket in buckets)


@lru_cache(maxsize=1)
def _all_files() -> tuple[Path, ...]:
    root = stdlib_root()
    files = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith("config-") for part in relative.parts[:-1]):
            continue
        if path.name.startswith(_SKIP_PREFIXES) or path.stat().st_size > MAX_FILE_BYTES:
            continue
        files.append(path)
    return tuple(files)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise UserError(f"split {split!r} is not defined; allowed: {', '.join(SPLITS)}.")


def split_files(split: str) -> list[Path]:
    """The stdlib .py files of one split, sorted by relative path."""
    _check_split(split)
    root = stdlib_root()
    return [p for p in _all_files() if split_of(p.relative_to(root).as_posix()) == split]


def read_split(split: str) -> list[str]:
    """The documents (one per file, full text) of one split, in `split_files` order."""
    return [p.read_text(encoding="utf-8", errors="replace") for p in split_files(split)]
