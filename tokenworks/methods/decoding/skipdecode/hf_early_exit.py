"""Hugging Face's self-speculative early exit (`generate(assistant_early_exit=k)`, LayerSkip-style) as a Decoder.

The bottom k layers plus the LM head draft tokens, the full model verifies them: lossless. transformers drafts
by temporarily setting `config.num_hidden_layers = k` on the very same module, so one forward hook sees both
kinds of call; the layer count at call time tells a draft from a target forward, and the target's calls are
counted by the same rule as every other HF baseline (hf_generate.accepted_from_calls).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Sequence

import torch

from tokenworks.errors import UserError
from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.methods.decoding.forward import as_prompt_tensor, eos_token_ids
from tokenworks.methods.decoding.greedy import check_max_new_tokens, truncate_generation
from tokenworks.methods.decoding.hf_generate import accepted_from_calls
from tokenworks.methods.decoding.skipdecode.config import HFEarlyExitConfig


class LayerCountingHook:
    """Records (layers at call, cache length at call, tokens fed) for every forward of `model` while active."""

    def __init__(self, model):
        self.model = model
        self.calls: list[tuple[int, int, int]] = []

    def _hook(self, _module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        cache = kwargs.get("past_key_values")
        past = cache.get_seq_length() if cache is not None else 0
        layers = self.model.config.num_hidden_layers
        self.calls.append((int(layers), int(past), int(ids.shape[1]) if ids is not None else 0))

    def __enter__(self) -> "LayerCountingHook":
        self._handle = self.model.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


class HFEarlyExitDecoder:
    name = "hf-early-exit"

    def __init__(self, model, tokenizer=None, cfg: HFEarlyExitConfig | None = None):
        self.model, self.cfg = model, cfg or HFEarlyExitConfig()
        self.num_layers = model.config.num_hidden_layers
        if self.cfg.exit_layer >= self.num_layers:
            raise UserError(f"exit_layer = {self.cfg.exit_layer} is invalid for a {self.num_layers}-layer model; "
                            f"allowed: 1..{self.num_layers - 1} (the drafting pass must be shallower).")
        self.eos = eos_token_ids(model, tokenizer)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_token_id = pad if pad is not None else (min(self.eos) if self.eos else 0)

    @contextmanager
    def _draft_length(self):
        """transformers reads the draft length from the drafting model's own generation config, which here is
        the served model's: set it for this call only."""
        config = self.model.generation_config
        saved = (config.num_assistant_tokens, config.num_assistant_tokens_schedule)
        if self.cfg.num_assistant_tokens is not None:
            config.num_assistant_tokens = self.cfg.num_assistant_tokens
            config.num_assistant_tokens_schedule = "constant"
        try:
            yield
        finally:
            config.num_assistant_tokens, config.num_assistant_tokens_schedule = saved

    @torch.inference_mode()
    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation:
        check_max_new_tokens(max_new_tokens)
        start = time.perf_counter()
        ids = as_prompt_tensor(prompt_ids, self.model.device)  # [1, T]
        if max_new_tokens == 0:
            return Generation([], DecodeStats(wall_s=time.perf_counter() - start))
        with LayerCountingHook(self.model) as hook, self._draft_length():
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
                eos_token_id=sorted(self.eos) or None, pad_token_id=self.pad_token_id,
                assistant_early_exit=self.cfg.exit_layer,
            )
        new = truncate_generation(out[0, ids.shape[1]:].tolist(), self.eos, max_new_tokens)
        target = [(past, n) for layers, past, n in hook.calls if layers == self.num_layers]
        draft = [(layers, n) for layers, past, n in hook.calls if layers != self.num_layers]
        stats = DecodeStats(
            new_tokens=len(new), target_forwards=len(target), draft_forwards=len(draft),
            tokens_processed=sum(n for _, n in target),
            accepted_per_step=accepted_from_calls(target, ids.shape[1], len(new)),
            layers_executed=self.num_layers * sum(n for _, n in target) + sum(k * n for k, n in draft),
            wall_s=time.perf_counter() - start,
        )
        stats.method_stats["layers_per_token"] = stats.layers_executed / len(new) if new else 0.0
        return Generation(new, stats)
