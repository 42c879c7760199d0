"""A sorted (nested, multi-exit) causal LM: the first `e` layers of one Llama, read out through its shared
final norm and LM head, form sub-model `e` (S2D's SoFT draft: Kavehzadeh et al. 2024, arXiv 2407.01955).

Pure PyTorch on a plain `LlamaForCausalLM`, so the trained draft saves and loads as any Hugging Face model;
a sub-model is a second `LlamaForCausalLM` object that *shares* the first `e` layers, the embedding, the
norm and the head of the full model (no copy), so every decoding piece (`prefill`, `decode_one_token`,
`DynamicCache`) works on it unchanged.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM

from tokenworks.errors import UserError


def check_exits(exits: tuple[int, ...] | list[int], num_layers: int) -> tuple[int, ...]:
    exits = tuple(int(e) for e in exits)
    if not exits or list(exits) != sorted(set(exits)) or exits[0] < 1 or exits[-1] > num_layers:
        raise UserError(
            f"exits = {exits!r} is invalid; allowed: strictly increasing layer counts in 1..{num_layers} "
            "(the draft's number of layers)."
        )
    return exits


def sub_model(full: LlamaForCausalLM, exit_layer: int) -> LlamaForCausalLM:
    """The first `exit_layer` layers of `full` as a causal LM sharing all its weights (eval mode)."""
    check_exits((exit_layer,), full.config.num_hidden_layers)
    if exit_layer == full.config.num_hidden_layers:
        return full
    config = copy.deepcopy(full.config)
    config.num_hidden_layers = exit_layer
    with torch.device("meta"):  # no weights allocated: every module is replaced by the full model's below
        sub = LlamaForCausalLM(config)
    sub.model.embed_tokens = full.model.embed_tokens
    sub.model.layers = torch.nn.ModuleList(full.model.layers[:exit_layer])
    sub.model.norm = full.model.norm
    sub.model.rotary_emb = full.model.rotary_emb
    sub.lm_head = full.lm_head
    sub.generation_config = full.generation_config
    return sub.eval()


def exit_logits(model: LlamaForCausalLM, input_ids: torch.Tensor, exits: tuple[int, ...]) -> list[torch.Tensor]:
    """input_ids [B, T] -> one logits tensor [B, T, V] per exit, from ONE forward of the full model:
    exit e reads layer e's output through the shared norm and head (hidden_states[0] is the embedding)."""
    out = model.model(input_ids=input_ids, output_hidden_states=True)
    # L + 1 entries: the embeddings, then each layer's output; transformers 5.x stores the *normed* final
    # state as the last entry, so the last exit reads last_hidden_state (norming it twice would be wrong)
    hidden = out.hidden_states
    last = model.config.num_hidden_layers
    return [model.lm_head(out.last_hidden_state if e == last else model.model.norm(hidden[e])) for e in exits]


def sorted_loss(model: LlamaForCausalLM, window: torch.Tensor, exits: tuple[int, ...]) -> torch.Tensor:
    """SoFT: the mean over exits of next-token cross-entropy; window [B, T + 1] token ids."""
    targets = window[:, 1:].reshape(-1)
    losses = [
        F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets)
        for logits in exit_logits(model, window[:, :-1], exits)
    ]
    return torch.stack(losses).mean()


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Forward KL(teacher || student) per token, averaged; both [B, T, V] (the per-target draft baseline)."""
    vocab = student_logits.shape[-1]
    log_student = F.log_softmax(student_logits.float().reshape(-1, vocab), dim=-1)
    log_teacher = F.log_softmax(teacher_logits.float().reshape(-1, vocab), dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean")
