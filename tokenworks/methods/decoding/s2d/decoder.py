"""S2D decoding: lossless greedy speculative decoding of one target with one sorted draft, whose exit (the
sub-model that drafts) is chosen at run time from the acceptance it earns *for this target*.

Exit choice (the multi-target idea of S2D, arXiv 2407.01955; the official code switches exits per token by
confidence thresholds, here the choice is per verify step from acceptance, see README): each exit e keeps
its drafted and accepted counts for this target; its acceptance rate a_e = (accepted + 1) / (drafted + 2);
with draft length k a verify step is expected to emit (1 - a^(k+1)) / (1 - a) tokens and to cost
`target_cost + k * draft_cost[e]` (seconds per forward, measured once when the decoder is built). Every
exit first drafts `explore_steps` verify steps; then the exit with the most expected tokens per second
drafts. The counts live on the decoder, so the choice carries across requests (one decoder per target).

Draft length: HF assisted generation's "heuristic" schedule, as the official code uses: start at
`draft_len`, +2 after a step whose drafts were all accepted, -1 (not below 1) otherwise.

Caches: the target's cache holds every committed token but the last; each exit has its own draft cache,
cropped to the accepted prefix after a step and lazily caught up (one forward over the missing committed
tokens) the next time that exit drafts. Verification is greedy: accept drafts while they equal the target's
argmax, then take the target's token (the bonus), so the output is the target's greedy output.
"""

from __future__ import annotations

import statistics
import time
from typing import Sequence

import torch

from tokenworks.methods.decoding.base import DecodeStats, Generation
from tokenworks.methods.decoding.forward import as_prompt_tensor, eos_token_ids, new_cache, prefill
from tokenworks.methods.decoding.greedy import check_max_new_tokens, truncate_generation
from tokenworks.methods.decoding.s2d.config import S2DConfig
from tokenworks.methods.decoding.s2d.sorted_model import check_exits, sub_model


MAX_DRAFT_LEN = 64  # the heuristic schedule grows by 2 per fully accepted step; a cap keeps verify chunks sane


@torch.inference_mode()
def forward_seconds(model, repeats: int = 5, context: int = 16) -> float:
    """Median wall seconds of one single-token forward after a `context`-token prefill (the decode cost)."""
    cache = new_cache(model)
    prefill(model, torch.zeros(1, context, dtype=torch.long, device=model.device), cache)
    times = []
    token = torch.zeros(1, 1, dtype=torch.long, device=model.device)
    for _ in range(repeats + 1):  # the first call warms up and is dropped
        start = time.perf_counter()
        model(input_ids=token, past_key_values=cache, use_cache=True)
        times.append(time.perf_counter() - start)
        crop_to(cache, context)
    return statistics.median(times[1:])


