import re

import pytest

from tokenworks.errors import UserError
from tokenworks.zoo.tasks import TASK_NAMES, is_balanced, make_tasks, score


def test_addition_answers_are_python_integer_sums():
    for digits in (1, 3, 12):
        for ex in make_tasks("addition", 50, seed=3, digits=digits):
            a, b = re.fullmatch(r"(\d+)\+(\d+)=", ex.prompt).groups()
            assert len(a) == len(b) == digits
            assert ex.answer == str(int(a) + int(b))


def test_copy_reverse_and_sort_answers():
    for ex in make_tasks("copy", 20, length=5):
        assert ex.answer == ex.prompt[len("copy:") : -1] and len(ex.answer) == 5
    for ex in make_tasks("reverse", 20):
        assert ex.answer == ex.prompt[len("reverse:") : -1][::-1]
    for ex in make_tasks("sort", 20, length=7):
        values = [int(v) for v in ex.prompt[len("sort:") : -1].split(",")]
        assert [int(v) for v in ex.answer.split(",")] == sorted(values) and len(values) == 7


def test_assign_chain_answers_match_python_evaluation():
    for ex in make_tasks("assign_chain", 30, steps=4):
        statements, target = ex.prompt[:-1].rsplit(";", 1)
        scope: dict = {}
        exec(statements.replace(";", "\n"), {}, scope)  # the prompt is Python assignments
        assert ex.answer == str(scope[target])


def test_brackets_answers_and_checker():
    assert is_balanced("([])()") and not is_balanced("([)]") and not is_balanced("((") and not is_balanced(")(")
    examples = make_tasks("brackets", 200, pairs=5)
    assert {ex.answer for ex in examples} == {"yes", "no"}
    for ex in examples:
        assert ex.answer == ("yes" if is_balanced(ex.prompt[len("balanced:") : -1]) else "no")


def test_deterministic_by_seed():
    for name in TASK_NAMES:
        assert make_tasks(name, 10, seed=1) == make_tasks(name, 10, seed=1)
        assert make_tasks(name, 10, seed=1) != make_tasks(name, 10, seed=2)


def test_score_is_exact_match():
    ex = make_tasks("addition", 1)[0]
    assert score(ex, ex.answer)
    assert score(ex, f" {ex.answer}\nnext line")
    assert not score(ex, str(int(ex.answer) + 1))
    assert not score(ex, ex.answer + "0")
    assert not score(ex, "")


def test_bad_task_arguments_are_user_errors():
    with pytest.raises(UserError, match="addition"):
        make_tasks("additon", 3)
    with pytest.raises(UserError, match="digits"):
        make_tasks("addition", 3, length=4)
    with pytest.raises(UserError, match="1..30"):
        make_tasks("addition", 3, digits=0)
