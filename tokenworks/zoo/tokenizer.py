"""The zoo's one byte-level BPE tokenizer, trained on the corpus' train split and cached by recipe hash.

Every code-lm-* model shares it, so a small zoo model can draft for a bigger one (assisted generation and
speculative decoding need one vocabulary). Byte-level means every byte string has an encoding and decode
gives back exactly the text that was encoded: code's whitespace survives.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from tokenworks.zoo import paths
from tokenworks.zoo.data import documents, source_id

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TokenizerRecipe:
    vocab_size: int = 4096
    data: str = "stdlib"  # a name in tokenworks.zoo.data.DATA_SOURCES; trained on its train split
    min_frequency: int = 2


def tokenizer_hash(recipe: TokenizerRecipe) -> str:
    """12 hex digits over the recipe and the identity of its data (the stdlib differs by Python version)."""
    payload = json.dumps({**asdict(recipe), "source": source_id(recipe.data), "format": 1}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def tokenizer_dir(recipe: TokenizerRecipe) -> Path:
    return paths.tokenizers_dir() / f"bpe{recipe.vocab_size}-{recipe.data}-{tokenizer_hash(recipe)}"


def train_bpe(texts: list[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Byte-level BPE whose id 0 is the EOS token, which also separates documents."""
    bpe = Tokenizer(models.BPE())
    # GPT-2's split regex keeps runs of spaces (indentation) as their own pre-tokens.
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=EOS,
        bos_token=EOS,
        pad_token=EOS,
        unk_token=None,
        clean_up_tokenization_spaces=False,  # any clean-up would break exact round trips of code
    )


def build_tokenizer(recipe: TokenizerRecipe = TokenizerRecipe(), force: bool = False) -> Path:
    """Train (unless cached) and save; returns the directory AutoTokenizer.from_pretrained loads."""
    target = tokenizer_dir(recipe)
    if target.exists() and not force:
        return target
    tokenizer = train_bpe(documents(recipe.data, "train"), recipe.vocab_size, recipe.min_frequency)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    tokenizer.save_pretrained(staging)
    (staging / "recipe.json").write_text(json.dumps({**asdict(recipe), "hash": tokenizer_hash(recipe)}, indent=2))
    publish(staging, target)
    return target


def load_tokenizer(recipe: TokenizerRecipe = TokenizerRecipe()) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast.from_pretrained(build_tokenizer(recipe))


def token_byte_lengths(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """UTF-8 byte length of each token id; special tokens are 0.

    Byte-level BPE writes each byte as exactly one character of its vocabulary strings, so a token's byte
    length is the length of its vocabulary string.
    """
    lengths = [0] * len(tokenizer)
    special = set(tokenizer.all_special_ids)
    for token, index in tokenizer.get_vocab().items():
        lengths[index] = 0 if index in special else len(token)
    return lengths


def publish(staging: Path, target: Path) -> None:
    """Move a finished build into place in one rename, so a killed build never leaves half a directory."""
    # mkdtemp makes the directory private (0700); a cache is shared with other users and Ray workers.
    staging.chmod(0o755)
    for file in staging.iterdir():
        file.chmod(0o644)
    try:
        os.replace(staging, target)
    except OSError:  # another process published the same recipe first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
