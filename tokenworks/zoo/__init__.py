"""The model zoo: locally built tokenizer and causal LMs, loaded by zoo name, local path or Hugging Face id.

    from tokenworks.zoo import load_lm, code_prompts
    model, tokenizer = load_lm("code-lm-tiny")   # builds on first use (about 20 CPU-minutes), then cached

Everything built lives under $TOKENWORKS_CACHE (default ~/.cache/tokenworks), keyed by recipe hash.
"""

from tokenworks.zoo.load import load_lm, zoo_bits_per_byte
from tokenworks.zoo.prompts import code_prompts
from tokenworks.zoo.registry import build, list_models, model_info
from tokenworks.zoo.tasks import TASK_NAMES, TaskExample, make_tasks, score

DEFAULT_MODEL = "code-lm-tiny"
TEST_MODEL = "code-lm-micro"

__all__ = [
    "DEFAULT_MODEL",
    "TEST_MODEL",
    "TASK_NAMES",
    "TaskExample",
    "build",
    "code_prompts",
    "list_models",
    "load_lm",
    "make_tasks",
    "model_info",
    "score",
    "zoo_bits_per_byte",
]
