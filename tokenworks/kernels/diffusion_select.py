"""Per-step selection of diffusion-LM decoding, as one fused kernel beside its PyTorch reference.

Over the n positions of the current block, given the model's logits:

    x0[i]     = argmax_v logits[i, v]                       (first index on ties)
    conf[i]   = softmax(logits[i])[x0[i]] = 1 / sum_v exp(logits[i, v] - max_v logits[i, v])
                for masked positions, -inf elsewhere
    top1      = the first masked position of largest conf   (always committed: guarantees progress)
    anchor[i] = masked[i] & conf[i] >= threshold
    near[i]   = any anchor j with |i - j| <= radius         (the anchors' neighbourhood, LocalLeap)
    commit[i] = masked[i] & (conf[i] >= threshold | near[i] & conf[i] >= relaxed_threshold | i == top1)

threshold = +inf gives LLaDA's one-token-per-step low-confidence rule; radius 0 (or relaxed >= threshold)
gives Fast-dLLM's threshold rule; the full rule is LocalLeap's anchors with relaxed commitment around them.

Worked example: conf [0.95, 0.8, 0.7, 0.85] (all masked), threshold 0.9, relaxed 0.75, radius 1 -> anchor
{0}, near {0, 1}, commit {0 (anchor, top1), 1 (0.8 >= 0.75 next to the anchor)}; 2 is below the relaxed
threshold, 3 is 0.85 < 0.9 and not near an anchor, so both wait.

In PyTorch this is a float softmax over [n, V], a max, comparisons and a 1-D max-pool (a dozen launches);
the kernel streams the logits once with an online max/sum-exp (as FlashAttention's softmax) and does the
rest in registers.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

try:  # triton is a dependency, but keep the reference usable without it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover
    triton = None


def select_reference(
    logits: torch.Tensor,        # [n, V] float: the block's logits
    masked: torch.Tensor,        # [n] bool: still masked
    threshold: float,
    relaxed_threshold: float,
    radius: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (conf [n] float32, -inf where not masked; x0 [n] long; commit [n] bool)."""
    logits = logits.float()
    top = logits.max(dim=-1)
    x0 = top.indices
    conf = 1.0 / torch.exp(logits - top.values[:, None]).sum(dim=-1)
    conf = torch.where(masked, conf, torch.full_like(conf, float("-inf")))
    anchor = masked & (conf >= threshold)
    near = anchor
    if radius > 0:
        near = F.max_pool1d(anchor.float()[None, None], 2 * radius + 1, stride=1, padding=radius)[0, 0] > 0
    commit = masked & ((conf >= threshold) | (near & (conf >= relaxed_threshold)))
    if bool(masked.any()):
        top1 = int(torch.nonzero(conf == conf.max())[0])
        commit[top1] = True
    return conf, x0, commit


@functools.cache
def _kernel():
    """The jitted kernel, built on first use so that TRITON_INTERPRET is read when a test has set it."""

    @triton.jit
    def _select_kernel(
        logits_ptr, masked_ptr, conf_ptr, x0_ptr, commit_ptr,
        n, vocab, stride, threshold, relaxed, radius,
        BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr,
    ):
        # one program: a block has at most a few hundred positions, so [BLOCK_N] vectors fit in registers
        rows = tl.arange(0, BLOCK_N)
        inside = rows < n
        run_max = tl.full([BLOCK_N], float("-inf"), tl.float32)
        run_sum = tl.zeros([BLOCK_N], tl.float32)
        run_arg = tl.zeros([BLOCK_N], tl.int32)
        for v0 in range(0, vocab, BLOCK_V):
            cols = v0 + tl.arange(0, BLOCK_V)
            tile = tl.load(logits_ptr + rows[:, None] * stride + cols[None, :],
                           mask=inside[:, None] & (cols[None, :] < vocab), other=float("-inf")).to(tl.float32)
            tile_max = tl.max(tile, axis=1)
            # first column reaching the tile max; a later tile only wins on a strictly larger value
            tile_arg = tl.min(tl.where(tile == tile_max[:, None], cols[None, :], vocab + BLOCK_V), axis=1)
            new_max = tl.maximum(run_max, tile_max)
            run_arg = tl.where(tile_max > run_max, tile_arg, run_arg)
            # while a row has seen only -inf (padding rows, a tile of ruled-out tokens) shift by 0, not -inf:
            # exp(-inf - -inf) would be nan
            shift = tl.where(new_max == float("-inf"), 0.0, new_max)
            run_sum = run_sum * tl.exp(run_max - shift) + tl.sum(tl.exp(tile - shift[:, None]), axis=1)
            run_max = new_max
        is_masked = tl.load(masked_ptr + rows, mask=inside, other=0) != 0
        conf = tl.where(is_masked, 1.0 / tl.maximum(run_sum, 1.0), float("-inf"))   # run_sum >= 1 on real rows
        anchor = is_masked & (conf >= threshold)
        # dilation of the anchor set by `radius`: near[i] = any anchor j with |i - j| <= radius
        dist = tl.abs(rows[:, None] - rows[None, :])
        near = tl.max(tl.where(anchor[None, :] & (dist <= radius), 1, 0), axis=1) > 0
        commit = is_masked & ((conf >= threshold) | (near & (conf >= relaxed)))
        best = tl.max(conf, axis=0)
        top1 = tl.min(tl.where(is_masked & (conf == best), rows, BLOCK_N), axis=0)
        commit = commit | (rows == top1)
        tl.store(conf_ptr + rows, conf, mask=inside)
        tl.store(x0_ptr + rows, run_arg.to(tl.int64), mask=inside)
        tl.store(commit_ptr + rows, commit.to(tl.int8), mask=inside)

    return _select_kernel


def select_triton(logits, masked, threshold: float, relaxed_threshold: float, radius: int):
    """Same contract as `select_reference`; runs on CUDA or under TRITON_INTERPRET=1."""
    n, vocab = logits.shape
    logits = logits.contiguous()
    conf = torch.empty(n, dtype=torch.float32, device=logits.device)
    x0 = torch.empty(n, dtype=torch.long, device=logits.device)
    commit = torch.empty(n, dtype=torch.int8, device=logits.device)
    _kernel()[(1,)](
        logits, masked.to(torch.int8).contiguous(), conf, x0, commit,
        n, vocab, logits.stride(0), float(min(threshold, 3.0e38)), float(min(relaxed_threshold, 3.0e38)),
        int(radius),
        BLOCK_N=triton.next_power_of_2(max(n, 2)), BLOCK_V=min(triton.next_power_of_2(max(vocab, 2)), 1024),
    )
    return conf, x0, commit.bool()


def select(logits, masked, threshold: float, relaxed_threshold: float, radius: int, use_kernel: bool):
    if use_kernel:
        return select_triton(logits, masked, threshold, relaxed_threshold, radius)
    return select_reference(logits, masked, threshold, relaxed_threshold, radius)


def kernel_available(device: torch.device) -> bool:
    """The method picks the kernel on CUDA and the reference elsewhere."""
    return triton is not None and device.type == "cuda"
