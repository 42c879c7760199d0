from transformers import AutoTokenizer

from tokenworks.zoo import corpus
from tokenworks.zoo.recipes import ZOO
from tokenworks.zoo.tokenizer import EOS, build_tokenizer, token_byte_lengths, tokenizer_dir

TRICKY = [
    "def f(x):\n\tif x:\r\n        return '  trailing  '   \n\n\n",
    "s = 'ünïcödé — 中文 🐍'\n# comment with \\ backslash and \x00 nul\n",
    "    \n  \n",
    "a" * 300,
]


def test_round_trips_code_exactly(code_tokenizer):
    for text in corpus.read_split("validation") + TRICKY:
        ids = code_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert code_tokenizer.decode(ids) == text


def test_compresses_code(code_tokenizer):
    text = "".join(corpus.read_split("validation"))
    ids = code_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(text.encode()) / len(ids) > 3.0  # measured 3.78 bytes per token


def test_eos_is_one_special_token(code_tokenizer):
    assert code_tokenizer.eos_token == EOS
    assert code_tokenizer(EOS, add_special_tokens=False)["input_ids"] == [code_tokenizer.eos_token_id]
    assert len(code_tokenizer) == 4096


def test_loads_through_auto_tokenizer_and_is_cached():
    path = build_tokenizer()
    assert build_tokenizer() == path  # the second call is a cache hit: same directory
    reloaded = AutoTokenizer.from_pretrained(path)
    text = "import os\nprint(os.getcwd())\n"
    assert reloaded.decode(reloaded(text, add_special_tokens=False)["input_ids"]) == text


def test_every_code_model_shares_one_tokenizer():
    code_models = [r for name, r in ZOO.items() if name.startswith("code-lm-")]
    assert len({tokenizer_dir(r.tokenizer) for r in code_models}) == 1


def test_token_byte_lengths_count_utf8_bytes(code_tokenizer):
    lengths = token_byte_lengths(code_tokenizer)
    text = TRICKY[1] + TRICKY[0]
    ids = code_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert sum(lengths[i] for i in ids) == len(text.encode())
    assert lengths[code_tokenizer.eos_token_id] == 0
