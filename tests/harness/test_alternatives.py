"""Blind reviewers' correct answers: assembled over the solution, refused when malformed."""

from __future__ import annotations

import pytest

from mlops_katas import alternatives, selfcheck
from mlops_katas.curriculum import Day


@pytest.fixture
def root(tmp_path):
    (tmp_path / "solutions" / "day99").mkdir(parents=True)
    (tmp_path / "solutions" / "day99" / "a.py").write_text("A = 'reference'\n")
    (tmp_path / "solutions" / "day99" / "b.py").write_text("B = 'reference'\n")
    return tmp_path


@pytest.fixture
def day(root):
    return Day("day99", root / "katas" / "day99", "test day", ("a.py", "b.py"), ("unit",))


def add(root, slug, files):
    folder = root / "tests" / "alternatives" / "day99" / slug
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_an_alternative_replaces_only_the_files_it_holds(root, day, tmp_path):
    add(root, "terse", {"a.py": "A = 'terse'\n", "ABOUT.md": "terse style\n"})
    out = alternatives.assemble(root, day, "terse", tmp_path / "out")
    assert (out / "a.py").read_text() == "A = 'terse'\n", "the alternative's own file is used"
    assert (out / "b.py").read_text() == "B = 'reference'\n", "a file it does not hold comes from the solution"
    assert not (out / "ABOUT.md").exists(), "ABOUT.md describes the alternative; it is not a learner file"
    assert alternatives.problems(root, day) == [], "a well-formed alternative has no problems"


def test_alternatives_with_strangers_or_without_about_are_reported(root, day):
    add(root, "stray", {"a.py": "A = 1\n", "notes.py": "x = 1\n", "ABOUT.md": "x\n"})
    add(root, "silent", {"b.py": "B = 1\n"})
    add(root, "empty", {"ABOUT.md": "nothing\n"})
    found = "\n".join(alternatives.problems(root, day))
    assert "stray holds ['notes.py']" in found, f"a file that is not a learner file is reported: {found}"
    assert "silent has no ABOUT.md" in found, f"an alternative must say its style: {found}"
    assert "empty holds no learner file" in found, f"an alternative without code proves nothing: {found}"


def test_a_mutant_based_on_a_missing_alternative_fails_loudly(root, day, tmp_path):
    diff = tmp_path / "bug.diff"
    diff.write_text("# Mutant: x\n# Base: gone\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-A = 'x'\n+A = 'y'\n")
    with pytest.raises(selfcheck.mutants_mod.MutantError, match="gone"):
        selfcheck.overlay(root, day, diff, tmp_path / "out")


def test_a_mutant_based_on_an_alternative_is_applied_over_it(root, day, tmp_path):
    add(root, "terse", {"a.py": "A = 'terse'\n", "ABOUT.md": "terse\n"})
    diff = tmp_path / "bug.diff"
    diff.write_text("# Mutant: x\n# Base: terse\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-A = 'terse'\n+A = 'wrong'\n")
    out = selfcheck.overlay(root, day, diff, tmp_path / "out")
    assert (out / "a.py").read_text() == "A = 'wrong'\n", "the bug is applied to the alternative, not the solution"
    assert (out / "b.py").read_text() == "B = 'reference'\n", "other files come from the solution"
