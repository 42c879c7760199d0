"""Greedy decoding under a layer plan, batched and with a KV cache: SkipDecode and plain static early exit.

Both are one loop (`LayerPlanDecoder`) with an injected plan (schedule.py): the prompt is prefilled through
`plan.prompt_layers()`, then generated position t runs `plan.layers_at(t)`, the same layers for the whole
batch. A KV-safe plan never needs a cache entry that was not written, and never writes one twice: a layer
that position t skips is skipped by every later position too, so its cache simply stops growing.

A batch is left-padded; padding keys are masked and rotary positions start at each row's first real token,
so a row decodes the same tokens alone or in a batch (a test). Rows that reach EOS keep stepping with the
batch until every row is done (their surplus is cut off), as in any static-batch decoder.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from tokenworks.errors import UserError
from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.methods.decoding.forward import as_prompt_tensor, eos_token_ids, new_cache
from tokenworks.methods.decoding.greedy import check_max_new_tokens, truncate_generation
from tokenworks.methods.decoding.skipdecode.config import SkipDecodeConfig, StaticExitConfig
from tokenworks.methods.decoding.skipdecode.forward import attention_bias, decoder_parts, layered_forward
from tokenworks.methods.decoding.skipdecode.schedule import (
    LayerPlan, SkipSchedule, StaticExit, check_kv_safe, mean_layers,
)


class LayerPlanDecoder:
    """`decode(prompt_ids, max_new_tokens)` (batch 1) and `decode_batch(prompts, max_new_tokens)`."""

    def __init__(self, model, tokenizer, plan: LayerPlan, name: str):
        decoder_parts(model)  # refuses models the layer-skipping forward cannot run
        if plan.num_layers != model.config.num_hidden_layers:
            raise UserError(f"layer plan is for {plan.num_layers} layers but the model has "
                            f"{model.config.num_hidden_layers}.")
        check_kv_safe(plan, horizon=4096)
        self.model, self.plan, self.name = model, plan, name
        self.eos = eos_token_ids(model, tokenizer)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = pad if pad is not None else (min(self.eos) if self.eos else 0)
        self.sdpa = getattr(model.config, "_attn_implementation", None) == "sdpa"
        layers = model.config.num_hidden_layers
        prompt = set(plan.prompt_layers())
        self._prompt_run = [layer in prompt for layer in range(layers)]
        self._step_ends: dict[tuple[int, ...], list[int]] = {}

    def _ends_at(self, t: int) -> list[int]:
        active = self.plan.layers_at(t)
        if active not in self._step_ends:
            self._step_ends[active] = [int(layer in active) for layer in range(self.plan.num_layers)]
        return self._step_ends[active]

    @torch.inference_mode()
    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation:
        ids = as_prompt_tensor(prompt_ids, self.model.device)[0].tolist()
        return self.decode_batch([ids], max_new_tokens)[0]

    @torch.inference_mode()
    def decode_batch(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        check_max_new_tokens(max_new_tokens)
        if not prompts or any(len(p) == 0 for p in prompts):
            raise UserError("prompts must be a non-empty list of non-empty id sequences.")
        start = time.perf_counter()
        if max_new_tokens == 0:
            return [Generation([], DecodeStats(wall_s=time.perf_counter() - start)) for _ in prompts]
        rows = self._generate([list(map(int, p)) for p in prompts], max_new_tokens)
        wall = time.perf_counter() - start
        return [self._generation(row, len(p), max_new_tokens, len(prompts), wall) for row, p in zip(rows, prompts)]

    def _generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        """Token lists per row (max_new_tokens long unless every row hit EOS earlier)."""
        device, dtype = self.model.device, self.model.dtype
        width = max(map(len, prompts))
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long, device=device)  # [B, T]
        valid = torch.zeros_like(ids, dtype=torch.bool)                                        # [B, T]
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p, device=device)
            valid[i, width - len(p):] = True
        padded = not bool(valid.all())
        positions = (valid.long().cumsum(dim=1) - 1).clamp(min=0)  # [B, T]
        # no padding on sdpa: None lets sdpa run its own causal kernel, exactly as the plain HF forward does
        bias = None if (self.sdpa and not padded) else attention_bias(valid if padded else None, width, width,
                                                                      dtype, device)
        cache = new_cache(self.model)
        ends = [width if run else 0 for run in self._prompt_run]
        hidden = layered_forward(self.model, ids, positions, ends, bias, cache)
        token = self.model.lm_head(hidden[:, -1:]).argmax(dim=-1)  # [B, 1]
        position = positions[:, -1:] + 1                           # [B, 1]
        out = [token[:, 0].tolist()]
        done = [t in self.eos for t in out[0]]
        for t in range(max_new_tokens - 1):
            if all(done):
                break
            step_bias = None
            if padded:
                valid = torch.cat([valid, valid.new_ones(len(prompts), 1)], dim=1)
                step_bias = attention_bias(valid, 1, valid.shape[1], dtype, device)
            hidden = layered_forward(self.model, token, position, self._ends_at(t), step_bias, cache)
            token = self.model.lm_head(hidden).argmax(dim=-1)  # [B, 1]
            position = position + 1
            out.append(token[:, 0].tolist())
            done = [d or tok in self.eos for d, tok in zip(done, out[-1])]
        return [list(col) for col in zip(*out)]

    def _generation(self, row: list[int], prompt_len: int, max_new: int, batch: int, wall: float) -> Generation:
        ids = truncate_generation(row, self.eos, max_new)
        n = len(ids)
        layers = len(self.plan.prompt_layers()) * prompt_len + sum(len(self.plan.layers_at(t)) for t in range(n - 1))
        stats = DecodeStats(
            new_tokens=n, target_forwards=n, tokens_processed=prompt_len + n - 1,
            accepted_per_step=[0] * (n - 1), layers_executed=layers, wall_s=wall,
            method_stats={"layers_per_token": mean_layers(self.plan, n), "batch_size": float(batch)},
        )
        return Generation(ids, stats)


def skip_schedule(model, cfg: SkipDecodeConfig) -> SkipSchedule:
    layers = model.config.num_hidden_layers
    return SkipSchedule(layers, warmup=cfg.warmup_layers, max_layers=cfg.max_layers or layers,
                        min_layers=cfg.min_layers, decay_tokens=cfg.decay_tokens)


def skipdecode_decoder(model, tokenizer, cfg: SkipDecodeConfig | None = None) -> LayerPlanDecoder:
    return LayerPlanDecoder(model, tokenizer, skip_schedule(model, cfg or SkipDecodeConfig()), "skipdecode")


def static_exit_decoder(model, tokenizer, cfg: StaticExitConfig | None = None) -> LayerPlanDecoder:
    plan = StaticExit(model.config.num_hidden_layers, (cfg or StaticExitConfig()).exit_layer)
    return LayerPlanDecoder(model, tokenizer, plan, "static-exit")
