"""The acceptance walk of tree verification: which root-to-leaf path matches the target's greedy choices
for longest, as one fused kernel beside its PyTorch reference.

Given the tree's tokens and the target's argmax at every node, path p accepts its leading run of nodes
whose token equals the target's prediction at their parent:

    reward[p] = #{leading i : tokens[child[p, i]] == preds[parent[p, i]]}   (a padded slot, -1, never matches)
    best      = first p with the largest reward

Worked example: tokens [r, a, b, c], preds [a, x, y, z], child = [[1, 2], [3, -1]], parent = [[0, 1], [0, -1]]
-> path 0: tokens[1]=a == preds[0]=a, tokens[2]=b != preds[1]=x -> reward 1; path 1: c != a -> 0; best = 0.

In PyTorch this is five small ops (two gathers, eq, cumprod, argmax); the kernel does it in one launch with
no intermediate tensors, which is what matters on a GPU where each op is a launch.
"""

from __future__ import annotations

import functools

import torch

try:  # triton is a dependency, but keep the reference usable without it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover
    triton = None


def tree_accept_reference(
    tokens: torch.Tensor,   # [N] long: tree tokens, root first
    preds: torch.Tensor,    # [N] long: target argmax at each node
    child: torch.Tensor,    # [P, L] long: node index of the i-th draft of path p, -1 = padding
    parent: torch.Tensor,   # [P, L] long: node index of its parent (the root for i = 0)
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (reward [P] long, best [] long)."""
    valid = child >= 0
    match = (tokens[child.clamp(min=0)] == preds[parent.clamp(min=0)]) & valid  # [P, L]
    reward = match.long().cumprod(dim=1).sum(dim=1)  # leading run of matches
    return reward, reward.argmax()


@functools.cache
def _kernel():
    """The jitted kernel, built on first use so that TRITON_INTERPRET is read when a test has set it."""

    @triton.jit
    def _tree_accept_kernel(
        tokens_ptr, preds_ptr, child_ptr, parent_ptr, reward_ptr, best_ptr,
        num_paths, path_len,
        BLOCK_P: tl.constexpr, BLOCK_L: tl.constexpr,
    ):
        # one program: a tree has at most a few hundred paths, so the whole [P, L] tile fits in registers
        p = tl.arange(0, BLOCK_P)[:, None]  # [BLOCK_P, 1]
        i = tl.arange(0, BLOCK_L)[None, :]  # [1, BLOCK_L]
        inside = (p < num_paths) & (i < path_len)
        offs = p * path_len + i
        child = tl.load(child_ptr + offs, mask=inside, other=-1)
        parent = tl.load(parent_ptr + offs, mask=inside, other=0)
        valid = child >= 0
        tok = tl.load(tokens_ptr + tl.where(valid, child, 0), mask=valid, other=-1)
        pred = tl.load(preds_ptr + tl.where(valid, parent, 0), mask=valid, other=-2)
        match = valid & (tok == pred)
        # leading run of matches = index of the first mismatch (path_len if none)
        first_miss = tl.min(tl.where(match, BLOCK_L, i), axis=1)  # [BLOCK_P]
        reward = tl.minimum(first_miss, path_len)
        pidx = tl.arange(0, BLOCK_P)
        tl.store(reward_ptr + pidx, reward.to(tl.int64), mask=pidx < num_paths)
        # first path with the largest reward (padding rows score -1 so they never win)
        score = tl.where(pidx < num_paths, reward, -1)
        top = tl.max(score, axis=0)
        best = tl.min(tl.where(score == top, pidx, BLOCK_P), axis=0)
        tl.store(best_ptr, best.to(tl.int64))

    return _tree_accept_kernel


def tree_accept_triton(tokens, preds, child, parent) -> tuple[torch.Tensor, torch.Tensor]:
    """Same contract as `tree_accept_reference`; runs on CUDA or under TRITON_INTERPRET=1."""
    num_paths, path_len = child.shape
    reward = torch.empty(num_paths, dtype=torch.long, device=tokens.device)
    best = torch.empty((), dtype=torch.long, device=tokens.device)
    _kernel()[(1,)](
        tokens.contiguous(), preds.contiguous(), child.contiguous(), parent.contiguous(), reward, best,
        num_paths, path_len,
        BLOCK_P=triton.next_power_of_2(max(num_paths, 2)), BLOCK_L=triton.next_power_of_2(max(path_len, 2)),
    )
    return reward, best


def tree_accept(tokens, preds, child, parent, use_kernel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if use_kernel:
        return tree_accept_triton(tokens, preds, child, parent)
    return tree_accept_reference(tokens, preds, child, parent)


def kernel_available(device: torch.device) -> bool:
    """The method picks the kernel on CUDA and the reference elsewhere."""
    return triton is not None and device.type == "cuda"
