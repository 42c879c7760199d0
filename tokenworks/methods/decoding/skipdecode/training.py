"""Teacher-forced forwards under a layer plan: fine-tuning a model for a schedule, and scoring it.

Both use `layered_forward` with per-layer prefix ends (schedule.layer_prefix_ends): a window of P prompt
positions then G generated positions computes exactly what the KV-cached decoder computes for the same tokens,
so the teacher-forced next-token accuracy of the G positions is the decoder's own (a test checks it).

Fine-tuning follows the paper: the forward applies the same position-dependent skipping, so the upper layers
learn to read the warm-up layers' hidden states. One fine-tune serves several schedules: each step draws one
plan (and one prompt length) for the whole batch, so the model meets every budget of the sweep.
"""

from __future__ import annotations

import math
import random
import sys
import time
from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from tokenworks.methods.decoding.skipdecode.forward import attention_bias, layered_forward
from tokenworks.methods.decoding.skipdecode.schedule import LayerPlan, layer_prefix_ends


def plan_logits(model, inputs: torch.Tensor, plan: LayerPlan, prompt_len: int) -> torch.Tensor:
    """inputs [B, T] (the first prompt_len are the prompt) -> logits [B, T, V] under `plan`."""
    steps = inputs.shape[1]
    positions = torch.arange(steps, device=inputs.device).expand(inputs.shape[0], -1)  # [B, T]
    ends = layer_prefix_ends(plan, prompt_len, steps - prompt_len)
    sdpa = getattr(model.config, "_attn_implementation", None) == "sdpa"
    bias = None if sdpa else attention_bias(None, steps, steps, model.dtype, inputs.device)  # sdpa: is_causal
    return model.lm_head(layered_forward(model, inputs, positions, ends, bias))


@torch.no_grad()
def teacher_forced_metrics(
    model,
    windows: torch.Tensor,              # [N, P + G + 1] token ids
    plan: LayerPlan,
    prompt_len: int,                    # P
    byte_lengths: torch.Tensor | None = None,  # [V] UTF-8 bytes per token (0 for EOS); None: no bits per byte
    batch: int = 8,
) -> dict[str, float]:
    """Next-token accuracy and bits per byte of the G generated positions of every window under `plan`."""
    correct = scored = 0
    nll, n_bytes = 0.0, 0.0
    for start in range(0, windows.shape[0], batch):
        chunk = windows[start : start + batch]
        logits = plan_logits(model, chunk[:, :-1], plan, prompt_len)[:, prompt_len:].float()  # [b, G, V]
        targets = chunk[:, prompt_len + 1 :]                                                 # [b, G]
        correct += int((logits.argmax(dim=-1) == targets).sum())
        scored += targets.numel()
        nll += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"))
        if byte_lengths is not None:
            n_bytes += float(byte_lengths[targets].sum())
    metrics = {"next_token_accuracy": correct / scored, "nll_per_token": nll / scored}
    if byte_lengths is not None and n_bytes:
        metrics["bits_per_byte"] = nll / (math.log(2) * n_bytes)
    return metrics


def finetune_for_plans(
    model,
    stream: torch.Tensor,               # [N] training token ids
    plans: Sequence[LayerPlan],
    *,
    steps: int,
    batch: int,
    context: int,
    prompt_range: tuple[int, int],      # prompt length drawn uniformly from [lo, hi] per step
    lr: float,
    warmup_steps: int = 10,
    seed: int = 0,
    bf16: bool = False,
    desc: str = "skipdecode fine-tune",
) -> dict[str, float]:
    """AdamW, linear warm-up then cosine to 10%, loss over every position of each window; model left in eval
    mode. Returns training statistics."""
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    model.train()
    started, loss = time.perf_counter(), torch.tensor(float("nan"))
    bar = tqdm(range(steps), desc=desc, file=sys.stderr, unit="step")
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, steps, warmup_steps, lr)
        plan, prompt_len = plans[rng.randrange(len(plans))], rng.randint(*prompt_range)
        starts = torch.randint(0, len(stream) - context - 1, (batch,), generator=generator).tolist()
        window = torch.stack([stream[s : s + context + 1] for s in starts]).to(model.device)  # [B, C + 1]
        with torch.autocast(device_type=model.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = plan_logits(model, window[:, :-1], plan, prompt_len)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return {"finetune_seconds": round(time.perf_counter() - started, 1), "final_train_loss": round(loss.item(), 4),
            "finetune_tokens": steps * batch * context}


def _lr(step: int, steps: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
