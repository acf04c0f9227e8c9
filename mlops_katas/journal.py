"""`katas reflect day03`: the plan's end-of-day reflection, kept as Markdown.

Each day has one journal, `.katas/journal/dayNN.md`, that a learner can read, edit or
commit. A second reflection on the same day appends a dated entry, so earlier thoughts are
never overwritten. `katas list` marks the days that have one.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rich.markdown import Markdown
from rich.markup import escape

from .answer_input import EndOfInput
from .curriculum import Day
from .interview_plan import load_plan
from .interview_session import INTERRUPTED, Terminal, day_or_fail, no_answers
from .practice_store import atomic_write_text

JOURNAL_DIR = Path(".katas") / "journal"


def journal_path(root: Path, day: str) -> Path:
    return root / JOURNAL_DIR / f"{day}.md"


def reflected_days(root: Path) -> set[str]:
    folder = root / JOURNAL_DIR
    return {p.stem for p in folder.glob("day*.md") if p.stat().st_size} if folder.is_dir() else set()


def entry_markdown(when: datetime, answers: list[tuple[str, str]]) -> str:
    lines = [f"## {when.strftime('%Y-%m-%d %H:%M')}", ""]
    for prompt, text in answers:
        lines += [f"### {prompt}", "", text.strip() or "_(no answer)_", ""]
    return "\n".join(lines)


def append_entry(root: Path, day: Day, when: datetime, answers: list[tuple[str, str]],
                 warn: Callable[[str], None]) -> Path:
    """Append a dated entry; a journal that cannot be read is kept aside as `.bak` and begun anew."""
    path = journal_path(root, day.name)
    header = f"# {day.name} — {day.title}: journal\n\n"
    try:
        before = path.read_text(encoding="utf-8").rstrip("\n") + "\n\n"
    except FileNotFoundError:
        before = header
    except (OSError, UnicodeDecodeError) as exc:
        backup = path.with_suffix(".md.bak")
        shutil.copy2(path, backup)
        warn(f"{path} was unreadable ({exc.__class__.__name__}); kept a copy in {backup} and began it anew")
        before = header
    atomic_write_text(path, before + entry_markdown(when, answers))
    return path


def read_multiline(term: Terminal) -> str:
    """Lines until an empty one; EndOfInput carries every line typed so far."""
    lines: list[str] = []
    while True:
        try:
            line = term.reader.line()
        except EndOfInput as exc:
            exc.partial = "\n".join([*lines, exc.partial]).strip()
            raise
        if not line.strip():
            return "\n".join(lines)
        lines.append(line)


def reflect(root: Path, term: Terminal, day: Day, prompts: tuple[str, ...]) -> int:
    term.console.rule(f"[bold]Reflection · {day.name}: {escape(day.title)}")
    term.console.print("[dim]Write a few lines for each prompt; an empty line moves on.[/]")
    answers: list[tuple[str, str]] = []
    stopped = None
    for prompt in prompts:
        term.console.print(f"\n[bold cyan]{escape(prompt)}[/]")
        try:
            answers.append((prompt, read_multiline(term)))
        except EndOfInput as exc:
            answers.append((prompt, exc.partial))
            stopped = "input ended"
            break
        except KeyboardInterrupt:
            stopped = "interrupted"
            break
    if not any(text.strip() for _, text in answers):
        if stopped == "input ended" and not term.live:
            no_answers(term)
        term.console.print("Nothing written, so nothing saved.")
        return INTERRUPTED if stopped == "interrupted" else 1
    path = append_entry(root, day, term.now(), answers, term.warn)
    term.console.print(f"\nSaved to [bold]{path.relative_to(root)}[/]" + (f" ({stopped}; what you wrote is kept)"
                                                                          if stopped else ""))
    return INTERRUPTED if stopped == "interrupted" else 0


def cmd_reflect(root: Path, args: argparse.Namespace, term: Terminal | None = None) -> int:
    term = term or Terminal.real()
    day = day_or_fail(root, args.day)
    if args.show:
        path = journal_path(root, day.name)
        if not path.is_file():
            term.console.print(f"No reflection for {day.name} yet: [bold]katas reflect {day.name}[/]")
            return 1
        term.console.print(Markdown(path.read_text(encoding="utf-8", errors="replace")))
        return 0
    return reflect(root, term, day, load_plan().reflection_prompts)


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reflect", help="the end-of-day reflection, saved in .katas/journal/")
    p.add_argument("day", help="e.g. day03 or 3")
    p.add_argument("--show", action="store_true", help="show the day's journal instead of writing to it")
    p.set_defaults(func=cmd_reflect)
