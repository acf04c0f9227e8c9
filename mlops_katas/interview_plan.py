"""The study plan's weeks, mock-interview questions, success goals and reflection prompts.

They live in `interview_plan.toml` beside this module rather than in the READMEs because
they span days: a week's mock interview, a goal proven by several days.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .curriculum import CurriculumError
from .questions import Question, slug

PLAN_FILE = Path(__file__).with_name("interview_plan.toml")
WORD = re.compile(r"[a-z0-9]+")
SAME_QUESTION = 0.5  # word overlap (Jaccard) above which two wordings ask the same thing


@dataclass(frozen=True)
class Goal:
    text: str
    days: tuple[str, ...]


@dataclass(frozen=True)
class Week:
    name: str
    title: str
    days: tuple[str, ...]
    mock: tuple[Question, ...]
    goals: tuple[Goal, ...]


@dataclass(frozen=True)
class Plan:
    weeks: tuple[Week, ...]
    reflection_prompts: tuple[str, ...]

    def week(self, name: str) -> Week:
        wanted = name.strip().lower().replace(" ", "")
        if wanted.isdigit():
            wanted = f"week{int(wanted)}"
        for week in self.weeks:
            if week.name == wanted:
                return week
        raise CurriculumError(f"{name!r} is not a week; the weeks are {', '.join(w.name for w in self.weeks)}")


def load_plan(path: Path = PLAN_FILE) -> Plan:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        weeks = tuple(
            Week(
                name=w["name"],
                title=w["title"],
                days=tuple(w["days"]),
                mock=tuple(Question(f"{w['name']}:{slug(m['question'])}", w["name"], m["question"], tuple(m["points"]))
                           for m in w.get("mock", [])),
                goals=tuple(Goal(g["goal"], tuple(g["days"])) for g in w.get("goals", [])),
            )
            for w in data["weeks"]
        )
        return Plan(weeks, tuple(data["reflection_prompts"]))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise CurriculumError(f"the interview plan {path} cannot be read: {exc!r}") from None


def same_question(a: str, b: str) -> bool:
    """Whether two wordings ask the same thing, so a mock does not ask it twice (the plan's
    wording and a README's often differ by a few words)."""
    words_a, words_b = set(WORD.findall(a.lower())), set(WORD.findall(b.lower()))
    return len(words_a & words_b) / max(len(words_a | words_b), 1) >= SAME_QUESTION
