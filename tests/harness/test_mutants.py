"""Mutant diffs: applied to a copy of the solution, loudly refused when they no longer fit."""

from __future__ import annotations

import pytest

from mlops_katas import mutants

SOLUTION = "def answer():\n    value = 42\n    return value\n"
DIFF = """# Mutant: returns the wrong answer.
--- a/mod.py
+++ b/mod.py
@@ -1,3 +1,3 @@
 def answer():
-    value = 42
+    value = 41
     return value
"""


@pytest.fixture
def solution(tmp_path):
    folder = tmp_path / "solution"
    folder.mkdir()
    (folder / "mod.py").write_text(SOLUTION)
    return folder


def write(tmp_path, text):
    path = tmp_path / "wrong-answer.diff"
    path.write_text(text)
    return path


def test_a_mutant_names_its_bug_and_changes_a_copy_only(tmp_path, solution):
    mutant = mutants.load(write(tmp_path, DIFF))
    assert mutant.bug == "Mutant: returns the wrong answer." and mutant.name == "wrong-answer"
    out = mutants.apply(mutant, solution, tmp_path / "out")
    assert (out / "mod.py").read_text() == SOLUTION.replace("42", "41")
    assert (solution / "mod.py").read_text() == SOLUTION, "the solution itself must stay untouched"


def test_a_hunk_follows_lines_that_moved_down(tmp_path, solution):
    (solution / "mod.py").write_text("import os\n\n" + SOLUTION)
    out = mutants.apply(mutants.load(write(tmp_path, DIFF)), solution, tmp_path / "out")
    assert (out / "mod.py").read_text() == "import os\n\n" + SOLUTION.replace("42", "41")


def test_a_mutant_whose_lines_are_gone_is_refused(tmp_path, solution):
    (solution / "mod.py").write_text(SOLUTION.replace("value = 42", "result = 42"))
    with pytest.raises(mutants.MutantError, match="regenerate this mutant"):
        mutants.apply(mutants.load(write(tmp_path, DIFF)), solution, tmp_path / "out")


def test_a_diff_without_the_bug_line_is_refused(tmp_path):
    with pytest.raises(mutants.MutantError, match="first line"):
        mutants.load(write(tmp_path, DIFF.split("\n", 1)[1]))


def test_a_mutant_based_on_an_alternative_says_so_and_applies_to_it(tmp_path):
    alternative = tmp_path / "alternative"
    alternative.mkdir()
    (alternative / "mod.py").write_text(SOLUTION.replace("value = 42\n    return value", "return 42"))
    diff = ("# Mutant: returns the wrong answer.\n# Base: terse\n--- a/mod.py\n+++ b/mod.py\n"
            "@@ -1,2 +1,2 @@\n def answer():\n-    return 42\n+    return 41\n")
    mutant = mutants.load(write(tmp_path, diff))
    assert mutant.base == "terse", "the second line '# Base: terse' names the alternative the diff applies to"
    out = mutants.apply(mutant, alternative, tmp_path / "out")
    assert (out / "mod.py").read_text() == "def answer():\n    return 41\n", "the diff applies to the alternative"


def test_a_plain_mutant_is_based_on_the_solution(tmp_path):
    assert mutants.load(write(tmp_path, DIFF)).base is None, "without a Base line the diff applies to the solution"


def test_the_killing_test_is_recorded_in_the_header_and_replaced(tmp_path, solution):
    path = write(tmp_path, DIFF.replace("# Mutant: returns the wrong answer.\n",
                                        "# Mutant: returns the wrong answer.\n# Base: terse\n"))
    mutants.with_killer(path, "test_mod.py::test_answer[42]")
    mutants.with_killer(path, "test_mod.py::test_other")
    mutant = mutants.load(path)
    assert mutant.killed_by == "test_mod.py::test_other", "a new killer replaces the old one"
    assert mutant.base == "terse" and mutant.bug == "Mutant: returns the wrong answer.", "other header lines stay"
    assert path.read_text().count("Killed-by") == 1, "one Killed-by line at most"
    out = mutants.apply(mutants.load(path), solution, tmp_path / "out")
    assert (out / "mod.py").read_text() == SOLUTION.replace("42", "41"), "the diff still applies"
