"""Correct answers written by blind reviewers, kept so the tests must keep accepting them.

The self-check proves the tests agree with our reference answer; it cannot see a test
that demands more than the README says. A reviewer who saw only a day's README, stubs and
tests writes correct answers in other styles; each is kept in
`tests/alternatives/dayNN/<slug>/` holding the learner files it changes (the others are
taken from `solutions/dayNN`) and an `ABOUT.md` saying its style. Every one must pass the
day, and the reviewer's bugs are recorded as mutants based on them (`# Base: <slug>`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .curriculum import Day

ABOUT = "ABOUT.md"


def folder(root: Path, day: Day) -> Path:
    return root / "tests" / "alternatives" / day.name


def find(root: Path, day: Day) -> list[Path]:
    base = folder(root, day)
    return sorted(p for p in base.iterdir() if p.is_dir() and p.name != "__pycache__") if base.is_dir() else []


def _own_files(alternative: Path) -> list[str]:
    return sorted(str(p.relative_to(alternative)) for p in alternative.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.name != ABOUT)


def assemble(root: Path, day: Day, slug: str, dest: Path) -> Path:
    """The day's reference answer with the alternative's files in its place, in `dest`."""
    alternative = folder(root, day) / slug
    if not alternative.is_dir():
        raise FileNotFoundError(f"no alternative {slug!r} in {folder(root, day).relative_to(root)}")
    shutil.copytree(root / "solutions" / day.name, dest, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in _own_files(alternative):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(alternative / name, dest / name)
    return dest


def problems(root: Path, day: Day) -> list[str]:
    """An alternative holds learner files only, at least one, and says what style it shows."""
    found = []
    for alternative in find(root, day):
        own = _own_files(alternative)
        strangers = [name for name in own if name not in day.files]
        if strangers:
            found.append(f"alternative {alternative.name} holds {strangers}, which are not learner files of {day.name}")
        if not own:
            found.append(f"alternative {alternative.name} holds no learner file")
        if not (alternative / ABOUT).is_file():
            found.append(f"alternative {alternative.name} has no {ABOUT} saying what style it shows")
    return found
