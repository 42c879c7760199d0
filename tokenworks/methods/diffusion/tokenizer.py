"""A character tokenizer for the diffusion zoo: printable ASCII plus newline/tab and four special ids.

Why characters and not the shared 4096-token code BPE: the tasks' answers are digits and letters whose
every character depends on the others (carries, sorted order, which word was picked). With characters each
answer is 3-10 positions, the vocabulary is ~100, and a model of ~1M parameters learns the tasks within the
8-minute CPU budget; with BPE a digit string is one or two opaque tokens and there is nothing to decode in
parallel. The AR guide and the same-size AR model use this tokenizer too, so guide and drafter share ids.
"""

from __future__ import annotations

import string

SPECIALS = ("<pad>", "<mask>", "<eos>", "<unk>")
CHARS = string.printable[:-2]   # digits, letters, punctuation, space, \t, \n (drop \r \x0b \x0c)


class CharTokenizer:
    def __init__(self) -> None:
        self.itos = list(SPECIALS) + sorted(set(CHARS))
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.pad_id, self.mask_id, self.eos_id, self.unk_id = range(4)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(c, self.unk_id) for c in text]

    def decode(self, ids, stop_at_eos: bool = True) -> str:
        """Text of `ids`; cut at the first EOS when `stop_at_eos`; specials other than EOS are dropped."""
        out = []
        for i in map(int, ids):
            if i == self.eos_id and stop_at_eos:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
        return "".join(out)
