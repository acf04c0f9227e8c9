"""The proof ledger: a check is reused only while every input of its verdict is unchanged."""

from __future__ import annotations

import pytest

from mlops_katas import mutants, proofs
from mlops_katas.curriculum import load_day

SOLUTION = "def answer():\n    return 42\n"
MUTANT = """# Mutant: returns the wrong answer.
--- a/mod.py
+++ b/mod.py
@@ -1,2 +1,2 @@
 def answer():
-    return 42
+    return 41
"""


@pytest.fixture
def root(checkout):
    checkout.day("day01", {"mod.py": "def answer():\n    raise NotImplementedError  # TODO\n",
                           "test_mod.py": "from mod import answer\n\ndef test_answer():\n    assert answer() == 42, 'x'\n"})
    checkout.day("day02", {"other.py": "# TODO\n", "test_other.py": "# reads day01's answer\n"})
    for day, name in (("day01", "mod.py"), ("day02", "other.py")):
        (checkout.path / "solutions" / day).mkdir(parents=True)
        (checkout.path / "solutions" / day / name).write_text(SOLUTION)
    (checkout.path / "tests" / "mutants" / "day01").mkdir(parents=True)
    (checkout.path / "tests" / "mutants" / "day01" / "wrong.diff").write_text(MUTANT)
    alternative = checkout.path / "tests" / "alternatives" / "day01" / "terse"
    alternative.mkdir(parents=True)
    (alternative / "mod.py").write_text("answer = lambda: 42\n")
    (alternative / "ABOUT.md").write_text("A lambda.\n")
    harness = checkout.path / "mlops_katas"
    harness.mkdir()
    for name in ("__init__.py", "plugin.py", "proofs.py"):
        (harness / name).write_text("")
    (checkout.path / "conftest.py").write_text('pytest_plugins = ["mlops_katas.plugin"]\n')
    return checkout.path


def digests(root):
    """Every digest, computed afresh (a self-check worker computes them once)."""
    proofs.harness_digest.cache_clear()
    proofs.day_digest.cache_clear()
    day = load_day(root, "day01")
    return (proofs.mutant_digest(root, day, root / "tests" / "mutants" / "day01" / "wrong.diff"),
            proofs.alternative_digest(root, day, "terse"))


@pytest.mark.parametrize("changed", [
    "katas/day01/test_mod.py", "katas/day01/README.md", "solutions/day01/mod.py", "conftest.py",
    "mlops_katas/plugin.py", "tests/alternatives/day01/terse/mod.py",
])
def test_a_change_to_any_input_makes_both_checks_run_again(root, changed):
    before = digests(root)
    (root / changed).write_text((root / changed).read_text() + "\n# changed\n")
    after = digests(root)
    if changed.startswith("tests/alternatives"):
        assert after[1] != before[1], "the alternative's own files are an input of its check"
    else:
        assert after[0] != before[0] and after[1] != before[1], f"{changed} is an input of every check of the day"


def test_a_change_to_another_day_or_to_the_ledger_code_reuses_the_proofs(root):
    before = digests(root)
    (root / "solutions" / "day02" / "other.py").write_text("changed = True\n")
    (root / "mlops_katas" / "proofs.py").write_text("# how proofs are reused is no input of a verdict\n")
    assert digests(root) == before, "day01's proofs rest neither on day02 nor on the ledger's code"


def test_a_day_the_tests_name_is_an_input(root):
    day = load_day(root, "day02")
    proofs.day_digest.cache_clear()
    before = proofs.day_digest(root, day.name)
    (root / "solutions" / "day01" / "mod.py").write_text("def answer():\n    return 43\n")
    proofs.day_digest.cache_clear()
    assert proofs.day_digest(root, day.name) != before, "day02's tests read day01, so day01's answer is an input"


def test_the_tests_and_docs_of_a_day_the_tests_name_are_not_an_input(root):
    day = load_day(root, "day02")
    proofs.day_digest.cache_clear()
    before = proofs.day_digest(root, day.name)
    (root / "katas" / "day01" / "test_mod.py").write_text("def test_answer():\n    assert True\n")
    (root / "katas" / "day01" / "README.md").write_text("# Day 01, reworded\n")
    proofs.day_digest.cache_clear()
    assert proofs.day_digest(root, day.name) == before, (
        "day02 uses day01's code, not its tests or README: sharper day01 tests prove nothing anew about day02")


