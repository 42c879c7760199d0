"""Text categories that exist on every machine, for data-mixture experiments.

`py`  Python code: the standard library's .py files with docstrings and comments removed.
`en`  English prose: those docstrings plus pydoc's language-reference topics (half of the prose documents).
`el`  Another script: the other half of the prose, transliterated letter by letter into Greek (2-byte UTF-8).
`c`   C code: the system's *.h headers (skipped when the machine has no /usr/include).

Every category is a list of ~2 KB line-aligned chunks. Whole files are too heterogeneous: a category that gets
a few percent of a small tokenizer corpus would otherwise be one or two files. Chunks go by a hash of their
origin into a "tokenizer" pool (what target tokenizers train on) and a disjoint "attacker" pool.
"""

from __future__ import annotations

import ast
import hashlib
import io
import sysconfig
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CATEGORY_NAMES = ("py", "en", "el", "c")
CHUNK_BYTES = 2048
C_MAX_BYTES = 16_000_000   # /usr/include can hold 100+ MB; a hash-ordered 16 MB of it is plenty and reads fast
_PY_SKIP = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "pydoc_data", "__pycache__"}
_C_INCLUDE = Path("/usr/include")
_GREEK = dict(zip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                  "αβψδεφγηιξκλμνοπθρστυωςχυζΑΒΨΔΕΦΓΗΙΞΚΛΜΝΟΠΘΡΣΤΥΩΣΧΥΖ"))


@dataclass(frozen=True)
class CategoryPools:
    """The chunks of one category, split into the two disjoint pools."""

    name: str
    tokenizer: tuple[str, ...]
    attacker: tuple[str, ...]


def stable_hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def chunk_document(text: str, chunk_bytes: int = CHUNK_BYTES) -> list[str]:
    """Line-aligned pieces of about `chunk_bytes` UTF-8 bytes (a longer single line stays whole)."""
    chunks, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        size += len(line.encode())
        if size >= chunk_bytes:
            chunks.append("".join(current))
            current, size = [], 0
    if current:
        chunks.append("".join(current))
    return chunks


def strip_python(source: str) -> tuple[str, list[str]]:
    """(code without docstrings and comments, the docstrings); (source, []) when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source, []
    doc_lines: set[int] = set()
    docstrings: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.append(first.value.value)
                doc_lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    comment_cols: dict[int, int] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comment_cols[tok.start[0]] = tok.start[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    kept = []
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        if number in doc_lines:
            continue
        if number in comment_cols:
            line = line[: comment_cols[number]].rstrip() + "\n"
            if not line.strip():
                continue
        kept.append(line)
    return "".join(kept), docstrings


def to_greek(text: str) -> str:
    return "".join(_GREEK.get(ch, ch) for ch in text)


def _python_files(max_files: int | None) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in sorted(root.rglob("*.py")) if not _PY_SKIP & set(p.relative_to(root).parts[:-1])]
    files.sort(key=lambda p: stable_hash(p.relative_to(root).as_posix()))   # a budget takes a spread, not one folder
    return files[:max_files] if max_files else files


def _c_headers(max_files: int | None) -> list[Path]:
    if not _C_INCLUDE.is_dir():
        return []
    files = sorted(_C_INCLUDE.rglob("*.h"), key=lambda p: stable_hash(str(p)))
    return files[:max_files] if max_files else files


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@lru_cache(maxsize=4)
def build_documents(max_files: int | None = None) -> dict[str, list[str]]:
    """category -> documents. `max_files` bounds the Python and C files read (micro runs read a few dozen)."""
    code, prose = [], []
    for path in _python_files(max_files):
        stripped, docs = strip_python(_read(path))
        code.append(stripped)
        prose.extend(d for d in docs if len(d) > 40)
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    prose.extend(topics[k] for k in sorted(topics)[: (max_files or len(topics))])
    en = [d for d in prose if stable_hash(d) % 2 == 0]
    el = [to_greek(d) for d in prose if stable_hash(d) % 2 == 1]
    out = {"py": code, "en": en, "el": el}
    headers, size = [], 0
    for path in _c_headers(max_files):
        if size >= C_MAX_BYTES:
            break
        headers.append(_read(path))
        size += len(headers[-1])
    if headers:
        out["c"] = headers
    return out


@lru_cache(maxsize=4)
def build_pools(max_files: int | None = None, attacker_share: float = 0.5, split: str = "chunk") -> dict[str, CategoryPools]:
    """category -> chunks split by hash into the tokenizer pool and the disjoint attacker pool.

    split="chunk": each chunk is assigned on its own (both pools follow the same distribution);
    split="file": whole documents are assigned (the attacker sees other files: a distribution shift)."""
    pools = {}
    for name, docs in build_documents(max_files).items():
        tok, att = [], []
        for doc_index, doc in enumerate(docs):
            for chunk_index, chunk in enumerate(chunk_document(doc)):
                key = f"{name}/{doc_index}" if split == "file" else f"{name}/{doc_index}/{chunk_index}"
                bucket = stable_hash(key) % 1000
                (att if bucket < attacker_share * 1000 else tok).append(chunk)
        pools[name] = CategoryPools(name, tuple(tok), tuple(att))
    return pools


def take_bytes(chunks: tuple[str, ...] | list[str], n_bytes: int, seed: int, repeat: bool = True) -> list[str]:
    """Chunks in a seeded order until `n_bytes` UTF-8 bytes; cycles through the pool again if `repeat`."""
    import random

    if n_bytes <= 0 or not chunks:
        return []
    order = list(range(len(chunks)))
    random.Random(seed).shuffle(order)
    out, size = [], 0
    while size < n_bytes:
        for i in order:
            out.append(chunks[i])
            size += len(chunks[i].encode())
            if size >= n_bytes:
                break
        if not repeat:
            break
    return out
