"""Held-out code prompts: real stdlib code cut just where a function body begins.

A prompt is a file's text up to the end of a function's signature (and its docstring, when it has one),
without the final newline, trimmed from the left by whole lines to about `prompt_tokens` tokens. The model is then asked to write the
body: a continuation whose quality shows in whether it is varied code or a loop of one line.
"""

from __future__ import annotations

import ast
import random

from tokenworks.errors import UserError
from tokenworks.zoo.corpus import read_split

MIN_BODY_LINES = 3  # skip one-liners: their continuation is mostly the next function, not a body


def body_start_lines(source: str) -> list[int]:
    """For each function with a multi-line body: the number of lines up to the end of its signature/docstring."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    cuts = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0]
        has_docstring = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) and isinstance(first.value.value, str)
        cut = first.end_lineno if has_docstring else first.lineno - 1
        if node.end_lineno - cut >= MIN_BODY_LINES and cut >= node.lineno:
            cuts.append(cut)
    return sorted(set(cuts))


def trim_left(lines: list[str], tokenizer, prompt_tokens: int) -> str:
    """The longest suffix of whole lines within `prompt_tokens` tokens (at least the last line)."""
    kept: list[str] = []
    count = 0
    for line in reversed(lines):
        n = len(tokenizer(line, add_special_tokens=False)["input_ids"])
        if kept and count + n > prompt_tokens:
            break
        kept.append(line)
        count += n
    return "".join(reversed(kept))


def code_prompts(tokenizer, n: int, split: str = "test", prompt_tokens: int = 96, seed: int = 0) -> list[str]:
    """`n` distinct prompts from the files of `split`, drawn round-robin over files so they vary; deterministic."""
    if n < 1 or prompt_tokens < 8:
        raise UserError(f"code_prompts needs n >= 1 (got {n}) and prompt_tokens >= 8 (got {prompt_tokens}).")
    rng = random.Random(seed)
    per_file = []
    for source in read_split(split):
        lines = source.splitlines(keepends=True)
        cuts = body_start_lines(source)
        rng.shuffle(cuts)
        per_file.append((lines, cuts))
    rng.shuffle(per_file)
    total = sum(len(cuts) for _, cuts in per_file)
    if n > total:
        raise UserError(f"code_prompts: n={n} but split {split!r} has only {total} usable functions.")
    prompts: list[str] = []
    depth = 0
    while len(prompts) < n:
        for lines, cuts in per_file:
            if depth < len(cuts) and len(prompts) < n:
                # No trailing newline: BPE merges a newline with the next line's indentation, so a prompt ending
                # in a bare "\n" token tells the model the next line is unindented (it then leaves the function).
                prompts.append(trim_left(lines[: cuts[depth]], tokenizer, prompt_tokens).removesuffix("\n"))
        depth += 1
    return prompts
