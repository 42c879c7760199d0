"""Hugging Face `generate` baselines wrapped as Decoders: plain greedy, prompt lookup, assisted generation.

These are the baselines users would pick instead of ours. Their statistics come from forward pre-hooks on
the target (and draft) model, so they are counted by the same rules as our decoders: every target call is a
target forward (prefill included), and a decode-phase call that starts at cache length s emits the tokens
up to the next call's start (HF feeds the last committed token plus the candidates, and crops the cache
after a rejection), so `emitted_i = s_{i+1} - s_i` and `accepted_i = emitted_i - 1`.
"""

from __future__ import annotations

import time
from typing import Literal, Sequence

import torch
from pydantic import Field

from tokenworks.config import TokenworksConfig
from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.methods.decoding.forward import as_prompt_tensor, eos_token_ids
from tokenworks.methods.decoding.greedy import check_max_new_tokens, truncate_generation


class ForwardCounter:
    """Records (cache length at call, tokens fed) for every forward of `module` while active."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.calls: list[tuple[int, int]] = []

    def _hook(self, _module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        cache = kwargs.get("past_key_values")
        past = cache.get_seq_length() if cache is not None else 0
        self.calls.append((int(past), int(ids.shape[1]) if ids is not None else 0))

    def __enter__(self) -> "ForwardCounter":
        self._handle = self.module.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def accepted_from_calls(calls: list[tuple[int, int]], prompt_len: int, new_tokens: int) -> list[int]:
    """Accepted drafts per verify step from the target's (cache length, fed tokens) call log."""
    starts = [past for past, _ in calls[1:]]  # decode-phase calls
    if not starts:
        return []
    ends = starts[1:] + [prompt_len + new_tokens - 1]  # the last emitted token is never fed
    return [max(0, e - s - 1) for s, e in zip(starts, ends)]


class HFGenerateDecoder:
    """`model.generate(..., do_sample=False, **generate_kwargs)` as a Decoder."""

    def __init__(self, name: str, model, tokenizer=None, draft_model=None, **generate_kwargs):
        self.name = name
        self.model = model
        self.draft_model = draft_model
        self.eos = eos_token_ids(model, tokenizer)
        self.generate_kwargs = generate_kwargs
        if draft_model is not None:
            self.generate_kwargs["assistant_model"] = draft_model
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_token_id = pad if pad is not None else (min(self.eos) if self.eos else 0)

    @torch.inference_mode()
    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation:
        check_max_new_tokens(max_new_tokens)
        start = time.perf_counter()
        ids = as_prompt_tensor(prompt_ids, self.model.device)  # [1, T]
        if max_new_tokens == 0:
            return Generation([], DecodeStats(wall_s=time.perf_counter() - start))
        with ForwardCounter(self.model) as target, ForwardCounter(self.draft_model or torch.nn.Module()) as draft:
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=sorted(self.eos) or None,
                pad_token_id=self.pad_token_id,
                **self.generate_kwargs,
            )
        new = truncate_generation(out[0, ids.shape[1]:].tolist(), self.eos, max_new_tokens)
        layers = self.model.config.num_hidden_layers
        stats = DecodeStats(
            new_tokens=len(new),
            target_forwards=len(target.calls),
            draft_forwards=len(draft.calls),
            tokens_processed=sum(n for _, n in target.calls),
            accepted_per_step=accepted_from_calls(target.calls, ids.shape[1], len(new)),
            layers_executed=layers * sum(n for _, n in target.calls),
            wall_s=time.perf_counter() - start,
        )
        return Generation(new, stats)


class PromptLookupConfig(TokenworksConfig):
    """HF prompt lookup decoding (`generate(prompt_lookup_num_tokens=...)`)."""

    num_tokens: int = Field(10, ge=1, le=128, description="prompt_lookup_num_tokens: tokens proposed per step")
    max_ngram_size: int = Field(2, ge=1, le=16, description="max_matching_ngram_size (HF default 2)")


class AssistedConfig(TokenworksConfig):
    """HF assisted generation with a smaller draft model of the same tokenizer."""

    draft_model: str = Field("code-lm-micro", description="zoo name or local path of the draft model")
    # None keeps the pinned transformers' own default (5.x: 20 tokens, "constant", confidence threshold 0.4)
    num_assistant_tokens: int | None = Field(None, ge=1, le=128)
    schedule: Literal["heuristic", "heuristic_transient", "constant"] | None = None


def prompt_lookup_decoder(model, tokenizer, cfg: PromptLookupConfig) -> HFGenerateDecoder:
    return HFGenerateDecoder(
        "prompt-lookup", model, tokenizer,
        prompt_lookup_num_tokens=cfg.num_tokens, max_matching_ngram_size=cfg.max_ngram_size,
    )


def assisted_decoder(model, tokenizer, cfg: AssistedConfig, draft_model=None) -> HFGenerateDecoder:
    """`draft_model`: an already loaded module (tests); otherwise `cfg.draft_model` is loaded from the zoo."""
    if draft_model is None:
        from tokenworks.zoo import load_lm

        draft_model, _ = load_lm(cfg.draft_model)
        draft_model = draft_model.to(model.device).eval()
    # HF reads the draft length and its schedule from the assistant's generation config
    if cfg.num_assistant_tokens is not None:
        draft_model.generation_config.num_assistant_tokens = cfg.num_assistant_tokens
    if cfg.schedule is not None:
        draft_model.generation_config.num_assistant_tokens_schedule = cfg.schedule
    return HFGenerateDecoder("assisted", model, tokenizer, draft_model=draft_model)
