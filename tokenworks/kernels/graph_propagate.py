"""GTP-ViT's graph propagation as a sparse weighted scatter: one Triton kernel beside its PyTorch reference.

Each propagated (removed) token p sends its features to its kept neighbours k on the token graph:

    out[b, k, :] = x_kept[b, k, :] + alpha * sum_p W[b, k, p] * x_prop[b, p, :]

The official code does this as a dense (T-P) x P matmul. The graph is sparse (8 spatial + K semantic
neighbours), so here each propagated token carries an ELL list of its kept neighbours: `nbr[b, p, j]` (an
index into the kept tokens, -1 = padding) with weight `w[b, p, j]` = W[b, nbr, p]. The kernel runs one
program per (batch, propagated token, channel block) and scatters with atomic adds; the token scales are
propagated by the same call when the caller appends them to the features as a last channel.

Worked example: x_kept = [[1], [2]], x_prop = [[10]], nbr = [[1, -1]], w = [[0.5, 0]], alpha = 0.1
-> out = [[1], [2 + 0.1 * 0.5 * 10]] = [[1], [2.5]].
"""

from __future__ import annotations

import functools

import torch

try:  # triton is a dependency, but keep the reference usable without it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover
    triton = None


def propagation_lists(weight_kp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense W [B, K, P] (rows kept, columns propagated) -> ELL (nbr [B, P, D] long, w [B, P, D]); D = the
    largest number of kept neighbours of any propagated token (at least 1)."""
    columns = weight_kp.transpose(1, 2)                                  # [B, P, K]
    degree = int((columns != 0).sum(-1).max()) if columns.numel() else 0
    w, nbr = columns.topk(max(degree, 1), dim=-1)                        # weights are >= 0
    nbr = torch.where(w != 0, nbr, torch.full_like(nbr, -1))
    return nbr, w


def graph_propagate_reference(
    x_kept: torch.Tensor,   # [B, K, C] kept tokens
    x_prop: torch.Tensor,   # [B, P, C] propagated tokens
    nbr: torch.Tensor,      # [B, P, D] long: kept-token index of each neighbour, -1 = padding
    w: torch.Tensor,        # [B, P, D] edge weights
    alpha: float,
) -> torch.Tensor:
    """-> [B, K, C] = x_kept + alpha * scatter of w * x_prop onto the neighbours (index_add)."""
    B, K, C = x_kept.shape
    valid = nbr >= 0
    rows = (torch.arange(B, device=nbr.device)[:, None, None] * K + nbr.clamp(min=0))[valid]   # [E]
    messages = (alpha * w[..., None] * x_prop[:, :, None, :])[valid]                         # [E, C]
    return x_kept.reshape(B * K, C).index_add(0, rows, messages.to(x_kept.dtype)).reshape(B, K, C)


@functools.cache
def _kernel():
    """The jitted kernel, built on first use so that TRITON_INTERPRET is read when a test has set it."""

    @triton.jit
    def _graph_scatter_kernel(
        out_ptr, prop_ptr, nbr_ptr, w_ptr, alpha,
        num_prop, num_kept, channels, degree,
        BLOCK_C: tl.constexpr,
    ):
        row = tl.program_id(0)                  # b * num_prop + p
        cblock = tl.program_id(1)
        b = row // num_prop
        c = cblock * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = c < channels
        message = tl.load(prop_ptr + row * channels + c, mask=cmask, other=0.0) * alpha
        for j in range(0, degree):
            k = tl.load(nbr_ptr + row * degree + j)
            weight = tl.load(w_ptr + row * degree + j)
            target = out_ptr + (b * num_kept + tl.maximum(k, 0)) * channels + c
            live = (tl.zeros([BLOCK_C], dtype=tl.int32) + k) >= 0     # padding slots write nothing
            tl.atomic_add(target, message * weight, mask=cmask & live)

    return _graph_scatter_kernel


def graph_propagate_triton(x_kept, x_prop, nbr, w, alpha: float) -> torch.Tensor:
    """Same contract as `graph_propagate_reference` (fp32); runs on CUDA or under TRITON_INTERPRET=1."""
    B, K, C = x_kept.shape
    P, D = nbr.shape[1], nbr.shape[2]
    out = x_kept.float().contiguous().clone()
    if P == 0 or D == 0:
        return out.to(x_kept.dtype)
    block_c = min(triton.next_power_of_2(max(C, 16)), 256)
    grid = (B * P, triton.cdiv(C, block_c))
    _kernel()[grid](
        out, x_prop.float().contiguous(), nbr.to(torch.int32).contiguous(), w.float().contiguous(), float(alpha),
        P, K, C, D, BLOCK_C=block_c,
    )
    return out.to(x_kept.dtype)


def graph_propagate(x_kept, x_prop, weight_kp, alpha: float, use_kernel: bool) -> torch.Tensor:
    """x_kept + alpha * W x_prop: the dense matmul of the official code on CPU, the sparse kernel on CUDA.
    weight_kp [B, K, P]."""
    if use_kernel:
        nbr, w = propagation_lists(weight_kp)
        return graph_propagate_triton(x_kept, x_prop, nbr, w, alpha)
    return x_kept + alpha * (weight_kp @ x_prop)


def kernel_available(device: torch.device) -> bool:
    """The method picks the kernel on CUDA and the dense reference elsewhere."""
    return triton is not None and device.type == "cuda"
