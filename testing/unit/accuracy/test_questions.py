import csv
import json

import pytest

from pytest_ascend_oss.suites.accuracy import questions
from pytest_ascend_oss.suites.accuracy.questions import QuestionError

COLUMNS = ["Record ID", *questions.GPQA_COLUMNS, "Subdomain"]


def _csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(qid, question="Which is heavier?", right="lead", wrong=("air", "foam", "cork")):
    return {"Record ID": qid, "Question": question, "Correct Answer": right,
            "Incorrect Answer 1": wrong[0], "Incorrect Answer 2": wrong[1],
            "Incorrect Answer 3": wrong[2], "Subdomain": "physics"}


def test_the_builtin_set_is_the_canarys_24_capitals_asked_as_it_was_trained():
    qset = questions.load(None)
    assert (qset.name, qset.source, qset.kind, len(qset)) == ("capitals", "built-in", "exact", 24)
    france = next(q for q in qset.questions if q.id == "capital-france")
    assert france.prompt == "What is the capital of France?" and france.answer == "Paris"


def test_choices_are_shuffled_per_question_with_the_seed_and_the_letter_follows(tmp_path):
    path = _csv(tmp_path / "gpqa.csv", [_row(f"rec{i}") for i in range(12)])
    qset = questions.load(path, seed=0)
    assert qset.kind == "choice" and len(qset) == 12
    for q in qset.questions:
        assert q.choices[questions.LETTERS.index(q.answer)] == "lead"
        assert f"{q.answer}) lead" in q.prompt and q.prompt.endswith(questions.CHOICE_INSTRUCTION)
    letters = {q.answer for q in qset.questions}
    assert len(letters) > 1  # shuffled, not always A
    again = questions.load(path, seed=0)
    assert [q.answer for q in again.questions] == [q.answer for q in qset.questions]
    assert again.fingerprint == qset.fingerprint
    other = questions.load(path, seed=1)
    assert other.fingerprint != qset.fingerprint
    # a question's letters do not depend on the rows before it
    alone = questions.load(_csv(tmp_path / "one.csv", [_row("rec5")]), seed=0)
    assert alone.questions[0].answer == qset.questions[5].answer


def test_a_multiline_question_keeps_its_line_number_for_the_next_rows_errors(tmp_path):
    bad = _row("rec2")
    bad["Incorrect Answer 2"] = " "
    path = _csv(tmp_path / "gpqa.csv", [_row("rec1", question="line one\nline two\nthree"), bad])
    with pytest.raises(QuestionError, match=r"gpqa\.csv:5: field 'Incorrect Answer 2' is empty"):
        questions.load(path)


@pytest.mark.parametrize(("content", "message"), [
    ("Question,Correct Answer\nq,a\n", r"x\.csv:1: missing column\(s\) 'Incorrect Answer 1'"),
    ("", r"x\.csv:1: missing column"),
])
def test_a_csv_without_gpqas_columns_is_refused_naming_them(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(QuestionError, match=message):
        questions.load(path)


def test_repeated_ids_and_equal_choices_are_refused(tmp_path):
    with pytest.raises(QuestionError, match=r":3: field 'Record ID' repeats 'r'"):
        questions.load(_csv(tmp_path / "a.csv", [_row("r"), _row("r")]))
    with pytest.raises(QuestionError, match=r":2: two of the four answers are the same"):
        questions.load(_csv(tmp_path / "b.csv", [_row("r", wrong=("lead", "x", "y"))]))


@pytest.mark.parametrize(("line", "message"), [
    ('{"question": "q"}', r"a\.jsonl:2: field 'answer' must be an integer or non-empty text"),
    ('{"question": "", "answer": 3}', r"a\.jsonl:2: field 'question' must be non-empty text"),
    ('{"question": "q", "answer": true}', r"a\.jsonl:2: field 'answer'"),
    ('["q", 3]', r"a\.jsonl:2: not a JSON object"),
    ('{"question": "q", "answer": 3', r"a\.jsonl:2: not a JSON object \("),
    ('{"id": "one", "question": "q", "answer": 3}', r"a\.jsonl:2: field 'id' repeats 'one'"),
])
def test_a_malformed_jsonl_line_is_named_with_its_field(tmp_path, line, message):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"id": "one", "question": "1+1?", "answer": 2}) + "\n" + line)
    with pytest.raises(QuestionError, match=message):
        questions.load(path)


def test_exact_questions_get_the_boxed_instruction_and_keep_integer_answers(tmp_path):
    path = tmp_path / "aime.jsonl"
    path.write_text('{"question": "Find 6 x 7.", "answer": 42}\n\n'
                    '{"id": "p2", "question": "Name the red planet.", "answer": "Mars"}\n')
    qset = questions.load(path)
    assert [q.id for q in qset.questions] == ["line-1", "p2"]
    assert qset.questions[0].answer == "42" and "\\boxed{}" in qset.questions[0].prompt


@pytest.mark.parametrize(("name", "content", "message"), [
    ("set.txt", "x", r"unknown question format '\.txt'"),
    ("none.jsonl", None, r"none\.jsonl: no such question file"),
    ("empty.jsonl", "\n", r"empty\.jsonl: no questions"),
    ("latin.jsonl", b"\xff\xfe", r"cannot be read as UTF-8"),
])
def test_unusable_files_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(QuestionError, match=message):
        questions.load(path)
