"""Token Recycling (Luo et al., arXiv 2408.08696) as a Decoder: greedy, lossless, no draft model.

One step: fill the static draft tree from the adjacency matrix, verify the whole tree in one target forward
with a tree attention mask, keep the longest path whose drafts match the target's argmax (plus the bonus
token), compact the KV cache to that path, and recycle the top-k of every tree position into the matrix.
The prompt is prefilled up to its last token, which becomes the first root (as in the official code).
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from tokenworks.kernels.tree_accept import kernel_available, tree_accept
from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.methods.decoding.forward import (
    as_prompt_tensor, check_tree_mask_support, eos_token_ids, new_cache, prefill, tree_forward,
)
from tokenworks.methods.decoding.greedy import check_max_new_tokens, truncate_generation
from tokenworks.methods.decoding.token_recycling.algorithm import fill_tree, recycle, tree_index, tree_step_inputs
from tokenworks.methods.decoding.token_recycling.config import TokenRecyclingConfig
from tokenworks.methods.decoding.token_recycling.templates import resolve_template
from tokenworks.methods.decoding.tree import compact_kv_cache


class TokenRecyclingDecoder:
    name = "token-recycling"

    def __init__(self, model, tokenizer=None, cfg: TokenRecyclingConfig | None = None):
        check_tree_mask_support(model)
        self.model, self.cfg = model, cfg or TokenRecyclingConfig()
        self.eos = eos_token_ids(model, tokenizer)
        self.num_layers = model.config.num_hidden_layers
        vocab = model.get_output_embeddings().weight.shape[0]
        self.adjacency = torch.zeros(vocab, self.cfg.topk, dtype=torch.long, device=model.device)  # [V, k]
        self.index = tree_index(resolve_template(self.cfg.tree), model.device, model.dtype)
        use = self.cfg.kernel
        self.use_kernel = use == "triton" or (use == "auto" and kernel_available(model.device))

    # --- the matrix state (hot start): reset / snapshot / restore / warm ---------------------------------
    def reset(self) -> None:
        self.adjacency.zero_()

    def snapshot(self) -> torch.Tensor:
        return self.adjacency.clone()

    def restore(self, state: torch.Tensor) -> None:
        self.adjacency.copy_(state)

    def warm(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> None:
        """Serve `prompts` to fill the matrix (hot start) without returning anything."""
        for ids in prompts:
            self.decode(ids, max_new_tokens)

    # --- decoding ---------------------------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation:
        check_max_new_tokens(max_new_tokens)
        start = time.perf_counter()
        ids = as_prompt_tensor(prompt_ids, self.model.device)  # [1, T]
        if max_new_tokens == 0:
            return Generation([], DecodeStats(wall_s=time.perf_counter() - start))
        if self.cfg.persist != "global":
            self.reset()
        cache, stats = new_cache(self.model), DecodeStats()
        prefix_len = ids.shape[1] - 1
        if prefix_len:
            logits = prefill(self.model, ids[:, :-1], cache, all_logits=self.cfg.update_from_prefill)
            if self.cfg.update_from_prefill:
                recycle(self.adjacency, ids[0, :-1], logits[0])
            stats.target_forwards, stats.tokens_processed = 1, prefix_len
        root, out = ids[0, -1:], []  # root [1]: the newest token, not yet in the cache
        while len(out) < max_new_tokens:
            emitted, root, accepted = self._step(root, cache, prefix_len)
            prefix_len += accepted + 1
            out.extend(emitted)
            stats.accepted_per_step.append(accepted)
            stats.target_forwards += 1
            stats.tokens_processed += self.index.depths.shape[0]
            if self.eos.intersection(emitted):
                break
        out = truncate_generation(out, self.eos, max_new_tokens)
        return Generation(out, self._finish(stats, len(out), start))

    def _step(self, root: torch.Tensor, cache, prefix_len: int) -> tuple[list[int], torch.Tensor, int]:
        """One draft-verify-recycle step -> (emitted ids: accepted drafts + bonus, next root [1], #accepted)."""
        tokens = fill_tree(self.adjacency, root, self.index)  # [N+1]
        bias, positions = tree_step_inputs(self.index, prefix_len)
        logits = tree_forward(self.model, tokens[None], cache, bias, positions)  # [N+1, V]
        preds = logits.argmax(dim=-1)  # [N+1]
        reward, best = tree_accept(tokens, preds, self.index.child, self.index.parent, self.use_kernel)
        accepted = int(reward[best])  # host sync 1 of 2 per step (the other: .tolist() below)
        keep = self.index.tree.paths[best, : accepted + 1]  # [A+1] node indices, root first
        compact_kv_cache(cache, prefix_len, keep, in_place=accepted == 0)
        bonus = preds[keep[-1:]]  # [1]
        if self.cfg.persist == "none":
            self.reset()
        recycle(self.adjacency, tokens, logits)
        return torch.cat([tokens[keep[1:]], bonus]).tolist(), bonus, accepted

    def _finish(self, stats: DecodeStats, n: int, start: float) -> DecodeStats:
        # the last step may be cut by EOS / max_new_tokens: count only the drafts that were kept
        surplus = sum(stats.accepted_per_step) + len(stats.accepted_per_step) - n
        if stats.accepted_per_step and surplus > 0:
            stats.accepted_per_step[-1] = max(0, stats.accepted_per_step[-1] - surplus)
        stats.new_tokens = n
        stats.layers_executed = self.num_layers * stats.tokens_processed
        stats.wall_s = time.perf_counter() - start
        return stats