def crop_to(cache, length: int) -> None:
    """Keep the first `length` positions of a DynamicCache (negative crop: the non-deprecated form)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def expected_tokens(accept_rate: float, k: int) -> float:
    """Tokens a verify step emits (bonus included) when each draft is accepted with probability a."""
    a = min(accept_rate, 1.0 - 1e-9)
    return (1.0 - a ** (k + 1)) / (1.0 - a)


class S2DDecoder:
    name = "s2d"

    def __init__(self, target, draft, tokenizer=None, cfg: S2DConfig | None = None,
                 costs: dict[str, float] | None = None):
        self.cfg = cfg or S2DConfig()
        self.target = target
        exits = tuple(self.cfg.exits) or tuple(range(1, draft.config.num_hidden_layers + 1))
        self.exits = check_exits(exits, draft.config.num_hidden_layers)
        if self.cfg.exit_layer:
            self.exits = check_exits((self.cfg.exit_layer,), draft.config.num_hidden_layers)
        self.drafts = {e: sub_model(draft, e) for e in self.exits}
        self.eos = eos_token_ids(target, tokenizer)
        # seconds per single-token forward: "target" and one per exit; measured unless given (tests pin them)
        self.costs = costs or {"target": forward_seconds(target),
                               **{str(e): forward_seconds(m) for e, m in self.drafts.items()}}
        self.drafted = {e: 0 for e in self.exits}
        self.accepted = {e: 0 for e in self.exits}
        self.steps = {e: 0 for e in self.exits}

    # --- exit choice ----------------------------------------------------------------------------------
    def accept_rate(self, exit_layer: int) -> float:
        return (self.accepted[exit_layer] + 1) / (self.drafted[exit_layer] + 2)

    def tokens_per_second(self, exit_layer: int, k: int) -> float:
        cost = self.costs["target"] + k * self.costs[str(exit_layer)]
        return expected_tokens(self.accept_rate(exit_layer), k) / cost

    def choose_exit(self, k: int) -> int:
        unexplored = [e for e in self.exits if self.steps[e] < self.cfg.explore_steps]
        if unexplored:
            return unexplored[0]
        return max(self.exits, key=lambda e: self.tokens_per_second(e, k))

    def best_exit(self) -> int:
        return max(self.exits, key=lambda e: self.tokens_per_second(e, self.cfg.draft_len))

    # --- decoding -------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _draft(self, exit_layer: int, cache, cached: int, committed: list[int], k: int) -> tuple[list[int], int]:
        """k greedy draft tokens from sub-model `exit_layer`; its cache catches up on committed[cached:]."""
        model = self.drafts[exit_layer]
        feed = torch.tensor([committed[cached:]], device=model.device)  # [1, >= 1]
        drafts = []
        for _ in range(k):
            token = model(input_ids=feed, past_key_values=cache, use_cache=True).logits[0, -1].argmax()
            drafts.append(int(token))
            feed = token.view(1, 1)
        return drafts, len(drafts)

    @torch.inference_mode()
    def decode(self, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int) -> Generation:
        check_max_new_tokens(max_new_tokens)
        start = time.perf_counter()
        ids = as_prompt_tensor(prompt_ids, self.target.device)  # [1, T]
        if max_new_tokens == 0:
            return Generation([], DecodeStats(wall_s=time.perf_counter() - start))
        target_cache = new_cache(self.target)
        draft_caches = {e: new_cache(m) for e, m in self.drafts.items()}
        cached = {e: 0 for e in self.exits}  # committed tokens each draft cache holds
        committed = ids[0].tolist()
        out = [int(prefill(self.target, ids, target_cache)[0, -1].argmax())]
        committed.append(out[0])
        accepted_steps: list[int] = []
        exits_used: list[int] = []
        draft_forwards = 0
        tokens_processed = ids.shape[1]
        k = self.cfg.draft_len
        while len(out) < max_new_tokens and out[-1] not in self.eos:
            steps_k = min(k, max_new_tokens - len(out) - 1)
            exit_layer = self.choose_exit(k)
            drafts: list[int] = []
            if steps_k > 0:
                drafts, n = self._draft(exit_layer, draft_caches[exit_layer], cached[exit_layer], committed, steps_k)
                draft_forwards += n
            base = len(committed)  # target cache holds base - 1 tokens
            feed = torch.tensor([[committed[-1], *drafts]], device=self.target.device)  # [1, 1 + k]
            greedy = self.target(input_ids=feed, past_key_values=target_cache, use_cache=True).logits[0].argmax(-1)
            greedy = greedy.tolist()
            a = 0
            while a < len(drafts) and drafts[a] == greedy[a]:
                a += 1
            new = drafts[:a] + [greedy[a]]
            crop_to(target_cache, base + a)
            if drafts:
                # the draft cache holds committed + drafts[:-1]; keep what the accepted prefix validates
                cached[exit_layer] = base + min(a, len(drafts) - 1)
                crop_to(draft_caches[exit_layer], cached[exit_layer])
                self.drafted[exit_layer] += len(drafts)
                self.accepted[exit_layer] += a
                self.steps[exit_layer] += 1
                exits_used.append(exit_layer)
                k = min(k + 2, MAX_DRAFT_LEN) if a == len(drafts) else max(1, k - 1)
            accepted_steps.append(a)
            tokens_processed += feed.shape[1]
            out.extend(new)
            committed.extend(new)
            if any(t in self.eos for t in new):
                break
        out = truncate_generation(out, self.eos, max_new_tokens)
        stats = DecodeStats(
            new_tokens=len(out), target_forwards=1 + len(accepted_steps), draft_forwards=draft_forwards,
            tokens_processed=tokens_processed, accepted_per_step=accepted_steps,
            layers_executed=self.target.config.num_hidden_layers * tokens_processed,
            wall_s=time.perf_counter() - start, method_stats=self._method_stats(exits_used, draft_forwards),
        )
        return Generation(out, stats)

    def _method_stats(self, exits_used: list[int], draft_forwards: int) -> dict[str, float]:
        stats = {f"exit_{e}_steps": float(exits_used.count(e)) for e in self.exits}
        stats["exit_layer"] = float(statistics.mean(exits_used)) if exits_used else float(self.best_exit())
        stats["best_exit"] = float(self.best_exit())
        stats["draft_forwards"] = float(draft_forwards)
        return stats
