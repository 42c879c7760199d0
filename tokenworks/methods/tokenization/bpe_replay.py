"""Read a Hugging Face `tokenizer.json` as a BPE merge list plus the exact normaliser and pre-tokeniser its
trainer used, and turn documents into the word-frequency table that trainer would have counted."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer
from tqdm import tqdm

from tokenworks.errors import UserError
from tokenworks.methods.tokenization.merge_tracer import word_symbols


@dataclass
class BpeSpec:
    """The parts of a BPE tokenizer that data-mixture inference replays."""

    tokenizer: Tokenizer
    merges: list[tuple[str, str]]
    continuing_prefix: str = ""
    end_suffix: str = ""


def parse_merges(raw: list) -> list[tuple[str, str]]:
    """tokenizer.json stores merges as "a b" strings (older files) or [a, b] lists (newer files)."""
    out = []
    for item in raw:
        if isinstance(item, str):
            parts = item.split(" ")
            if len(parts) != 2:
                raise UserError(f"merge {item!r} in tokenizer.json is not of the form 'left right'.")
            out.append((parts[0], parts[1]))
        else:
            out.append((str(item[0]), str(item[1])))
    return out


def spec_from_tokenizer(tokenizer: Tokenizer) -> BpeSpec:
    data = json.loads(tokenizer.to_str())
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise UserError(f"the tokenizer's model is {model.get('type')!r}; data-mixture inference needs a BPE model "
                        "(model.type == 'BPE' in tokenizer.json) with an ordered merge list.")
    merges = parse_merges(model.get("merges") or [])
    if not merges:
        raise UserError("the tokenizer has no merges (model.merges in tokenizer.json is empty); "
                        "data-mixture inference reads the training data from the merge order.")
    return BpeSpec(tokenizer, merges, model.get("continuing_subword_prefix") or "", model.get("end_of_word_suffix") or "")


def load_bpe_spec(path: str | Path) -> BpeSpec:
    p = Path(path)
    if p.is_dir() and (p / "tokenizer.json").is_file():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise UserError(f"tokenizer {str(path)!r} does not exist; give the path of a Hugging Face tokenizer.json "
                        "(or a folder holding one).")
    try:
        tokenizer = Tokenizer.from_file(str(p))
    except Exception as exc:   # the tokenizers package raises a bare Exception for malformed files
        raise UserError(f"tokenizer {str(p)!r} is not a valid Hugging Face tokenizer.json: {exc}") from None
    return spec_from_tokenizer(tokenizer)


def pre_tokens(tokenizer: Tokenizer, document: str) -> list[str]:
    """The pre-tokens the trainer counts for one whole document: normalise, then pre-tokenise."""
    if tokenizer.normalizer is not None:
        document = tokenizer.normalizer.normalize_str(document)
    if tokenizer.pre_tokenizer is None:
        return [document] if document else []
    return [piece for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(document)]


def word_counts(spec: BpeSpec, documents: Iterable[str], desc: str = "pre-tokenize") -> dict[tuple[str, ...], int]:
    """symbol sequence -> frequency over all pre-tokens of `documents` (each document pre-tokenised whole)."""
    words: Counter[str] = Counter()
    for doc in tqdm(documents, desc=desc, leave=False):
        words.update(pre_tokens(spec.tokenizer, doc))
    return {word_symbols(w, spec.continuing_prefix, spec.end_suffix): c for w, c in words.items() if w}
