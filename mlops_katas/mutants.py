"""Mutants: known-wrong answers, each a unified diff against a day's reference solution.

A mutant is `tests/mutants/dayNN/<slug>.diff`. Its first line, `# Mutant: ...`, names
the realistic bug it carries; the rest is a plain unified diff (`--- a/FILE`,
`+++ b/FILE`, hunks) that turns `solutions/dayNN` into the wrong answer. A bug found by a
blind reviewer is one change away from the reviewer's own correct answer, not from ours:
such a mutant says `# Base: <slug>` on its second line and applies to the correct
answer kept in `tests/alternatives/dayNN/<slug>` (see alternatives.py). A header line
`# Killed-by: <test id>` names the test that killed it last time (`scripts/record-killers`
writes it): the self-check runs that test first and the whole day only when it passes. Keeping only the
difference shows a reader the bug at a glance, and a mutant whose context no longer
matches the solution fails loudly instead of silently testing stale code.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

HEADER = re.compile(r"^#\s*(Base|Killed-by):\s*(\S.*?)\s*$")
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
NO_NEWLINE = "\\ No newline at end of file"


class MutantError(Exception):
    """A mutant diff is malformed or no longer applies to the solution."""


@dataclass
class Hunk:
    old_start: int
    lines: list[str] = field(default_factory=list)  # each starts with ' ', '-' or '+'


@dataclass
class Mutant:
    path: Path
    bug: str
    files: dict[str, list[Hunk]]
    base: str | None = None  # an alternative's slug; None: the solution
    killed_by: str | None = None  # a test id relative to the day folder

    @property
    def name(self) -> str:
        return self.path.stem


def load(path: Path) -> Mutant:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#"):
        raise MutantError(f"{path.name}: the first line should be '# Mutant: <the bug>'")
    bug = lines[0].lstrip("#").strip()
    header: dict[str, str] = {}
    first = 2
    while first <= len(lines) and (match := HEADER.match(lines[first - 1])):
        header[match.group(1)] = match.group(2)
        first += 1
    files: dict[str, list[Hunk]] = {}
    current: list[Hunk] | None = None
    for number, line in enumerate(lines[first - 1:], start=first):
        if line.startswith("--- "):
            continue
        if line.startswith("+++ "):
            name = line[4:].split("\t")[0]
            current = files.setdefault(name[2:] if name.startswith("b/") else name, [])
            continue
        match = HUNK.match(line)
        if match:
            if current is None:
                raise MutantError(f"{path.name} line {number}: a hunk before any '+++ b/FILE' line")
            current.append(Hunk(int(match.group(1))))
        elif line == NO_NEWLINE and current:
            hunk = current[-1]
            hunk.lines[-1] = hunk.lines[-1] + NO_NEWLINE
        elif current and current[-1] and line[:1] in (" ", "-", "+"):
            current[-1].lines.append(line)
        elif current and current[-1] and line == "":
            current[-1].lines.append(" ")
        elif line.strip():
            raise MutantError(f"{path.name} line {number}: not part of a unified diff: {line[:60]!r}")
    if not files:
        raise MutantError(f"{path.name}: no file changes")
    return Mutant(path, bug, files, header.get("Base"), header.get("Killed-by"))


def with_killer(path: Path, test_id: str) -> None:
    """Write (or replace) the mutant's `# Killed-by:` header line."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    end = 1
    while end < len(lines) and HEADER.match(lines[end].rstrip("\n")):
        end += 1
    kept = [line for line in lines[1:end] if not line.startswith("# Killed-by:")]
    path.write_text("".join([lines[0], *kept, f"# Killed-by: {test_id}\n", *lines[end:]]), encoding="utf-8")


def _content(line: str) -> tuple[str, bool]:
    """A diff line's text and whether it ends with a newline."""
    text = line[1:]
    if text.endswith(NO_NEWLINE):
        return text[: -len(NO_NEWLINE)], False
    return text, True


def _locate(old: list[str], expected: list[str], hint: int, floor: int) -> int | None:
    """Where `expected` lines stand in `old`: at `hint` if they do, else the nearest place
    at or after `floor` (like `patch`, a hunk may move when lines above it changed)."""
    candidates = range(floor, len(old) - len(expected) + 1)
    for start in sorted(candidates, key=lambda i: abs(i - hint)):
        if old[start:start + len(expected)] == expected:
            return start
    return None


def patch_text(original: str, hunks: list[Hunk], where: str) -> str:
    old = original.splitlines(keepends=True)
    out: list[str] = []
    position = 0  # index into old
    for hunk in hunks:
        lines = [(line[0], "".join(_text_with_newline(line))) for line in hunk.lines]
        expected = [text for kind, text in lines if kind in " -"]
        hint = max(hunk.old_start - 1, 0) if expected else hunk.old_start
        start = _locate(old, expected, hint, position)
        if start is None:
            first = expected[0].rstrip() if expected else ""
            raise MutantError(f"{where}: the lines around {first!r} (line {hunk.old_start}) are no longer "
                              "in the solution; regenerate this mutant")
        out.extend(old[position:start])
        out.extend(text for kind, text in lines if kind in " +")
        position = start + len(expected)
    out.extend(old[position:])
    return "".join(out)


def _text_with_newline(line: str) -> tuple[str, str]:
    text, newline = _content(line)
    return text, "\n" if newline else ""


def apply(mutant: Mutant, solution: Path, dest: Path) -> Path:
    """Copy the solution (or the alternative the mutant is based on) to `dest` and apply the mutant there."""
    shutil.copytree(solution, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return patch_in_place(mutant, dest)


def patch_in_place(mutant: Mutant, folder: Path) -> Path:
    """Apply the mutant to the files in `folder` (a copy made for it; modes are kept)."""
    for name, hunks in mutant.files.items():
        target = folder / name
        original = target.read_text(encoding="utf-8") if target.exists() else ""
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(patch_text(original, hunks, f"{mutant.path.name}: {name}"), encoding="utf-8")
    return folder


def find(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.diff")) if folder.is_dir() else []
