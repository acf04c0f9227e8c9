"""The learner's interview practice in `.katas/interview/practice.json`: answers and a schedule.

Scheduling is Leitner boxes, simple enough to explain in one line each:
- a new question starts in box 1; each box has an interval: 1, 2, 4, 8, 16 days;
- an answer covering at least 80 % of the strong-answer points moves the question up one box,
  one covering less than half sends it back to box 1, anything between keeps its box;
- the question is due again the box's interval after the answer.
`katas interview --review` asks the due questions, the worst last score first and, among
equals, the longest overdue first. So a question answered well comes back later, a weak one
tomorrow.

Every answer is saved as soon as it is marked (an interrupted session keeps what was
answered), each time by writing a temporary file and renaming it over the old one, so a
crash never leaves half a file. A file that cannot be read is kept aside as `.bak` with a
warning and practice starts afresh: never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

STORE_FILE = Path(".katas") / "interview" / "practice.json"
FORMAT_VERSION = 1
INTERVALS_DAYS = (1, 2, 4, 8, 16)  # box 1..5
PROMOTE_AT = 0.8
DEMOTE_BELOW = 0.5


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, so readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".tmp", delete=False) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


@dataclass
class Card:
    """Where one question stands: its box, when it is due, how the last answer went."""

    box: int
    due: str  # ISO date
    last_score: float
    last_practised: str  # ISO date
    attempts: int = 1

    def overdue_days(self, today: date) -> int:
        return (today - date.fromisoformat(self.due)).days


def next_card(card: Card | None, score: float, today: date) -> Card:
    """The Leitner step for an answer scoring `score` (0..1) today."""
    box = card.box if card else 1
    if score >= PROMOTE_AT and card is not None:
        box = min(box + 1, len(INTERVALS_DAYS))
    elif score >= PROMOTE_AT:
        box = 2  # a first answer that is already strong skips the next-day repeat
    elif score < DEMOTE_BELOW:
        box = 1
    due = today + timedelta(days=INTERVALS_DAYS[box - 1])
    return Card(box, due.isoformat(), round(score, 3), today.isoformat(), (card.attempts + 1) if card else 1)


class PracticeStore:
    """Cards per question id and the sessions with their answers."""

    def __init__(self, root: Path, warn: Callable[[str], None]) -> None:
        self.path = root / STORE_FILE
        self.warn = warn
        self.cards: dict[str, Card] = {}
        self.sessions: list[dict] = []
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("cards"), dict) \
                    or not isinstance(data.get("sessions"), list):
                raise ValueError("not a practice file")
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            backup = self.path.with_suffix(".json.bak")
            shutil.copy2(self.path, backup)
            self.warn(f"{self.path} was unreadable ({exc.__class__.__name__}); kept a copy in {backup} "
                      "and started a fresh practice record")
            return
        dropped = 0
        for question_id, raw in data["cards"].items():
            try:
                card = Card(**raw)
                date.fromisoformat(card.due)
                date.fromisoformat(card.last_practised)
                if not 1 <= int(card.box) <= len(INTERVALS_DAYS) or not 0 <= float(card.last_score) <= 1:
                    raise ValueError(card.box)
                self.cards[question_id] = card
            except (TypeError, ValueError):
                dropped += 1
        self.sessions = [s for s in data["sessions"] if isinstance(s, dict) and isinstance(s.get("answers"), list)]
        dropped += len(data["sessions"]) - len(self.sessions)
        if dropped:
            self.warn(f"{self.path}: skipped {dropped} damaged entr{'y' if dropped == 1 else 'ies'}")

    def save(self) -> None:
        data = {"format_version": FORMAT_VERSION,
                "cards": {k: asdict(v) for k, v in sorted(self.cards.items())},
                "sessions": self.sessions}
        atomic_write_text(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def start_session(self, kind: str, subject: str, started: str, **details) -> dict:
        session = {"kind": kind, "subject": subject, "started": started, **details, "answers": []}
        self.sessions.append(session)
        return session

    def record(self, session: dict, answer: dict, today: date) -> Card | None:
        """Add one answer to `session`, reschedule its question if it is marked, and save."""
        session["answers"].append(answer)
        return self._reschedule(answer, today)

    def mark(self, session: dict, index: int, covered: list[int], today: date) -> Card | None:
        """Mark an answer recorded unmarked (a mock's answers are marked after the clock stops)."""
        answer = session["answers"][index]
        answer["covered"] = covered
        return self._reschedule(answer, today)

    def _reschedule(self, answer: dict, today: date) -> Card | None:
        card = None
        if answer.get("covered") is not None and answer["points"]:
            card = next_card(self.cards.get(answer["id"]), len(answer["covered"]) / answer["points"], today)
            self.cards[answer["id"]] = card
        self.save()
        return card

    def due(self, today: date, ids: set[str] | None = None) -> list[str]:
        """Question ids due today, worst last score first, then the longest overdue."""
        due = [(card.last_score, -card.overdue_days(today), qid) for qid, card in self.cards.items()
               if card.overdue_days(today) >= 0 and (ids is None or qid in ids)]
        return [qid for _, _, qid in sorted(due)]
