"""`katas mock week1`: a timed mock interview, as the plan ends each week.

The plan's mock questions for the week plus one question from each of the week's days
(the one the learner has not practised, or answered worst), under one clock: 60 minutes
by default. While the clock runs the learner only answers, as in a real interview; the
remaining time is redrawn in front of the answer in a terminal, and printed with each
question otherwise. When every question is answered or the time is up, the clock stops
and each answer is marked against its checklist. The summary gives each question's time
and points. Answers are saved as they are given, so Ctrl-C keeps them (unmarked).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from .answer_input import EndOfInput, TimeUp, clock_text
from .curriculum import load_day
from .interview_plan import Week, load_plan, same_question
from .interview_session import (
    INTERRUPTED,
    Terminal,
    answer_record,
    ask_marks,
    no_answers,
    percent,
    print_questions,
    read_answer,
    show_marks,
    show_question,
)
from .practice_store import PracticeStore
from .questions import Question, day_questions

DEFAULT_MINUTES = 60.0


def draw_questions(root: Path, week: Week, store: PracticeStore, rng: random.Random) -> list[Question]:
    """The plan's questions for the week and one per day of the week, the plan's first
    question first (it is the broad opener) and the rest in random order."""
    drawn = []
    for name in week.days:
        if not (root / "katas" / name / "kata.toml").is_file():
            continue
        candidates = [q for q in day_questions(load_day(root, name))
                      if not any(same_question(q.text, m.text) for m in week.mock)]
        if candidates:
            drawn.append(min(candidates, key=lambda q: _need(store, q, rng)))
    opener, rest = list(week.mock[:1]), [*week.mock[1:], *drawn]
    rng.shuffle(rest)
    return opener + rest


def _need(store: PracticeStore, question: Question, rng: random.Random) -> tuple:
    """Never practised first, then the worst last score, then the earliest due; ties at random."""
    card = store.cards.get(question.id)
    if card is None:
        return (0, 0.0, "", rng.random())
    return (1, card.last_score, card.due, rng.random())


def run_mock(store: PracticeStore, term: Terminal, week: Week, questions: list[Question], *, minutes: float,
             aloud: bool) -> int:
    session = store.start_session("mock", week.name, term.now().isoformat(timespec="seconds"),
                                  minutes=minutes, aloud=aloud)
    term.console.rule(f"[bold]Mock interview · {week.name}: {escape(week.title)}")
    term.console.print(f"{len(questions)} questions in {clock_text(minutes * 60)}. Answer as you would in the "
                       "interview; marking comes after the clock stops. Ctrl-C stops and keeps your answers.")
    deadline = term.clock() + minutes * 60
    stopped = None
    for number, question in enumerate(questions, 1):
        left = deadline - term.clock()
        if left <= 0:
            stopped = "time"
            break
        started = term.clock()
        try:  # Ctrl-C may come at any point of a question, also while it is being shown
            show_question(term, question, f"question {number} of {len(questions)} · {clock_text(left)} left · "
                                          f"about {clock_text(left / (len(questions) - number + 1))} for this one")
            text = read_answer(term, aloud=aloud, deadline=deadline)
            store.record(session, answer_record(question, text, term.clock() - started, None), term.today)
        except TimeUp as exc:
            store.record(session, answer_record(question, exc.partial, term.clock() - started, None), term.today)
            stopped = "time"
            break
        except EndOfInput as exc:
            if exc.partial:
                store.record(session, answer_record(question, exc.partial, term.clock() - started, None), term.today)
            stopped = "input ended"
            break
        except KeyboardInterrupt:
            stopped = "interrupted"
            break
    if not session["answers"] and stopped == "input ended" and not term.live:
        no_answers(term, f"katas mock {week.name} --print")
        return 1
    if stopped == "time":
        term.console.print("\n[bold red]⏰ Time is up.[/]")
    if stopped in (None, "time"):
        stopped = _mark_all(store, term, session, {q.id: q for q in questions})
    _summary(term, session, questions, stopped)
    return INTERRUPTED if stopped == "interrupted" else 0


def _mark_all(store: PracticeStore, term: Terminal, session: dict, by_id: dict[str, Question]) -> str | None:
    """Mark each answer after the clock stopped; None, or why marking stopped early."""
    if session["answers"]:
        term.console.rule("[bold]Marking: which points did each answer cover?")
    for index, answer in enumerate(session["answers"]):
        question = by_id[answer["id"]]
        try:  # Ctrl-C may come at any point, also while an answer is being shown
            show_question(term, question, f"your answer {index + 1} of {len(session['answers'])}")
            if answer["answer"]:
                term.console.print(f"[italic]{escape(answer['answer'])}[/]")
            covered = ask_marks(term, question)
            show_marks(term, question, covered, store.mark(session, index, covered, term.today))
        except EndOfInput:
            return "input ended"
        except KeyboardInterrupt:
            return "interrupted"
    return None


def _summary(term: Terminal, session: dict, questions: list[Question], stopped: str | None) -> None:
    if stopped in ("input ended", "interrupted"):
        term.console.print(f"\n[yellow]Mock {stopped}.[/] Every answer given so far is saved; unmarked ones show '–'.")
    answers = session["answers"]
    table = Table(title=f"Mock interview {session['subject']}: summary")
    for column in ("#", "question", "from", "time", "points"):
        table.add_column(column)
    for number, question in enumerate(questions, 1):
        if number <= len(answers):
            answer = answers[number - 1]
            points = "–" if answer["covered"] is None else f"{len(answer['covered'])}/{answer['points']}"
            table.add_row(str(number), escape(question.text), question.source, clock_text(answer["seconds"]), points)
        else:
            table.add_row(str(number), escape(question.text), question.source, "", "[dim]not reached[/]")
    term.console.print(table)
    marked = [a for a in answers if a["covered"] is not None]
    covered, total = sum(len(a["covered"]) for a in marked), sum(a["points"] for a in marked)
    used = sum(a["seconds"] for a in answers)
    term.console.print(f"[bold]{len(answers)} of {len(questions)} questions answered in {clock_text(used)}; "
                       f"{covered}/{total} points covered ({percent(covered, total)}).[/]")


def cmd_mock(root: Path, args: argparse.Namespace, term: Terminal | None = None,
             rng: random.Random | None = None) -> int:
    term = term or Terminal.real()
    week = load_plan().week(args.week)
    if args.minutes <= 0:
        term.console.print("[red]--minutes must be more than 0[/]")
        return 2
    store = PracticeStore(root, term.warn)
    questions = draw_questions(root, week, store, rng or random.Random())
    if args.print:
        print_questions(term.console, f"Mock interview {week.name}: {week.title}", questions)
        return 0
    return run_mock(store, term, week, questions, minutes=args.minutes, aloud=args.aloud)


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mock", help="a timed mock interview with the plan's questions for a week")
    p.add_argument("week", help="week1, week2 or week3")
    p.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="length of the interview (default 60)")
    p.add_argument("--aloud", action="store_true", help="answer out loud and press Enter instead of typing")
    p.add_argument("--print", action="store_true", help="list a mock's questions and strong answers, no clock")
    p.set_defaults(func=cmd_mock)
