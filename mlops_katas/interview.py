"""`katas interview`: practise a day's interview questions, or review the ones that are due.

One question at a time: the learner answers (typed, or aloud with `--aloud`), then marks
which strong-answer points the answer covered. Each marked answer is saved at once and
reschedules its question (Leitner boxes, see practice_store), so `--review` brings back the
weak ones first. `--print` lists the questions with their points, for reading without a
terminal. This module also registers `katas mock` and `katas reflect` with the CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from . import journal, mock_interview
from .answer_input import EndOfInput
from .curriculum import CurriculumError, all_days
from .interview_plan import load_plan
from .interview_session import (
    INTERRUPTED,
    Terminal,
    answer_record,
    ask_marks,
    day_or_fail,
    no_answers,
    percent,
    print_questions,
    read_answer,
    show_marks,
    show_question,
)
from .practice_store import PracticeStore
from .questions import Question, day_questions, questions_by_id

DEFAULT_REVIEW = 10


def practise(store: PracticeStore, term: Terminal, questions: list[Question], *, kind: str, subject: str,
             aloud: bool, print_command: str) -> int:
    """Ask each question, mark it, save it; an interruption keeps every answer given so far."""
    session = store.start_session(kind, subject, term.now().isoformat(timespec="seconds"), aloud=aloud)
    stopped = None
    for number, question in enumerate(questions, 1):
        started = term.clock()
        try:  # Ctrl-C may come at any point of a question, also while it is being shown
            show_question(term, question, f"{question.source} · question {number} of {len(questions)}")
            text = read_answer(term, aloud=aloud)
            seconds = term.clock() - started
            covered = ask_marks(term, question)
            card = store.record(session, answer_record(question, text, seconds, covered), term.today)
            show_marks(term, question, covered, card)
        except EndOfInput as exc:
            if exc.partial:
                store.record(session, answer_record(question, exc.partial, term.clock() - started, None), term.today)
            stopped = "input ended"
            break
        except KeyboardInterrupt:
            stopped = "interrupted"
            break
    marked = [a for a in session["answers"] if a["covered"] is not None]
    if not session["answers"] and stopped == "input ended" and not term.live:
        no_answers(term, print_command)
        return 1
    _summary(term, subject, marked, stopped, len(questions))
    return INTERRUPTED if stopped == "interrupted" else 0


def _summary(term: Terminal, subject: str, marked: list[dict], stopped: str | None, asked: int) -> None:
    if stopped:
        term.console.print(f"\n[yellow]Session {stopped}.[/] Every answer given so far is saved.")
    if not marked:
        return
    table = Table(title=f"{subject}: {len(marked)} of {asked} questions answered")
    for column in ("question", "points", "time"):
        table.add_column(column)
    for answer in marked:
        table.add_row(escape(answer["question"]), f"{len(answer['covered'])}/{answer['points']}",
                      f"{answer['seconds']:.0f} s")
    term.console.print(table)
    covered, total = sum(len(a["covered"]) for a in marked), sum(a["points"] for a in marked)
    term.console.print(f"[bold]{covered}/{total} points ({percent(covered, total)})[/]. "
                       "Weak answers come back sooner: [bold]katas interview --review[/]")


def review_questions(root: Path, store: PracticeStore, term: Terminal, day: str | None, limit: int) -> list[Question]:
    known = questions_by_id(all_days(root), tuple(q for w in load_plan().weeks for q in w.mock))
    ids = {qid for qid, q in known.items() if day is None or q.source == day}
    return [known[qid] for qid in store.due(term.today, ids)][:limit]


def cmd_interview(root: Path, args: argparse.Namespace, term: Terminal | None = None) -> int:
    term = term or Terminal.real()
    if args.day is None and not args.review:
        raise CurriculumError("say which day (e.g. katas interview day03), or --review for the questions that are due")
    day = day_or_fail(root, args.day) if args.day else None
    store = PracticeStore(root, term.warn)
    if args.review:
        questions = review_questions(root, store, term, day and day.name, args.limit)
        subject = f"review {day.name}" if day else "review"
        if not questions:
            upcoming = sorted((card.due, qid) for qid, card in store.cards.items()
                              if day is None or qid.startswith(f"{day.name}:"))
            term.console.print(f"Nothing is due for review. Next: {upcoming[0][0]}." if upcoming else
                               "Nothing to review yet: practise first, e.g. [bold]katas interview day01[/].")
            return 0
    else:
        questions = list(day_questions(day))
        subject = day.name
        if not questions:
            term.console.print(f"{day.name} has no interview questions yet (its README has no "
                               "'## Interview questions' section).")
            return 1
    if args.print:
        print_questions(term.console, f"{subject}: {day.title if day and not args.review else 'due questions'}",
                        questions)
        return 0
    print_command = f"katas interview {day.name if day else ''}{' --review' if args.review else ''} --print"
    return practise(store, term, questions, kind="review" if args.review else "interview", subject=subject,
                    aloud=args.aloud, print_command=" ".join(print_command.split()))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interview", help="practise a day's interview questions; --review brings back weak ones")
    p.add_argument("day", nargs="?", help="e.g. day03 or 3 (optional with --review)")
    p.add_argument("--review", action="store_true", help="the questions due again, worst answered first")
    p.add_argument("--limit", type=int, default=DEFAULT_REVIEW, help="at most this many questions in a review")
    p.add_argument("--aloud", action="store_true", help="answer out loud and press Enter instead of typing")
    p.add_argument("--print", action="store_true", help="list the questions and strong answers, no practice")
    p.set_defaults(func=cmd_interview)
    mock_interview.add_command(sub)
    journal.add_command(sub)
