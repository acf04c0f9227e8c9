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
