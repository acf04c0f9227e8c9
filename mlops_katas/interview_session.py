"""What every interview-practice command shares: the terminal it talks through, reading a
multi-line answer, and the strong-answer checklist the learner marks.

The terminal is a value (console, line reader, clocks) so tests can hand in scripted input
and a fake clock and never wait.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from .answer_input import EndOfInput, LineReader, TimeUp
from .curriculum import CurriculumError, Day, all_days, load_day, normalise_day
from .practice_store import Card
from .questions import Question

INTERRUPTED = 130  # the exit code a shell gives Ctrl-C
CODE = re.compile(r"`([^`]+)`")
RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
ALL = ("all", "a", "*")
NONE = ("", "none", "-", "0")


@dataclass
class Terminal:
    console: Console
    reader: LineReader
    clock: Callable[[], float]  # monotonic seconds: durations and deadlines
    now: Callable[[], datetime]  # wall clock: dates and timestamps

    @classmethod
    def real(cls) -> Terminal:
        """The learner's terminal; no automatic highlighting, which would colour dates and numbers."""
        return cls(Console(highlight=False), LineReader(sys.stdin, time.monotonic), time.monotonic, datetime.now)

    @property
    def today(self) -> date:
        return self.now().date()

    @property
    def live(self) -> bool:
        """Whether a person is typing at a terminal (else input is scripted or piped)."""
        return self.reader.live

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]{escape(message)}[/]")


def day_or_fail(root: Path, text: str) -> Day:
    """The day `text` names, or a CurriculumError that lists the days there are."""
    name = normalise_day(text)
    if not (root / "katas" / name / "kata.toml").is_file():
        names = [d.name for d in all_days(root)]
        raise CurriculumError(f"there is no {name}; the days are {names[0]} to {names[-1]}" if names
                              else f"there is no {name}: this checkout has no days")
    return load_day(root, name)


def inline(text: str) -> str:
    """README text as console markup: escaped, with `code` highlighted and its backticks dropped."""
    return CODE.sub(lambda m: f"[bold cyan]{m.group(1)}[/]", escape(text))


def show_question(term: Terminal, question: Question, header: str) -> None:
    term.console.print(Panel(inline(question.text), title=escape(header), title_align="left",
                             border_style="cyan", padding=(1, 2)))


def checklist(rows: list[tuple[str, str]]) -> Table:
    """Marks and points in two columns, so a long point wraps under itself."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column()
    for mark, point in rows:
        grid.add_row(mark, point)
    return grid


def read_answer(term: Terminal, *, aloud: bool, deadline: float | None = None) -> str:
    """The learner's answer: lines until an empty one (with `aloud`, just Enter).
    EndOfInput and TimeUp carry everything typed so far."""
    if aloud:
        term.console.print("[dim]Answer out loud, then press Enter.[/]")
    else:
        term.console.print("[dim]Type your answer; an empty line finishes it.[/]")
    lines: list[str] = []
    while True:
        try:
            line = term.reader.line(deadline)
        except (EndOfInput, TimeUp) as exc:
            exc.partial = "\n".join([*lines, exc.partial]).strip()
            raise
        if aloud or not line.strip():
            return "\n".join(lines).strip()
        lines.append(line)


def parse_marks(text: str, count: int) -> list[int]:
    """'1,3-4' (or spaces), 'all', or '' / 'none' → sorted point numbers; ValueError says why not."""
    text = text.strip().lower()
    if text in ALL:
        return list(range(1, count + 1))
    if text in NONE:
        return []
    chosen: set[int] = set()
    for token in re.split(r"[,\s]+", text):
        match = RANGE.match(token)
        if not match:
            raise ValueError(f"{token!r} is not a point number; type e.g. 1,3-4, 'all' or Enter for none")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if not 1 <= first <= last <= count:
            raise ValueError(f"points are numbered 1 to {count}; {token!r} is outside")
        chosen.update(range(first, last + 1))
    return sorted(chosen)


def ask_marks(term: Terminal, question: Question) -> list[int]:
    """Show the strong-answer checklist and ask which points the answer covered."""
    term.console.print("[bold]A strong answer covers:[/]")
    term.console.print(checklist([(f"  [cyan]{n}[/]", inline(p)) for n, p in enumerate(question.points, 1)]))
    while True:
        term.console.print("[bold]Which did you cover?[/] [dim](e.g. 1,3-4 · all · Enter for none)[/] ", end="")
        try:
            return parse_marks(term.reader.line(), len(question.points))
        except ValueError as exc:
            term.console.print(f"[red]{escape(str(exc))}[/]")


def show_marks(term: Terminal, question: Question, covered: list[int], card: Card | None) -> None:
    term.console.print(checklist([
        ("  [green]✓[/]", inline(point)) if number in covered else ("  [red]✗[/]", f"[dim]{inline(point)}[/]")
        for number, point in enumerate(question.points, 1)]))
    line = f"[bold]{len(covered)}/{len(question.points)} points[/] ({percent(len(covered), len(question.points))})"
    if card is not None:
        line += f" · box {card.box} · next practice {card.due}"
    term.console.print(line)


def print_questions(console: Console, title: str, questions: list[Question]) -> None:
    """Questions with their points as Markdown: for reading, or for a terminal-less run."""
    lines = [f"# {title}", ""]
    for number, question in enumerate(questions, 1):
        lines += [f"## {number}. {question.text}", "", "**A strong answer covers:**", ""]
        lines += [f"- {point}" for point in question.points] + [""]
    console.print(Markdown("\n".join(lines)))


def no_answers(term: Terminal, print_command: str | None = None) -> None:
    term.console.print("[red]No answers came in: standard input is not a terminal.[/] Run this in a terminal"
                       + (f", or read the questions with [bold]{escape(print_command)}[/]." if print_command else "."))


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)} %" if whole else "–"


def answer_record(question: Question, text: str, seconds: float, covered: list[int] | None) -> dict:
    return {"id": question.id, "question": question.text, "answer": text, "seconds": round(seconds, 1),
            "covered": covered, "points": len(question.points)}
