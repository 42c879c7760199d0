"""GTP-ViT (Xu et al., WACV 2024, arXiv 2311.03035): graph-based token propagation, as in the official
`models_v3.py` (Ackesnal/GTP-ViT), re-implemented.

Once per forward, on X0 (patch + positional embeddings, image tokens only), build a graph:
  - spatial: 8-neighbourhood on the patch grid (no self loop);
  - semantic: each token links to its K most cosine-similar tokens (kNN: >= the (K+1)-th largest of its row,
    self included, then the diagonal removed; not symmetric, ties may add edges);
  - mixed: logical OR of both;
  then symmetric normalisation A_hat = D^-1/2 A D^-1/2 (D = row sums). The graph is never rebuilt: after a
  layer it is sliced to the kept tokens, without renormalising.
In every block, after attention (before the MLP):
  - selection (MixedAttnMax, the paper's best): importance_i = max_h A_h[i, i] * max_h sum_q A_h[q, i] over
    image tokens (all queries, CLS included); the P least important tokens are propagated (removed);
  - propagation (GraphProp): x_kept += alpha * A_hat[kept, prop] x_prop; token sizes (start at 1, CLS fixed)
    s_kept += alpha * A_hat[kept, prop] s_prop; output [CLS, kept in importance order];
  - proportional attention (token_scale): logits + log s_key in the following blocks;
  - attention sparsity theta < 1: after softmax, per (image, head) zero every probability below the
    floor(T^2 (1 - theta))-th smallest, without renormalising (an accuracy knob: no MACs saved).
Other selection rules and propagation "none" (pure pruning) / "mean" (append the mean of the propagated
tokens; r + 1 go so the count stays on the schedule) are there for ablations. The orphan rate (propagated tokens with no kept neighbour, whose
information is lost) is recorded per layer instead of the official code's debug file.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch

from tokenworks.errors import UserError
from tokenworks.kernels.graph_propagate import graph_propagate, kernel_available
from tokenworks.methods.vision import macs
from tokenworks.methods.vision.reducers import TokenReducer, TokenState, gather_tokens

GRAPHS = ("mixed", "spatial", "semantic", "none")
PROPAGATIONS = ("graph", "mean", "none")


def _mixed_attn_max(probs: torch.Tensor) -> torch.Tensor:
    diag = probs.diagonal(dim1=-2, dim2=-1)[:, :, 1:].amax(dim=1)
    received = probs[:, :, :, 1:].sum(dim=-2).amax(dim=1)
    return diag * received


SELECTIONS = {   # probs [B, H, T, T] -> importance of image tokens [B, T-1]; the lowest are propagated
    "mixed_attn_max": _mixed_attn_max,
    "mixed_attn_mean": lambda p: p.diagonal(dim1=-2, dim2=-1)[:, :, 1:].mean(1) * p[:, :, :, 1:].sum(-2).mean(1),
    "sum_attn_max": lambda p: p.diagonal(dim1=-2, dim2=-1)[:, :, 1:].amax(1) + p[:, :, :, 1:].sum(-2).amax(1),
    "diag_attn_max": lambda p: p.diagonal(dim1=-2, dim2=-1)[:, :, 1:].amax(1),
    "img_attn_max": lambda p: p[:, :, :, 1:].sum(-2).amax(1),
    "cls_attn_mean": lambda p: p[:, :, 0, 1:].mean(1),
    "cls_attn_max": lambda p: p[:, :, 0, 1:].amax(1),
}


def spatial_graph(grid: int, device=None) -> torch.Tensor:
    """[N, N] 0/1: 8-neighbourhood on a grid x grid patch grid, row-major, no self loops."""
    idx = torch.arange(grid * grid, device=device)
    row, col = idx // grid, idx % grid
    near = ((row[:, None] - row[None, :]).abs() <= 1) & ((col[:, None] - col[None, :]).abs() <= 1)
    return (near & ~torch.eye(grid * grid, dtype=torch.bool, device=device)).float()


def semantic_graph(tokens: torch.Tensor, neighbours: int) -> torch.Tensor:
    """tokens [B, N, C] -> [B, N, N] 0/1: row i marks i's `neighbours` most cosine-similar tokens."""
    unit = tokens / tokens.norm(dim=-1, keepdim=True)
    similarity = unit @ unit.transpose(-1, -2)
    macs.add("reducer.gtp_graph", similarity.numel() * tokens.shape[-1])
    n = tokens.shape[1]
    k = min(neighbours, n - 1)
    threshold = similarity.kthvalue(n - k, dim=-1, keepdim=True).values    # the (k+1)-th largest (self first)
    graph = (similarity >= threshold).float()
    return graph * (1 - torch.eye(n, device=tokens.device))


