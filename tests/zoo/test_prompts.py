import pytest

from tokenworks.errors import UserError
from tokenworks.zoo import code_prompts, corpus


def _source_of(prompt, files):
    return next((text for text in files if prompt in text), None)


def test_prompts_are_held_out_function_openings(code_tokenizer):
    prompts = code_prompts(code_tokenizer, 12, split="test", prompt_tokens=96)
    assert len(prompts) == len(set(prompts)) == 12
    test_files = corpus.read_split("test")
    sources = set()
    for prompt in prompts:
        source = _source_of(prompt, test_files)
        assert source is not None, "a prompt is a contiguous piece of a test-split file"
        sources.add(source)
        # ends at the signature/docstring, before its newline (BPE merges that newline with the indentation)
        assert not prompt.endswith("\n") and "def " in prompt
        rest = source[source.index(prompt) + len(prompt) :]
        assert rest[:1] == "\n" and rest[1:2] in (" ", "\t"), "what follows is the function's indented body"
        assert len(code_tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= 96 or "\n" not in prompt
    assert len(sources) >= 4, "prompts come from varied files"


def test_prompts_are_deterministic_and_seeded(code_tokenizer):
    assert code_prompts(code_tokenizer, 5, seed=0) == code_prompts(code_tokenizer, 5, seed=0)
    assert code_prompts(code_tokenizer, 5, seed=0) != code_prompts(code_tokenizer, 5, seed=1)


def test_too_many_prompts_is_a_user_error(code_tokenizer):
    with pytest.raises(UserError, match="usable functions"):
        code_prompts(code_tokenizer, 100_000)
