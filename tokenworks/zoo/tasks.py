"""Generated tasks with exact answers: data for papers that measure accuracy at equal compute.

Each task turns a seeded random draw into `TaskExample(prompt, answer)`; the prompt ends with '=' and the
answer is the exact string that must follow it. `score` checks a model's output against the answer.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from tokenworks.errors import UserError, close_matches


@dataclass(frozen=True)
class TaskExample:
    prompt: str
    answer: str


def _addition(rng: random.Random, digits: int = 3) -> TaskExample:
    a, b = (rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits) for _ in range(2))
    return TaskExample(f"{a}+{b}=", str(a + b))


def _copy(rng: random.Random, length: int = 8) -> TaskExample:
    text = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
    return TaskExample(f"copy:{text}=", text)


def _reverse(rng: random.Random, length: int = 8) -> TaskExample:
    text = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
    return TaskExample(f"reverse:{text}=", text[::-1])


def _sort(rng: random.Random, length: int = 6) -> TaskExample:
    values = [rng.randrange(10) for _ in range(length)]
    return TaskExample(f"sort:{','.join(map(str, values))}=", ",".join(map(str, sorted(values))))


def is_balanced(text: str) -> bool:
    closer_of = {"(": ")", "[": "]"}
    stack: list[str] = []
    for char in text:
        if char in closer_of:
            stack.append(closer_of[char])
        elif not stack or stack.pop() != char:
            return False
    return not stack


def _balanced_brackets(rng: random.Random, pairs: int) -> str:
    out, stack, opened = [], [], 0
    while opened < pairs or stack:
        if opened < pairs and (not stack or rng.random() < 0.5):
            opener = rng.choice("([")
            out.append(opener)
            stack.append(")" if opener == "(" else "]")
            opened += 1
        else:
            out.append(stack.pop())
    return "".join(out)


def _brackets(rng: random.Random, pairs: int = 4) -> TaskExample:
    """Half balanced, half one character changed; the answer is computed from the text, not assumed."""
    text = _balanced_brackets(rng, pairs)
    if rng.random() < 0.5:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice([c for c in "()[]" if c != text[i]]) + text[i + 1 :]
    return TaskExample(f"balanced:{text}=", "yes" if is_balanced(text) else "no")


def _assign_chain(rng: random.Random, steps: int = 3) -> TaskExample:
    """'a=3;b=a*4;c=b-5;c=' -> '7': each variable applies one operation to the previous one."""
    names = string.ascii_lowercase
    value = rng.randrange(1, 10)
    parts = [f"a={value}"]
    for i in range(1, steps):
        op, operand = rng.choice("+-*"), rng.randrange(1, 10)
        value = {"+": value + operand, "-": value - operand, "*": value * operand}[op]
        parts.append(f"{names[i]}={names[i - 1]}{op}{operand}")
    return TaskExample(";".join(parts) + f";{names[steps - 1]}=", str(value))


# name -> (generator, {difficulty knob: (default, min, max)})
TASKS: dict[str, tuple[Callable[..., TaskExample], dict[str, tuple[int, int, int]]]] = {
    "addition": (_addition, {"digits": (3, 1, 30)}),
    "copy": (_copy, {"length": (8, 1, 200)}),
    "reverse": (_reverse, {"length": (8, 1, 200)}),
    "sort": (_sort, {"length": (6, 1, 100)}),
    "brackets": (_brackets, {"pairs": (4, 1, 100)}),
    "assign_chain": (_assign_chain, {"steps": (3, 1, 26)}),
}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def make_tasks(name: str, n: int, seed: int = 0, **difficulty: int) -> list[TaskExample]:
    """`n` examples of task `name`; the same (name, n, seed, difficulty) always gives the same list."""
    if name not in TASKS:
        raise UserError(f"task {name!r} is not defined; allowed: {', '.join(TASK_NAMES)}." + close_matches(name, TASKS))
    generate, knobs = TASKS[name]
    for key, value in difficulty.items():
        if key not in knobs:
            raise UserError(f"task {name!r} has no difficulty setting {key!r}; allowed: {', '.join(knobs)}.")
        _, low, high = knobs[key]
        if not isinstance(value, int) or not low <= value <= high:
            raise UserError(f"task {name!r}: {key}={value!r} is out of range; allowed: integers {low}..{high}.")
    if n < 0:
        raise UserError(f"make_tasks: n={n} must be >= 0.")
    rng = random.Random(f"{name}:{seed}")
    settings = {key: difficulty.get(key, default) for key, (default, _, _) in knobs.items()}
    return [generate(rng, **settings) for _ in range(n)]


def score(example: TaskExample, output_text: str) -> bool:
    """Exact match: the output's first line, stripped of surrounding whitespace, equals the answer."""
    lines = output_text.strip().splitlines()
    return bool(lines) and lines[0].strip() == example.answer
