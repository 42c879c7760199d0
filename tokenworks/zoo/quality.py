"""Does a model write varied text? A model that has learned too little falls into repeating one token or
line, which makes draft-and-verify decoding look fast for the wrong reason; this measures that."""

from __future__ import annotations

import torch


def distinct_ngram_share(ids: list[int], n: int = 4) -> float:
    """Distinct n-grams / all n-grams of `ids` (1.0 = no n-gram repeats; a one-line loop tends to 0)."""
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


@torch.no_grad()
def greedy_continuation(model, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """Plain argmax decoding with a KV cache; EOS is an ordinary token here, so the length is always fixed."""
    device = next(model.parameters()).device
    out = model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True)
    generated: list[int] = []
    for _ in range(max_new_tokens):
        token = int(out.logits[0, -1].argmax())
        generated.append(token)
        out = model(input_ids=torch.tensor([[token]], device=device), past_key_values=out.past_key_values, use_cache=True)
    return generated


def greedy_diversity(model, tokenizer, prompts: list[str], max_new_tokens: int = 128, n: int = 4) -> float:
    """Mean over prompts of the distinct-n-gram share of the greedy continuation's tokens."""
    shares = [
        distinct_ngram_share(greedy_continuation(model, tokenizer(p, add_special_tokens=False)["input_ids"], max_new_tokens), n)
        for p in prompts
    ]
    return sum(shares) / len(shares)
