"""The one exception type that reaches the user as a message instead of a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user: the CLI prints the message and exits with status 2, no traceback.

    The message must name the field, the value given and what is allowed.
    """


def close_matches(value: str, allowed: Iterable[str], n: int = 3) -> str:
    """' Did you mean: a, b?' or '' — for error messages about unknown names."""
    matches = difflib.get_close_matches(value, list(allowed), n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(matches)}?" if matches else ""