def normalized_graph(x0: torch.Tensor, grid: int, kind: str, neighbours: int) -> torch.Tensor:
    """x0 [B, 1 + N, C] -> A_hat [B, N, N] = D^-1/2 A D^-1/2 over image tokens."""
    B = x0.shape[0]
    if kind == "spatial":
        adjacency = spatial_graph(grid, x0.device).expand(B, -1, -1)
    elif kind == "semantic":
        adjacency = semantic_graph(x0[:, 1:], neighbours)
    else:
        adjacency = torch.maximum(semantic_graph(x0[:, 1:], neighbours), spatial_graph(grid, x0.device))
    inv_sqrt = adjacency.sum(-1).clamp(min=1e-12).pow(-0.5)               # a token with no edge keeps 0 rows
    return inv_sqrt[:, :, None] * adjacency * inv_sqrt[:, None, :]


def sparsify(probs: torch.Tensor, keep: float) -> torch.Tensor:
    """Zero the smallest (1 - keep) share of each [T, T] attention map (per image and head), no renormalising."""
    B, H, T, _ = probs.shape
    k = int(T * T * (1 - keep))
    if k < 1:
        return probs
    threshold = probs.reshape(B, H, -1).kthvalue(k, dim=-1, keepdim=True).values.unsqueeze(-1)
    return probs.masked_fill(probs < threshold, 0.0)


class GTPViT(TokenReducer):
    name = "gtp-vit"

    def __init__(self, removed_per_layer: float | Sequence[int] = 0, alpha: float = 0.1, num_neighbours: int = 8,
                 sparsity: float = 1.0, graph: Literal["mixed", "spatial", "semantic", "none"] = "mixed",
                 selection: str = "mixed_attn_max", propagation: Literal["graph", "mean", "none"] = "graph",
                 token_scale: bool = True, use_kernel: bool | None = None):
        super().__init__(removed_per_layer, proportional_attention=token_scale)
        if graph not in GRAPHS or propagation not in PROPAGATIONS or selection not in SELECTIONS:
            raise UserError(f"gtp-vit: graph={graph!r} (allowed {GRAPHS}), propagation={propagation!r} (allowed "
                            f"{PROPAGATIONS}), selection={selection!r} (allowed {tuple(SELECTIONS)}).")
        if not 0.0 < sparsity <= 1.0 or alpha < 0 or num_neighbours < 1:
            raise UserError(f"gtp-vit: sparsity={sparsity} must be in (0, 1], alpha={alpha} >= 0, "
                            f"num_neighbours={num_neighbours} >= 1.")
        if propagation == "graph" and graph == "none":
            graph = "spatial"          # as the official code: graph propagation needs a graph
        self.alpha, self.num_neighbours, self.sparsity = alpha, num_neighbours, sparsity
        self.graph, self.selection, self.propagation = graph, selection, propagation
        self.use_kernel = use_kernel

    def max_removal(self, tokens: int) -> int:
        return max(0, tokens - 2 - int(self.propagation == "mean"))

    def begin(self, x0: torch.Tensor, cfg) -> TokenState:
        state = super().begin(x0, cfg)
        if self.propagation == "graph" and any(state.schedule):
            state.graph = normalized_graph(x0, cfg.grid, self.graph, self.num_neighbours)
        if self.sparsity < 1.0:
            state.post_softmax = lambda probs: sparsify(probs, self.sparsity)
        return state

    def reduce(self, layer: int, x: torch.Tensor, probs: torch.Tensor, keys: torch.Tensor, state: TokenState,
               r: int) -> torch.Tensor:
        if self.propagation == "mean":
            r += 1                        # the appended mean token keeps the schedule's net count
        order = SELECTIONS[self.selection](probs).argsort(dim=-1, descending=True)   # [B, T-1]
        kept, prop = order[:, :-r], order[:, -r:]                                   # image-token positions
        image, size = x[:, 1:], state.sizes(x)
        carried = torch.cat([image, size[:, 1:, None]], dim=-1)                     # sizes ride along
        x_kept, x_prop = gather_tokens(carried, kept), gather_tokens(carried, prop)
        if self.propagation == "graph":
            x_kept = self._propagate(x_kept, x_prop, kept, prop, state)
        elif self.propagation == "mean":
            mean = x_prop.mean(dim=1, keepdim=True)
            mean[..., -1] = x_prop[..., -1].sum(dim=1, keepdim=True)                # the mean token's mass
            x_kept = torch.cat([x_kept, mean], dim=1)
        state.size = torch.cat([size[:, :1], x_kept[..., -1]], dim=1)
        return torch.cat([x[:, :1], x_kept[..., :-1]], dim=1)

    def _propagate(self, x_kept, x_prop, kept, prop, state: TokenState) -> torch.Tensor:
        graph = state.graph                                                          # [B, T-1, T-1]
        rows = graph.gather(1, kept[..., None].expand(-1, -1, graph.shape[-1]))      # [B, K, T-1]
        weight_kp = rows.gather(2, prop[:, None, :].expand(-1, rows.shape[1], -1))   # [B, K, P]
        state.graph = rows.gather(2, kept[:, None, :].expand(-1, rows.shape[1], -1))
        state.record("orphan_rate", float((weight_kp.sum(1) == 0).float().mean()))
        macs.add("reducer.gtp_propagate", weight_kp.numel() * x_prop.shape[-1])
        use_kernel = kernel_available(x_kept.device) if self.use_kernel is None else self.use_kernel
        return graph_propagate(x_kept, x_prop, weight_kp, self.alpha, use_kernel)
