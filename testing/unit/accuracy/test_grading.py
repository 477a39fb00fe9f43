import pytest

from pytest_ascend_oss.suites.accuracy.grading import extract_exact, extract_letter, grade
from pytest_ascend_oss.suites.accuracy.questions import CHOICE, EXACT, Question


@pytest.mark.parametrize(("reply", "letter"), [
    ("Answer: C", "C"),
    ("**Answer:** b", "B"),
    ("The answer is (D).", "D"),
    ("Answer: A\nOn reflection the first is wrong.\nAnswer: C", "C"),  # the last label wins
    ("I pick Option B because ...", "B"),
    ("\\boxed{A}", "A"),
    ("Both (A) and the rest fail; so (C)", "C"),
    ("D", "D"),
    ("**b**.", "B"),
    ("A good question. I cannot say.", None),     # a capital A in prose is not an answer
    ("", None),
])
def test_the_letter_is_found_where_the_reference_grader_looks(reply, letter):
    assert extract_letter(reply) == letter


@pytest.mark.parametrize(("reply", "integer", "found"), [
    ("so \\boxed{12} then \\boxed{42}", True, "42"),
    ("\\boxed{3, 42}", True, "42"),
    ("\\boxed{\\frac{1}{2}}", False, "\\frac{1}{2}"),
    ("Final answer: 17", True, "17"),
    ("We get 5, then 9 and finally 204.", True, "204"),
    ("no number here", True, None),
    ("The capital of Peru is Lima.", False, "The capital of Peru is Lima."),
])
def test_exact_answers_are_extracted_boxed_first(reply, integer, found):
    assert extract_exact(reply, integer) == found


def _exact(answer):
    return Question("q", EXACT, "?", answer)


@pytest.mark.parametrize(("answer", "reply", "correct"), [
    ("42", "\\boxed{042}", True),
    ("42", "\\boxed{420}", False),
    ("42", "Answer: 4 or 2", False),            # two numbers: not one answer
    ("Lima", "The capital of Peru is Lima.", True),
    ("Lima", "The capital of Peru is Limassol.", False),  # a whole word, not a prefix
    ("Brasilia", "The capital of Brazil is Brasília.", True),  # accents ignored
    ("Mexico City", "The capital of Mexico is Mexico  City.", True),
    ("Paris", "The capital of Germany is Berlin.", False),
])
def test_exact_answers_are_judged_as_integers_or_whole_phrases(answer, reply, correct):
    assert grade(_exact(answer), reply).correct is correct


def test_a_choice_is_right_only_with_the_right_letter():
    q = Question("q", CHOICE, "?", "B", ("w", "x", "y", "z"))
    assert grade(q, "Answer: B").correct and not grade(q, "Answer: C").correct
    assert grade(q, "no idea") == grade(q, "no idea") and grade(q, "no idea").extracted is None
