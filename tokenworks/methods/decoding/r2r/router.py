"""R2R's routers: the trained MLP on the small model's hidden state, token and top-K logits, and the
entropy-threshold baseline from the same code base (`r2r/utils/switching.py`).

Both answer `route_score(hidden, token, logits) -> float` and route when the score is >= a threshold; the
MLP's score is its logit and its threshold a probability, so `threshold_score(p)` maps p = 0 to -inf (always
large) and p = 1 to +inf (never large) exactly, with no sigmoid saturation at the ends.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from tokenworks.errors import UserError
from tokenworks.methods.decoding.r2r.config import RouterConfig
from tokenworks.methods.decoding.r2r.features import entropy
from tokenworks.methods.decoding.r2r.labeling import LabelledTokens


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, W]
        return x + self.dropout(self.down(F.gelu(self.up(self.norm(x)))))


class MLPRouter(nn.Module):
    """p = sigmoid(g(h, E(t), Linear(topk logits))); E is the small model's input embedding, frozen."""

    kind = "mlp"

    def __init__(self, embedding: torch.Tensor, cfg: RouterConfig):  # embedding [V, H]
        super().__init__()
        vocab, hidden = embedding.shape
        if cfg.topk > vocab:
            raise UserError(f"router.topk = {cfg.topk} is invalid; allowed: 1..{vocab} (the small model's vocabulary).")
        self.cfg = cfg
        self.register_buffer("embedding", embedding.detach().clone())
        self.logits_proj = nn.Linear(cfg.topk, hidden)
        self.inp = nn.Linear(3 * hidden, cfg.width)
        self.blocks = nn.Sequential(*(ResidualBlock(cfg.width, cfg.dropout) for _ in range(cfg.depth)))
        self.out = nn.Sequential(nn.LayerNorm(cfg.width), nn.Linear(cfg.width, 1))

    def forward(self, hidden: torch.Tensor, token: torch.Tensor, topk: torch.Tensor) -> torch.Tensor:
        """hidden [N, H], token [N], topk [N, K] -> router logit [N]."""
        x = torch.cat([hidden, self.embedding[token], self.logits_proj(topk)], dim=-1)
        return self.out(self.blocks(F.gelu(self.inp(x)))).squeeze(-1)

    @torch.inference_mode()
    def route_score(self, hidden: torch.Tensor, token: int, logits: torch.Tensor) -> float:
        """hidden [H], logits [V] of one step -> router logit."""
        top = logits.topk(self.cfg.topk).values
        return float(self(hidden[None], torch.tensor([token], device=hidden.device), top[None])[0])

    @staticmethod
    def threshold_score(threshold: float) -> float:
        return float(torch.special.logit(torch.tensor(threshold, dtype=torch.float64)))


class EntropyRouter:
    """The baseline: route when the small model's next-token entropy (nats) is >= the threshold."""

    kind = "entropy"

    def route_score(self, hidden: torch.Tensor, token: int, logits: torch.Tensor) -> float:
        return float(entropy(logits))

    @staticmethod
    def threshold_score(threshold: float) -> float:
        return threshold


def split_by_prompt(data: LabelledTokens, validation_share: float, seed: int) -> tuple[LabelledTokens, LabelledTokens]:
    prompts = data.prompt_index.unique()
    order = prompts[torch.randperm(len(prompts), generator=torch.Generator().manual_seed(seed))]
    held = order[: max(1, int(len(order) * validation_share))]
    mask = torch.isin(data.prompt_index, held)
    return data.subset(~mask), data.subset(mask)


@torch.inference_mode()
def router_probabilities(router: MLPRouter, data: LabelledTokens) -> torch.Tensor:  # [N]
    router.eval()
    return torch.sigmoid(router(data.hidden, data.token, data.topk))


def train_router(data: LabelledTokens, embedding: torch.Tensor, cfg: RouterConfig, progress: bool = True
                 ) -> tuple[MLPRouter, dict[str, float]]:
    """BCE on divergent-vs-rest with positives weighted by the class ratio, AdamW, early stopping on
    validation loss; then the threshold reaching `min_recall` on validation (official ThresholdOptimizer)."""
    torch.manual_seed(cfg.seed)
    train, val = split_by_prompt(data, cfg.validation_share, cfg.seed)
    router = MLPRouter(embedding, cfg)
    pos = float(train.divergent.sum())
    pos_weight = torch.tensor((len(train.label) - pos) / max(pos, 1.0))
    optimizer = torch.optim.AdamW(router.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, best_state, waited = math.inf, copy.deepcopy(router.state_dict()), 0
    generator = torch.Generator().manual_seed(cfg.seed)
    for _ in tqdm(range(cfg.epochs), desc="r2r: training router", disable=not progress):
        router.train()
        for batch in torch.randperm(len(train.label), generator=generator).split(cfg.batch):
            logit = router(train.hidden[batch], train.token[batch], train.topk[batch])
            loss = F.binary_cross_entropy_with_logits(logit, train.divergent[batch], pos_weight=pos_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        router.eval()
        with torch.no_grad():
            val_loss = float(F.binary_cross_entropy_with_logits(
                router(val.hidden, val.token, val.topk), val.divergent, pos_weight=pos_weight))
        if val_loss < best - 1e-4:
            best, best_state, waited = val_loss, copy.deepcopy(router.state_dict()), 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    router.load_state_dict(best_state)
    router.eval()
    probs = router_probabilities(router, val)
    threshold = recall_threshold(probs, val.divergent, cfg.min_recall)
    report = {"val_loss": best, "threshold": threshold, **classification_report(probs, val.divergent, threshold),
              "train_tokens": float(len(train.label)), "val_tokens": float(len(val.label)),
              "train_divergent": pos}
    return router, report


def recall_threshold(probs: torch.Tensor, targets: torch.Tensor, min_recall: float) -> float:
    """The largest threshold whose recall of positive tokens is >= min_recall (1 if there are none)."""
    positives = probs[targets > 0.5].sort(descending=True).values
    if len(positives) == 0:  # nothing divergent to catch: never route
        return 1.0
    need = math.ceil(min_recall * len(positives))  # the need-th highest positive score must be routed
    return float(positives[need - 1])


def classification_report(probs: torch.Tensor, targets: torch.Tensor, threshold: float) -> dict[str, float]:
    routed = probs >= threshold
    pos = targets > 0.5
    return {
        "recall": float((routed & pos).sum() / max(int(pos.sum()), 1)),
        "precision": float((routed & pos).sum() / max(int(routed.sum()), 1)),
        "routed_share": float(routed.float().mean()) if len(probs) else 0.0,
        "divergent_share": float(pos.float().mean()) if len(probs) else 0.0,
    }


def save_router(router: MLPRouter, path) -> None:
    torch.save({"config": router.cfg.model_dump(), "state": router.state_dict()}, path)


def load_router(path) -> MLPRouter:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    cfg = RouterConfig.validated(blob["config"])
    router = MLPRouter(blob["state"]["embedding"], cfg)
    router.load_state_dict(blob["state"])
    return router.eval()
