"""What every command shares: error handling, consoles, JSON output, lazy imports, NAME=VALUE parsing.

Bad input ends in one red `error: ...` line on stderr and exit status 2, never a traceback: the root
command group catches `UserError` (and missing files) for every subcommand, so a command only has to raise.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import math
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from tokenworks.errors import UserError

EXIT_USER_ERROR = 2      # bad input, as click uses for usage errors
EXIT_UNAVAILABLE = 1     # a part of tokenworks this command needs is not installed / not built
EXIT_INTERRUPTED = 130


class Unavailable(Exception):
    """A module or function this command needs cannot be imported (not built yet, or a missing extra)."""


class TokenworksGroup(TyperGroup):
    """The root group: turns the exceptions that mean 'bad input' into a message and an exit status."""

    def invoke(self, ctx):  # noqa: ANN001 - click's signature
        try:
            return super().invoke(ctx)
        except UserError as exc:
            fail(str(exc), EXIT_USER_ERROR)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            fail(_describe_os_error(exc), EXIT_USER_ERROR)
        except Unavailable as exc:
            fail(str(exc), EXIT_UNAVAILABLE)
        except KeyboardInterrupt:
            fail("interrupted.", EXIT_INTERRUPTED)


def fail(message: str, code: int = EXIT_USER_ERROR) -> None:
    """Print `error: message` in red on stderr and exit with `code`."""
    err_console().print(Text(f"error: {message}", style="red"), soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console().print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)


def info(message: str) -> None:
    """A status line on stderr, so stdout stays clean for tables and JSON."""
    err_console().print(Text(message, style="dim"), soft_wrap=True)


def _describe_os_error(exc: OSError) -> str:
    what = {
        FileNotFoundError: "does not exist",
        IsADirectoryError: "is a directory, not a file",
        NotADirectoryError: "is not a directory",
        PermissionError: "cannot be read or written (permission denied)",
    }.get(type(exc), str(exc))
    return f"{exc.filename!r} {what}." if exc.filename else str(exc)


def out_console() -> Console:
    # a pipe or a file gets a wide fixed width, so tables do not wrap at 80 columns in logs and `ray job` output
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else max(160, shutil.get_terminal_size().columns)
    return Console(width=width, highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """The one thing `--json` writes to stdout; NaN and infinities become null so the output is valid JSON."""
    sys.stdout.write(json.dumps(_jsonable(data), indent=2, default=str) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While enabled, everything written to stdout goes to stderr instead: Python prints and, when stdout
    is the process's real fd 1, also C-level writes and child processes (Ray workers). `--json` runs the
    work inside this so that nothing but the JSON reaches stdout."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved_fd = None
    try:
        if sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2:
            saved_fd = os.dup(1)
            os.dup2(2, 1)
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        saved_fd = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved_fd is not None:
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def need(module: str, *attrs: str, purpose: str) -> Any:
    """Import `module` (lazily: heavy libraries load only in the commands that use them) and return it, or
    its attributes `attrs`; `Unavailable` with a readable message when that part is not built/installed."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{purpose} needs {module}, which cannot be imported here: {exc}") from None
    if not attrs:
        return mod
    missing = [a for a in attrs if not hasattr(mod, a)]
    if missing:
        raise Unavailable(f"{purpose} needs {module}.{missing[0]}, which this build does not have yet.")
    values = tuple(getattr(mod, a) for a in attrs)
    return values[0] if len(values) == 1 else values


def configure_threads(num_threads: int | None = None) -> int:
    """`num_threads` torch threads (default: all cores) for a command that runs models in this process;
    `TOKENWORKS_THREADS` overrides both."""
    from tokenworks.runtime import configure_threads as _configure

    return _configure(num_threads)


def parse_name_value(text: str, option: str, value_label: str = "VALUE") -> tuple[str, str]:
    """'NAME=VALUE' -> (NAME, VALUE), both non-empty; UserError naming the option otherwise."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise UserError(f"{option} {text!r} is not of the form NAME={value_label} (both parts non-empty).")
    return name, value


def parse_json_value(raw: str) -> Any:
    """'3' -> 3, 'true' -> True, '[1,2]' -> [1, 2], anything else stays a string (as --set does)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def split_csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
