"""The plan's weekly success goals, proven by days, and the interview practice done per week,
for `katas status`.

A goal ("Can containerize ML models") is met when every day that proves it passed its last
run (`.katas/results/dayNN.json`); a day not in this checkout yet keeps its goal open and
says so. Practice per week counts the week's questions (its days' and its mock's) answered
at least once, the mock interviews taken and the reflections written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import results
from .curriculum import load_day
from .interview_plan import Goal, Plan, Week, load_plan
from .journal import reflected_days
from .practice_store import PracticeStore
from .questions import day_questions


@dataclass(frozen=True)
class Practice:
    answered: int
    questions: int
    mocks: int
    best_mock: float | None  # share of points covered in the best marked mock
    reflections: int


def day_state(root: Path, day: str, found: dict[str, dict]) -> str:
    """'pass', 'fail' (run, not passing), 'new' (never run) or 'missing' (not in this checkout)."""
    if not (root / "katas" / day / "kata.toml").is_file():
        return "missing"
    status = found.get(day, {}).get("status")
    return "pass" if status == "pass" else ("new" if status is None else "fail")


def goal_met(root: Path, goal: Goal, found: dict[str, dict]) -> bool:
    return all(day_state(root, day, found) == "pass" for day in goal.days)


def week_practice(root: Path, week: Week, store: PracticeStore) -> Practice:
    ids = {q.id for q in week.mock}
    for name in week.days:
        if (root / "katas" / name / "kata.toml").is_file():
            ids |= {q.id for q in day_questions(load_day(root, name))}
    mocks = [s for s in store.sessions if s.get("kind") == "mock" and s.get("subject") == week.name]
    scores = []
    for mock in mocks:
        marked = [a for a in mock["answers"] if isinstance(a, dict) and a.get("covered") is not None]
        total = sum(a.get("points", 0) for a in marked)
        if total:
            scores.append(sum(len(a["covered"]) for a in marked) / total)
    return Practice(answered=len(ids & store.cards.keys()), questions=len(ids), mocks=len(mocks),
                    best_mock=max(scores, default=None), reflections=len(reflected_days(root) & set(week.days)))


DAY_MARK = {"pass": "[green]{day} ✓[/]", "fail": "[yellow]{day} …[/]", "new": "[dim]{day}[/]",
            "missing": "[dim]{day} (not yet available)[/]"}


def print_goals(root: Path, console: Console, plan: Plan | None = None) -> None:
    plan = plan or load_plan()
    found = results.read_all(root / results.DEFAULT_DIR)
    store = PracticeStore(root, lambda message: console.print(f"[yellow]{escape(message)}[/]"))
    for week in plan.weeks:
        table = Table(title=f"{week.name}: {escape(week.title)} — goals", title_justify="left")
        for column in ("goal", "proven by", "met"):
            table.add_column(column)
        for goal in week.goals:
            days = ", ".join(DAY_MARK[day_state(root, day, found)].format(day=day) for day in goal.days)
            table.add_row(escape(goal.text), days, "[green bold]✓[/]" if goal_met(root, goal, found) else "")
        console.print(table)
        practice = week_practice(root, week, store)
        best = f" (best {round(100 * practice.best_mock)} %)" if practice.best_mock is not None else ""
        console.print(f"  Interview practice: {practice.answered} of {practice.questions} questions answered · "
                      f"{practice.mocks} mock interview{'s' if practice.mocks != 1 else ''}{best} · "
                      f"{practice.reflections} reflection{'s' if practice.reflections != 1 else ''}. "
                      f"[dim]katas mock {week.name}[/]\n")