def test_the_killed_by_hint_is_not_an_input(root):
    before = digests(root)
    mutants.with_killer(root / "tests" / "mutants" / "day01" / "wrong.diff", "test_mod.py::test_answer")
    assert digests(root) == before, "which test to try first changes no verdict"


def test_a_recorded_proof_holds_for_its_digest_only(root):
    day = load_day(root, "day01")
    ledger = proofs.Ledger(root, day)
    assert not ledger.proven("mutant wrong", "abc"), "an empty ledger proves nothing"
    ledger.record("mutant wrong", "abc")
    assert ledger.proven("mutant wrong", "abc"), "a recorded proof is reused for the same digest"
    assert not ledger.proven("mutant wrong", "abd"), "another digest means another input: run it again"


@pytest.mark.parametrize("lacking, reused", [
    ((), False), (("kind",), True), (("kind", "redis"), True), (("redis",), False)])
def test_a_proof_made_without_a_tier_holds_only_where_that_tier_is_missing_too(root, lacking, reused):
    ledger = proofs.Ledger(root, load_day(root, "day01"))
    ledger.record("alternative terse", proofs.without("abc", {"kind"}))
    assert ledger.proven("alternative terse", "abc", lacking=lacking) is reused, (
        f"proven without the kind tier, on a machine lacking {lacking or 'nothing'}: "
        + ("reused, since a run here proves no more" if reused else "run again, since a run here proves more"))
    assert proofs.without("abc", ()) == "abc", "a run that lacked no tier records the full proof"


def test_the_tiers_a_run_left_unproven_are_read_from_its_skips():
    results = {"tests": [
        {"name": "test_a.py::test_rollout", "status": "skip", "message": "kind tier skipped: kind not found"},
        {"name": "test_a.py::test_image", "status": "pass", "message": ""},
        {"name": "test_a.py::test_other", "status": "skip", "message": "Skipped: needs a later task"},
    ]}
    assert proofs.tiers_left_unproven(results) == {"kind"}, "only a tier's own skip leaves it unproven"
    assert proofs.tiers_left_unproven({"tests": []}) == frozenset(), "no skip, nothing unproven"


def test_recording_drops_the_proofs_of_checks_that_are_gone(root):
    day = load_day(root, "day01")
    ledger = proofs.Ledger(root, day)
    ledger.record("mutant wrong", "abc")
    (root / "tests" / "mutants" / "day01" / "wrong.diff").unlink()
    ledger.record("alternative terse", "def")
    assert not ledger.proven("mutant wrong", "abc"), "a deleted mutant's proof is dropped at the next record"
    assert ledger.proven("alternative terse", "def"), "the new proof is kept"


@pytest.mark.parametrize("value, share", [("", 0.0), ("0", 0.0), ("all", 1.0), ("ALL", 1.0), ("0.1", 0.1), ("1", 1.0)])
def test_the_share_to_prove_again_is_all_a_fraction_or_none(value, share):
    assert proofs.reprove_share({proofs.REPROVE: value}) == share, f"{proofs.REPROVE}={value!r} means {share}"


@pytest.mark.parametrize("value", ["most", "1.5", "-0.1"])
def test_a_share_that_is_not_one_is_refused_with_what_to_write(value):
    with pytest.raises(ValueError, match="share between 0 and 1"):
        proofs.reprove_share({proofs.REPROVE: value})


def test_a_tenth_is_drawn_and_another_commit_draws_another_tenth():
    checks = [f"day01 mutant m{i}" for i in range(2000)]
    first = {c for c in checks if proofs.drawn(c, "commit-a", 0.1)}
    second = {c for c in checks if proofs.drawn(c, "commit-b", 0.1)}
    assert 150 <= len(first) <= 250, f"about a tenth of 2000 checks should be drawn, got {len(first)}"
    assert first != second, "each commit proves another share again"
    assert all(proofs.drawn(c, "commit-a", 1.0) for c in checks), "a share of 1 draws every check"
