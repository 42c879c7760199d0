"""Prompt files for `tokenworks bench decoding`: JSON lines, one object with a "prompt" string per line."""

from __future__ import annotations

import json
from pathlib import Path

from tokenworks.errors import UserError


def read_prompts(path: Path) -> list[str]:
    """The "prompt" field of every non-blank line; UserError naming the path and line on any problem."""
    if not path.exists():
        raise UserError(f"prompts file {str(path)!r} does not exist. Write one with "
                        "`tokenworks zoo prompts --out FILE`, or use --prompts-from-zoo N.")
    if not path.is_file():
        raise UserError(f"prompts file {str(path)!r} is not a file.")
    prompts: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                prompts.append(_prompt_of(line, path, number))
    if not prompts:
        raise UserError(f"prompts file {str(path)!r} holds no prompts (expected JSON lines like "
                        '{"prompt": "def add(a, b):"}).')
    return prompts


def _prompt_of(line: str, path: Path, number: int) -> str:
    where = f"prompts file {str(path)!r}, line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON ({exc.msg}).") from None
    if not isinstance(record, dict):
        raise UserError(f'{where}: expected a JSON object with a "prompt" field, got {type(record).__name__}.')
    if "prompt" not in record:
        found = ", ".join(map(repr, record)) or "none"
        raise UserError(f'{where}: no "prompt" field (fields found: {found}).')
    prompt = record["prompt"]
    if not isinstance(prompt, str) or not prompt:
        raise UserError(f'{where}: "prompt" must be a non-empty string, got {prompt!r}.')
    return prompt


def write_prompts(prompts: list[str], path: Path) -> Path:
    """One {"prompt": ...} object per line; the folder is created if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for prompt in prompts:
            handle.write(json.dumps({"prompt": prompt}) + "\n")
    return path
