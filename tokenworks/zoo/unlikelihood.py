"""Sequence-level unlikelihood training against greedy loops (Welleck et al., 2020, "Neural Text Generation
with Unlikelihood Training", §5.2).

A small causal LM trained by maximum likelihood alone falls into repeating one line under greedy decoding
(code-lm-tiny: distinct-4-gram share 0.33 over 128 tokens) however long it trains: the loop is the model's
own fixed point, and more data of the same kind did not remove it. The paper's remedy is a fine-tuning phase
on the model's *own* greedy continuations: every token that takes part in an n-gram that already occurred
earlier in the continuation gets the loss -log(1 - p(token | prefix)), pushing probability away from the
repeat, while maximum-likelihood steps on real text keep the model's fit. Copying from the prompt is not
penalised (only repeats inside the continuation are), so a model can still quote its context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def repeated_ngram_mask(tokens: torch.Tensor, n: int) -> torch.Tensor:
    """[B, T] bool: positions covered by an n-gram of `tokens` ([B, T] ids) that occurred earlier in its row.

    An n-gram starting at s "occurred earlier" when the same n ids start at some s' < s (overlaps count, as
    in a one-token loop); all n of its positions are marked, as in the paper's candidate set.
    """
    batch, length = tokens.shape
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for row in range(batch):
        seen: set[tuple[int, ...]] = set()
        ids = tokens[row].tolist()
        for start in range(length - n + 1):
            gram = tuple(ids[start : start + n])
            if gram in seen:
                mask[row, start : start + n] = True
            else:
                seen.add(gram)
    return mask


@torch.no_grad()
def greedy_rollouts(model, prefixes: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """[B, new_tokens] greedy continuations of `prefixes` ([B, P] ids, same length, so no padding needed)."""
    was_training = model.training
    model.eval()
    out = model(input_ids=prefixes, use_cache=True)
    generated = []
    for _ in range(new_tokens):
        token = out.logits[:, -1].argmax(dim=-1, keepdim=True)  # [B, 1]
        generated.append(token)
        out = model(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
    model.train(was_training)
    return torch.cat(generated, dim=1)


def unlikelihood_loss(logits: torch.Tensor, targets: torch.Tensor, penalised: torch.Tensor) -> torch.Tensor:
    """Mean of -log(1 - p(target)) over penalised positions.

    logits: [B, T, V] predictions for `targets` ([B, T] ids); penalised: [B, T] bool. Zero (with a graph)
    when nothing is penalised, so a loop-free batch simply contributes nothing.
    """
    log_probs = F.log_softmax(logits.float(), dim=-1)
    target_log_p = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [B, T]
    # log(1 - p) computed as log1p(-exp(log p)), clamped so p -> 1 stays finite
    one_minus = torch.log1p(-target_log_p.exp().clamp(max=1 - 1e-5))
    weight = penalised.float()
    return -(one_minus * weight).sum() / weight.sum().clamp(min=1.0)


def continuation_unlikelihood(
    model, prefixes: torch.Tensor, rollouts: torch.Tensor, penalised: torch.Tensor
) -> torch.Tensor:
    """Unlikelihood of the model's own continuations, with gradients: prefixes [b, P], rollouts [b, R] (from
    `greedy_rollouts`), penalised [b, R] (from `repeated_ngram_mask`). Runs under the caller's autocast."""
    sequences = torch.cat([prefixes, rollouts], dim=1)
    logits = model(input_ids=sequences[:, :-1]).logits[:, prefixes.shape[1] - 1 :]  # [b, R, V]
    return unlikelihood_loss(logits, rollouts, penalised)
