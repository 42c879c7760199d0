"""Token reducers as reversible patches on a live ViT: `apply(model, method, **options)` / `remove(model)`.

A reducer acts inside every block between the attention residual and the MLP (as ToMe and GTP-ViT do),
reading that block's attention map [B, H, T, T] and keys [B, H, T, d_h]. Per forward it keeps a
`TokenState`: the token sizes (mass) for proportional attention, method state (GTP's graph), and the token
count before/after each layer. Every reducer takes a per-layer schedule of tokens to remove (a number for
every layer, fractional numbers spread as evenly as integers allow, or one int per layer), so all arms at the same schedule have the same token counts and the
same block MACs. With 0 removed everywhere a reducer does nothing at all: outputs are bit-identical to the
unpatched model (a test).

    METHODS = {"gtp-vit": GTP-ViT, "tome": ToMe, "evit": EViT top-k + fusion, "random": random pruning}
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from typing import Callable, ClassVar, Sequence

import torch

from tokenworks.errors import UserError, close_matches


class TokenState:
    """What one forward carries from block to block."""

    def __init__(self, reducer: "TokenReducer", x0: torch.Tensor, depth: int):
        self.reducer = reducer
        self.schedule = reducer.removals(depth)
        self.size: torch.Tensor | None = None          # [B, T] token mass; None = every token has mass 1
        self.counts: list[tuple[int, int]] = []         # (tokens into the block, tokens into its MLP)
        self.stats: dict[str, list[float]] = {}
        self.post_softmax: Callable[[torch.Tensor], torch.Tensor] | None = None

    def key_bias(self) -> torch.Tensor | None:
        """log(size) added to the attention logits of every query (proportional attention) once sizes exist."""
        if self.size is None or not self.reducer.proportional_attention:
            return None
        return self.size.log()

    def sizes(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T] sizes, materialised as ones on first use."""
        if self.size is None:
            self.size = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
        return self.size

    def record(self, key: str, value: float) -> None:
        self.stats.setdefault(key, []).append(float(value))

    def reduce(self, layer: int, x: torch.Tensor, probs: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        before = x.shape[1]
        r = min(self.schedule[layer], self.reducer.max_removal(before))
        if r > 0:
            x = self.reducer.reduce(layer, x, probs, keys, self, r)
        self.counts.append((before, x.shape[1]))
        self.reducer.last_state = self
        return x


class TokenReducer(ABC):
    """Base: a schedule of removals per layer and the hooks a block calls. Subclasses implement `reduce`."""

    name: ClassVar[str] = "base"

    def __init__(self, removed_per_layer: float | Sequence[int] = 0, proportional_attention: bool = False):
        per_layer = [removed_per_layer] if isinstance(removed_per_layer, (int, float)) else list(removed_per_layer)
        if any(r < 0 for r in per_layer):
            raise UserError(f"{self.name}: removed_per_layer={removed_per_layer!r} must be >= 0 tokens per layer.")
        self.removed_per_layer = removed_per_layer
        self.proportional_attention = proportional_attention
        self.last_state: TokenState | None = None

    def removals(self, depth: int) -> list[int]:
        """Per-layer counts. A number r means round(r * depth) tokens in all, spread evenly, the remainder one
        each in the earliest layers (r = 5.5 over 6 layers -> 6, 6, 6, 5, 5, 5): finer MACs budgets."""
        if isinstance(self.removed_per_layer, (int, float)):
            total = round(self.removed_per_layer * depth)
            return [total // depth + (1 if i < total % depth else 0) for i in range(depth)]
        if len(self.removed_per_layer) != depth:
            raise UserError(f"{self.name}: removed_per_layer has {len(self.removed_per_layer)} entries, the model "
                            f"has {depth} blocks.")
        return [int(r) for r in self.removed_per_layer]

    def max_removal(self, tokens: int) -> int:
        """At most this many of `tokens` (CLS included) can go in one layer: keep CLS and one image token."""
        return max(0, tokens - 2)

    def begin(self, x0: torch.Tensor, cfg) -> TokenState:
        """Called once per forward with the blocks' input X0 [B, 1 + N, C]."""
        return TokenState(self, x0, cfg.depth)

    @abstractmethod
    def reduce(self, layer: int, x: torch.Tensor, probs: torch.Tensor, keys: torch.Tensor, state: TokenState,
               r: int) -> torch.Tensor:
        """Remove `r` tokens of x [B, N, C] after block `layer`'s attention (probs [B, H, N, N], keys
        [B, H, N, d]); returns the shorter [B, N - r, C] and updates `state` (sizes, positions)."""

    def token_counts(self) -> list[tuple[int, int]]:
        """(tokens into block, tokens into its MLP) of every block in the last forward."""
        return list(self.last_state.counts) if self.last_state else []


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x [B, T, C], index [B, K] -> [B, K, C]."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def method_classes() -> dict[str, type[TokenReducer]]:
    from tokenworks.methods.vision.evit import EViT
    from tokenworks.methods.vision.gtp import GTPViT
    from tokenworks.methods.vision.random_prune import RandomPruning
    from tokenworks.methods.vision.tome import ToMe

    return {cls.name: cls for cls in (GTPViT, ToMe, EViT, RandomPruning)}


def make_reducer(method: str, **options) -> TokenReducer:
    classes = method_classes()
    if method not in classes:
        raise UserError(f"reducer {method!r} is not known; allowed: {', '.join(classes)}." + close_matches(method, classes))
    try:
        return classes[method](**options)
    except TypeError as exc:
        raise UserError(f"reducer {method!r}: bad options {sorted(options)}: {exc}") from None


def apply(model: torch.nn.Module, method: str | TokenReducer, **options) -> TokenReducer:
    """Patch `model` (a tokenworks VisionTransformer) with a reducer; replaces any reducer already applied."""
    if not hasattr(model, "token_reducer") or not hasattr(model, "blocks"):
        raise UserError(f"{type(model).__name__} cannot take a token reducer: use "
                        "tokenworks.methods.vision.vit.VisionTransformer (vit_from_state_dict loads DeiT weights).")
    reducer = method if isinstance(method, TokenReducer) else make_reducer(method, **options)
    model.token_reducer = reducer
    return reducer


def remove(model: torch.nn.Module) -> None:
    """Undo `apply`: the model runs its plain blocks again."""
    model.token_reducer = None
