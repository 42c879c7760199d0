"""R2R's data generation: label every small-model token as identical, neutral or divergent.

The official pipeline (thu-nics/R2R `script/data_labeling/step_0..4`): (0) the large model writes the
responses; (1) the small model reads each response with teacher forcing, and every position where its top-1
token differs from the large model's is "non-identical"; (2) at each non-identical position the *large*
model continues greedily from prefix + large token and from prefix + small token; (3) a verifier compares
the two continuations: a change of meaning/outcome is "divergent", a superficial one "neutral"; (4) the
router's target is 1 for divergent, 0 otherwise.

Here the tasks have exact answers, so step 3's 72B verifier is replaced by an exact comparison of the two
continuations' final answers (a documented deviation: an outcome-based notion of divergence). Greedy
decoding makes the continuation from the large model's own token its original response, so only the
continuation from the small token is run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Callable

import torch
from tqdm.auto import tqdm

from tokenworks.methods.decoding.r2r.features import entropy, token_features


class Label(IntEnum):
    IDENTICAL = 0   # the small model's top-1 equals the large model's token
    NEUTRAL = 1     # different token, same outcome once the large model continues
    DIVERGENT = 2   # different token that changes the outcome: the router must send it to the large model


def label_position(large_token: int, small_token: int, reference_answer: str, continued_answer: str) -> Label:
    """One position's label. `reference_answer`: the large model's own response's answer;
    `continued_answer`: the answer the large model reaches after the small token is forced at this position."""
    if small_token == large_token:
        return Label.IDENTICAL
    return Label.NEUTRAL if continued_answer == reference_answer else Label.DIVERGENT


@dataclass
class LabelledTokens:
    """Router training data, one row per response token of the large model."""

    hidden: torch.Tensor      # [N, H] small model's last hidden state (normed) at the predicting position
    token: torch.Tensor       # [N] small model's top-1 token there
    topk: torch.Tensor        # [N, K] small model's top-K logits, descending
    label: torch.Tensor       # [N] Label values
    prompt_index: torch.Tensor  # [N] which prompt (for splitting train/validation by prompt)
    entropy: torch.Tensor     # [N] small model's next-token entropy (nats): the baseline router's input

    @property
    def divergent(self) -> torch.Tensor:  # [N] float targets
        return (self.label == Label.DIVERGENT).float()

    def subset(self, mask: torch.Tensor) -> "LabelledTokens":
        return LabelledTokens(self.hidden[mask], self.token[mask], self.topk[mask], self.label[mask],
                              self.prompt_index[mask], self.entropy[mask])

    def save(self, path) -> None:
        torch.save({k: getattr(self, k) for k in FIELDS}, path)

    @classmethod
    def load(cls, path) -> "LabelledTokens":
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return cls(**{k: blob[k] for k in FIELDS})

    def counts(self) -> dict[str, int]:
        return {lab.name.lower(): int((self.label == lab).sum()) for lab in Label}


FIELDS = ("hidden", "token", "topk", "label", "prompt_index", "entropy")


def greedy_continue(model, ids: list[int], max_new_tokens: int, eos: int) -> list[int]:
    """The model's greedy continuation of `ids` (new ids only, EOS included if reached)."""
    from tokenworks.methods.decoding.greedy import GreedyDecoder

    decoder = GreedyDecoder(model)
    decoder.eos = frozenset({eos})
    return decoder.decode(ids, max_new_tokens).ids


@torch.inference_mode()
def label_prompts(
    small, large, prompts: list[list[int]], answer_of: Callable[[list[int]], str], eos: int,
    max_new_tokens: int, topk: int, progress: bool = True,
) -> LabelledTokens:
    """Steps 0-4 over `prompts` (token ids). `answer_of(response_ids) -> str` extracts the final answer."""
    rows: list[tuple[torch.Tensor, ...]] = []
    for index, prompt in enumerate(tqdm(prompts, desc="r2r: labelling", disable=not progress)):
        response = greedy_continue(large, prompt, max_new_tokens, eos)                      # step 0
        if not response:
            continue
        full = torch.tensor([prompt + response])
        out = small.model(input_ids=full)                                                   # step 1
        hidden = out.last_hidden_state[0, len(prompt) - 1 : len(full[0]) - 1]               # [R, H]
        logits = small.lm_head(hidden)                                                      # [R, V]
        small_tokens = logits.argmax(-1)
        reference = answer_of(response)
        labels = []
        for i, (large_token, small_token) in enumerate(zip(response, small_tokens.tolist())):
            continued = reference
            if small_token != large_token:                                                  # step 2
                forced = prompt + response[:i] + [small_token]
                tail = [] if small_token == eos else greedy_continue(large, forced, max_new_tokens - i - 1, eos)
                continued = answer_of(response[:i] + [small_token] + tail)
            labels.append(label_position(large_token, small_token, reference, continued))   # steps 3-4
        token, top = token_features(logits, topk)
        rows.append((hidden, token, top, torch.tensor(labels), torch.full((len(labels),), index), entropy(logits)))
    if not rows:
        raise ValueError("no prompt produced a response to label")
    return LabelledTokens(*(torch.cat([r[j] for r in rows]) for j in range(6)))
