"""One semi-autoregressive block decode loop for masked-diffusion LMs; methods are the injected policies.

    x = prompt + [MASK] * gen_length
    for each block of `block_length` positions, left to right:
        while the block has masks:
            logits = forward.logits(x, block)          # CachePolicy: what is fed, what is reused
            x0, commit = commit_policy.choose(logits)  # CommitPolicy: which masked positions to unmask
            x[commit] = x0[commit]

Guided diffusion (FreeCache paper, §5.2 of the research notes) swaps the commit step for an AR guide's
verification of the diffusion model's drafts (`guided_decode`); its loop is the same block loop.
Glossary: NFE = one model call of any kind (Fast-dLLM's count); a *step* = one NFE of the diffusion model;
tokens per forward (TPF) = generated tokens / NFE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from tokenworks.errors import UserError
from tokenworks.kernels.diffusion_select import kernel_available
from tokenworks.methods.diffusion.forward import BlockForward
from tokenworks.methods.diffusion.model import MaskedTransformer, concat_kv
from tokenworks.methods.diffusion.policies import CachePolicy, CommitPolicy


@dataclass
class DiffusionStats:
    gen_length: int = 0
    nfe: dict[str, int] = field(default_factory=dict)   # diffusion-model calls by type: full / prefix / dual
    guide_nfe: int = 0                                  # AR guide (or AR model) forwards
    tokens_fed: int = 0                                 # positions fed through the diffusion model, all calls
    committed_per_step: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def dlm_nfe(self) -> int:
        return sum(self.nfe.values())

    @property
    def total_nfe(self) -> int:
        return self.dlm_nfe + self.guide_nfe

    def as_dict(self) -> dict:
        return {"gen_length": self.gen_length, **{f"nfe_{k}": v for k, v in self.nfe.items()},
                "dlm_nfe": self.dlm_nfe, "guide_nfe": self.guide_nfe, "total_nfe": self.total_nfe,
                "tokens_fed": self.tokens_fed, "wall_s": self.wall_s}


@dataclass
class DiffusionGeneration:
    ids: list[int]          # the generated region (gen_length ids; for AR: up to and including EOS)
    stats: DiffusionStats


def _check(model: MaskedTransformer, prompt_len: int, gen_length: int, block_length: int) -> None:
    if gen_length < 1 or block_length < 1:
        raise UserError(f"gen_length={gen_length} and block_length={block_length} must be >= 1.")
    if prompt_len + gen_length > model.cfg.context:
        raise UserError(f"prompt ({prompt_len}) + gen_length ({gen_length}) exceeds the model's context "
                        f"{model.cfg.context}.")


def _no_mask(logits: torch.Tensor, mask_id: int) -> torch.Tensor:
    """[n, V] logits with the mask token ruled out: committing [MASK] would leave the position masked."""
    logits = logits.clone()
    logits[:, mask_id] = float("-inf")
    return logits


@torch.no_grad()
def diffusion_decode(
    model: MaskedTransformer,
    prompt: list[int],
    gen_length: int,
    block_length: int,
    commit: CommitPolicy,
    cache: CachePolicy = CachePolicy(),
    mask_id: int = 1,
    use_kernel: bool | None = None,
) -> DiffusionGeneration:
    """Decode `gen_length` positions after `prompt` with the given policies."""
    _check(model, len(prompt), gen_length, block_length)
    device = next(model.parameters()).device
    use_kernel = kernel_available(device) if use_kernel is None else use_kernel
    started = time.perf_counter()
    x = torch.tensor(prompt + [mask_id] * gen_length, device=device)
    forward = BlockForward(model, cache)
    stats = DiffusionStats(gen_length=gen_length)
    for lo in range(len(prompt), len(x), block_length):
        hi = min(lo + block_length, len(x))
        while bool((x[lo:hi] == mask_id).any()):
            masked = x[lo:hi] == mask_id
            x0, chosen = commit.choose(_no_mask(forward.logits(x, lo, hi), mask_id), masked, use_kernel)
            x[lo:hi] = torch.where(chosen, x0, x[lo:hi])
            stats.committed_per_step.append(int(chosen.sum()))
    stats.nfe, stats.tokens_fed = dict(forward.nfe), forward.tokens_fed
    stats.wall_s = time.perf_counter() - started
    return DiffusionGeneration(x[len(prompt):].tolist(), stats)


class ARGuide:
    """A causal model with its own KV cache over the committed sequence: greedy predictions for a chunk."""

    def __init__(self, model: MaskedTransformer):
        if not model.cfg.causal:
            raise UserError("the guide must be an autoregressive (causal) model.")
        self.model, self.cache, self.seen, self.forwards = model, None, 0, 0

    def predict(self, sequence: list[int], drafts: list[int]) -> torch.Tensor:
        """sequence = everything committed so far; returns [len(drafts) + 1, V] next-token logits after
        sequence[-1], d_1, ..., d_k. The cache covers sequence[:-1] once `accept` is called."""
        device = next(self.model.parameters()).device
        fed = torch.tensor(sequence[self.seen:] + drafts, device=device)
        logits, kv = self.model(fed[None], start=self.seen, kv_before=self.cache)
        self.forwards += 1
        self._fresh, self._base = kv, len(sequence) - self.seen
        return logits[0, self._base - 1:]

    def accept(self, accepted: int) -> None:
        """Keep KV for the committed sequence plus the accepted drafts (the new last token is not fed yet)."""
        keep = self._base - 1 + accepted + 1   # fed positions now committed, bar the last committed token
        keep = min(keep, self._fresh[0][0].shape[2])
        self.cache = concat_kv(self.cache, [(k[:, :, :keep], v[:, :, :keep]) for k, v in self._fresh])
        self.seen += keep


def accepted_prefix(drafts: list[int], guide_logits: torch.Tensor, rule: str, top_k: int) -> tuple[int, int]:
    """-> (number of leading drafts accepted, the guide's token after them). guide_logits [k+1, V]."""
    greedy = guide_logits.argmax(-1)
    n = 0
    for i, d in enumerate(drafts):
        ok = d == int(greedy[i]) if rule == "deterministic" else d in guide_logits[i].topk(top_k).indices.tolist()
        if not ok:
            break
        n += 1
    return n, int(greedy[n])


ACCEPT_RULES = ("deterministic", "topk")


@torch.no_grad()
def guided_decode(
    model: MaskedTransformer,
    guide: MaskedTransformer,
    prompt: list[int],
    gen_length: int,
    block_length: int,
    cache: CachePolicy = CachePolicy("freecache"),
    rule: str = "deterministic",
    top_k: int = 5,
    mask_id: int = 1,
    eos_id: int = 2,
) -> DiffusionGeneration:
    """Guided diffusion: each step, one diffusion call drafts every masked position of the block (argmax),
    one AR-guide call verifies them left to right; the accepted drafts plus the guide's own next token are
    committed. With rule 'deterministic' every committed token is the guide's greedy choice, so the output is
    the guide's greedy output: report the guide's own accuracy beside it. An EOS ends the generation (the
    rest is filled with EOS, as the AR model stops there)."""
    if rule not in ACCEPT_RULES:
        raise UserError(f"guided rule={rule!r} is not allowed; allowed: {', '.join(ACCEPT_RULES)}.")
    _check(model, len(prompt), gen_length, block_length)
    device = next(model.parameters()).device
    started = time.perf_counter()
    x = torch.tensor(prompt + [mask_id] * gen_length, device=device)
    forward, verifier = BlockForward(model, cache), ARGuide(guide)
    stats = DiffusionStats(gen_length=gen_length)
    done = len(prompt)   # first masked position: guided commits left to right
    for lo in range(len(prompt), len(x), block_length):
        hi = min(lo + block_length, len(x))
        while done < hi:
            drafts = _no_mask(forward.logits(x, lo, hi)[done - lo:], mask_id).argmax(-1).tolist()
            n, bonus = accepted_prefix(drafts, verifier.predict(x[:done].tolist(), drafts), rule, top_k)
            new = (drafts[:n] + [bonus])[: len(x) - done]
            verifier.accept(n)
            x[done:done + len(new)] = torch.tensor(new, device=device)
            stats.committed_per_step.append(len(new))
            done += len(new)
            if eos_id in new:
                x[done - len(new) + new.index(eos_id):] = eos_id
                done = len(x)
        if done >= len(x):
            break
    stats.nfe, stats.tokens_fed, stats.guide_nfe = dict(forward.nfe), forward.tokens_fed, verifier.forwards
    stats.wall_s = time.perf_counter() - started
    return DiffusionGeneration(x[len(prompt):].tolist(), stats)


@torch.no_grad()
def ar_greedy(model: MaskedTransformer, prompt: list[int], max_new_tokens: int, eos_id: int = 2
              ) -> DiffusionGeneration:
    """Plain greedy decoding with a KV cache: the prefill's forward gives the first token, then one forward
    per token, stopping after EOS. NFE (counted as guide_nfe) = forwards."""
    started = time.perf_counter()
    device = next(model.parameters()).device
    stats = DiffusionStats(gen_length=max_new_tokens)
    logits, cache = model(torch.tensor(prompt, device=device)[None])
    out: list[int] = []
    stats.guide_nfe = 1
    while True:
        token = int(logits[0, -1].argmax())
        out.append(token)
        if token == eos_id or len(out) >= max_new_tokens:
            break
        logits, kv = model(torch.tensor([[token]], device=device), start=len(prompt) + len(out) - 1,
                           kv_before=cache)
        cache = concat_kv(cache, kv)
        stats.guide_nfe += 1
    stats.wall_s = time.perf_counter() - started
    return DiffusionGeneration(out, stats)
