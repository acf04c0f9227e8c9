"""Task 2: is the candidate a drop-in replacement for the champion's callers?"""

from __future__ import annotations

import re

import pytest

from gate import signature_problems

pytestmark = pytest.mark.task(taskno=2)

CHAMPION = {"f0": "double", "f1": "double", "region": "string"}


def _naming(problems, column):
    return [p for p in problems if re.search(rf"\b{column}\b", p)]


def test_the_same_columns_and_types_are_compatible():
    assert signature_problems(CHAMPION, dict(CHAMPION)) == [], "identical signatures have no problem"


def test_column_order_does_not_matter():
    shuffled = {"region": "string", "f1": "double", "f0": "double"}
    assert signature_problems(CHAMPION, shuffled) == [], "the same columns in another order are compatible"


def test_a_changed_type_is_one_problem_naming_the_column_and_both_types():
    problems = signature_problems(CHAMPION, {**CHAMPION, "region": "long"})
    assert len(problems) == 1, f"one column changed type, so one problem: {problems}"
    assert "region" in problems[0] and "string" in problems[0] and "long" in problems[0], (
        f"the problem should name the column and both types: {problems[0]!r}")


def test_a_missing_column_is_a_problem_naming_it():
    problems = signature_problems(CHAMPION, {"f0": "double", "region": "string"})
    assert len(problems) == 1 and _naming(problems, "f1"), f"f1 is missing from the candidate: {problems}"


def test_an_extra_column_is_a_problem_naming_it():
    problems = signature_problems(CHAMPION, {**CHAMPION, "account_age": "long"})
    assert len(problems) == 1 and _naming(problems, "account_age"), (
        f"the champion's callers do not send account_age: {problems}")


def test_one_problem_per_column_sorted_by_column():
    candidate = {"f1": "float", "region": "string", "zip": "string", "age": "long"}  # f0 missing
    problems = signature_problems(CHAMPION, candidate)
    assert len(problems) == 4, f"age (new), f0 (missing), f1 (type), zip (new): four problems, not {problems}"
    for index, column in enumerate(("age", "f0", "f1", "zip")):
        assert re.search(rf"\b{column}\b", problems[index]), (
            f"problem {index + 1} should be about {column!r} (sorted by column name): {problems}")


def test_sorted_by_column_name_even_when_one_name_starts_another():
    problems = signature_problems({"f1": "double", "f10": "double"}, {"f1": "long", "f10": "long", "f1_log": "double"})
    columns = [next(c for c in ("f1_log", "f10", "f1") if re.search(rf"\b{c}\b", p)) for p in problems]
    assert columns == ["f1", "f10", "f1_log"], (
        f"sorted by column name (f1 < f10 < f1_log), not by the text of the messages, where 'f10: ...' may come "
        f"before 'f1: ...': {problems}")


def test_types_are_compared_exactly():
    problems = signature_problems({"n": "integer"}, {"n": "long"})
    assert len(problems) == 1, f"integer (32-bit) and long (64-bit) are different MLflow types: {problems}"
    problems = signature_problems({"f0": "double"}, {"f0": "Double"})
    assert len(problems) == 1, f"type names are compared as they are, not folded to one case: {problems}"


def test_column_names_are_compared_exactly():
    problems = signature_problems({"Region": "string", "f0": "double"}, {"region": "string", "f0": "double"})
    assert len(problems) == 2 and _naming(problems, "Region") and _naming(problems, "region"), (
        f"a column renamed from Region to region breaks the callers that send Region: Region is missing from the "
        f"candidate and region is new in it (names are not folded to one case): {problems}")


def test_types_are_compared_by_value_not_identity():
    built = "".join(["dou", "ble"])  # equal to "double", but another string object, as read from a file
    assert signature_problems({"f0": "double"}, {"f0": built}) == [], (
        "the same type name is the same type, however the string was made (compare with ==, not `is`)")


def test_empty_signatures():
    assert signature_problems({}, {}) == [], "two empty signatures agree"
    assert len(signature_problems({}, CHAMPION)) == 3, "every column of a candidate is new against an empty one"


def test_the_inputs_are_not_modified():
    champion, candidate = dict(CHAMPION), {"f0": "long"}
    signature_problems(champion, candidate)
    assert champion == CHAMPION and candidate == {"f0": "long"}, "the mappings must not change"
