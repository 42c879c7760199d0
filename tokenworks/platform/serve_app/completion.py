"""One completion request against one loaded model, without Ray: tokenize, decode, detokenize, cut at `stop`,
count tokens, collect the method's statistics. Model deployments (native decoders, vLLM) call this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from tokenworks.platform.serve_app.protocol import RequestError, apply_stop

# (prompt_ids [T], max_new_tokens) -> (generated ids [N], method statistics for `usage`)
GenerateIds = Callable[[Sequence[int], int], "tuple[list[int], dict[str, Any]]"]


@dataclass
class CompletionResult:
    choices: list[dict[str, Any]]
    usage: dict[str, Any]


def complete(generate: GenerateIds, tokenizer: Any, prompts: list[str], max_tokens: int, stop: list[str],
             context_length: int | None = None) -> CompletionResult:
    """Greedy completions of `prompts`; RequestError (400) when a prompt cannot be served."""
    encoded = [list(tokenizer(p)["input_ids"]) for p in prompts]
    for i, ids in enumerate(encoded):
        _check_fits(i, len(ids), max_tokens, context_length)
    choices, per_choice_stats = [], []
    prompt_tokens = completion_tokens = 0
    for i, ids in enumerate(encoded):
        new_ids, stats = generate(ids, max_tokens)
        text, stopped = apply_stop(tokenizer.decode(new_ids, skip_special_tokens=True), stop)
        finish = "stop" if stopped or len(new_ids) < max_tokens else "length"
        choices.append({"index": i, "text": text, "finish_reason": finish, "logprobs": None})
        prompt_tokens += len(ids)
        completion_tokens += len(new_ids)
        per_choice_stats.append(stats)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens, "tokenworks": per_choice_stats}
    return CompletionResult(choices, usage)


def _check_fits(index: int, prompt_len: int, max_tokens: int, context_length: int | None) -> None:
    if prompt_len == 0:
        raise RequestError(400, f"prompt {index} encodes to no tokens; give some text.", "prompt")
    if context_length is not None and prompt_len + max_tokens > context_length:
        raise RequestError(400, f"prompt {index} has {prompt_len} tokens and 'max_tokens' = {max_tokens}; together "
                           f"they exceed the model's context of {context_length} tokens (lower max_tokens to at most "
                           f"{max(context_length - prompt_len, 0)} or shorten the prompt).", "max_tokens")


def decoder_usage(stats: Any) -> dict[str, Any]:
    """The method's own numbers for one completion (vLLM's definitions, see methods/decoding/base.py), with
    `stats.method_stats` (R2R large-token share, S2D exit, ...) merged in."""
    return {"mean_acceptance_length": float(stats.mean_acceptance_length),
            "accepted_tokens": int(sum(stats.accepted_per_step)),
            "target_forwards": int(stats.target_forwards),
            "target_forwards_per_token": float(stats.target_forwards_per_token),
            "draft_forwards": int(stats.draft_forwards),
            **dict(getattr(stats, "method_stats", None) or {})}


def context_length_of(decoder: Any) -> int | None:
    """The positional capacity of a decoder's model (`decoder.model.config.max_position_embeddings`), when it
    exposes one; None for decoders that hold several models (they check their own limits)."""
    config = getattr(getattr(decoder, "model", None), "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None
