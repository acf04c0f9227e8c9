"""What the curriculum says about each day: its files, tiers, tasks and hints.

Every other part of the harness (the plugin, the `katas` command, the self-check)
reads days through this module, so the README format is parsed in one place.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

DAY_NAME = re.compile(r"^day(\d\d)$")
TASK_HEADING = re.compile(r"^### Task (\d+) — (.+)$", re.MULTILINE)
HINT_BLOCK = re.compile(
    r"<details><summary>Hint (\d+)\.(\d+)</summary>\s*(.*?)\s*</details>", re.DOTALL
)
STUB_TASK = re.compile(r"\btask (\d+)\b")


class CurriculumError(Exception):
    """A day folder or its README does not follow the curriculum format."""


@dataclass(frozen=True)
class Task:
    number: int
    title: str
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Day:
    name: str
    path: Path
    title: str
    files: tuple[str, ...]
    tiers: tuple[str, ...]

    @property
    def number(self) -> int:
        return int(self.name[3:])

    @property
    def readme(self) -> Path:
        return self.path / "README.md"

    @cached_property
    def tasks(self) -> tuple[Task, ...]:
        return parse_tasks(self.readme.read_text(encoding="utf-8"))

    def task(self, number: int) -> Task | None:
        return next((t for t in self.tasks if t.number == number), None)

    @property
    def python_modules(self) -> tuple[str, ...]:
        return tuple(Path(f).stem for f in self.files if f.endswith(".py") and "/" not in f)


def parse_tasks(readme: str) -> tuple[Task, ...]:
    """Tasks are `### Task N — title` headings; hints are `<details>` blocks titled `Hint N.L`."""
    hints: dict[int, list[tuple[int, str]]] = {}
    for task_no, level, text in HINT_BLOCK.findall(readme):
        hints.setdefault(int(task_no), []).append((int(level), text.strip()))
    return tuple(
        Task(int(n), title.strip(), tuple(text for _, text in sorted(hints.get(int(n), []))))
        for n, title in TASK_HEADING.findall(readme)
    )


def find_root(start: Path | None = None) -> Path:
    """The checkout holding `katas/` and `pytest.ini`, searched upwards from `start`."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "katas").is_dir() and (candidate / "pytest.ini").is_file():
            return candidate
    package_root = Path(__file__).resolve().parent.parent
    if (package_root / "katas").is_dir():
        return package_root
    raise CurriculumError(f"no mlops-katas checkout found at or above {here}")


def load_day(root: Path, name: str) -> Day:
    path = root / "katas" / name
    meta = path / "kata.toml"
    if not meta.is_file():
        raise CurriculumError(f"{name}: there is no katas/{name}/kata.toml")
    data = tomllib.loads(meta.read_text(encoding="utf-8"))
    return Day(
        name=name,
        path=path,
        title=data["title"],
        files=tuple(data["files"]),
        tiers=tuple(data.get("tiers", ["unit"])),
    )


def all_days(root: Path) -> list[Day]:
    folder = root / "katas"
    return [
        load_day(root, p.name)
        for p in sorted(folder.iterdir())
        if DAY_NAME.match(p.name) and (p / "kata.toml").is_file()
    ]


def normalise_day(text: str) -> str:
    """'15', 'day15' and 'katas/day15/' all mean day15."""
    match = re.fullmatch(r"(?:.*/)?(?:day)?(\d{1,2})/?", text.strip())
    if not match or int(match.group(1)) < 1:
        raise CurriculumError(f"{text!r} is not a day; try 'day15' or '15'")
    return f"day{int(match.group(1)):02d}"


def day_of(path: Path) -> str | None:
    """The day folder a path lies in, if any."""
    for part in reversed(path.parts):
        if DAY_NAME.match(part):
            return part
    return None
