"""Interview questions read from each day's README, so practice always follows the course.

A README's "## Interview questions" section holds `### question` headings, each followed by
a paragraph starting "**A strong answer covers:**". That paragraph is a list of points
separated by semicolons; each point becomes one item of the checklist a learner marks after
answering. A day without the section (a day still being written) simply has no questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .curriculum import Day

SECTION = re.compile(r"^## Interview questions[ \t]*$(.*?)(?=^## |\Z)", re.MULTILINE | re.DOTALL)
QUESTION = re.compile(r"^### (.+?)[ \t]*$(.*?)(?=^### |\Z)", re.MULTILINE | re.DOTALL)
STRONG = re.compile(r"\*\*A strong answer covers:\*\*\s*(.*?)(?:\n[ \t]*\n|\Z)", re.DOTALL)


@dataclass(frozen=True)
class Question:
    """One question and the points a strong answer covers. `id` is stable across runs
    (source plus a slug of the text), so the practice schedule survives reordering."""

    id: str
    source: str  # "day03", or "week1" for the plan's mock-interview questions
    text: str
    points: tuple[str, ...]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


SEMICOLON = re.compile(r";\s*")
SENTENCE = re.compile(r"\.\s+(?=[A-Z`\"])")
COMMA = re.compile(r",\s+(?:and\s+|plus\s+)?")
MIN_POINTS = 3
LONG_POINT = 160  # characters; longer points are usually several sentences
VERY_LONG_POINT = 240  # characters; a single sentence this long is usually a list
LEADING_JOIN = re.compile(r"^(?:and|plus)\s+", re.IGNORECASE)


def _split_top_level(text: str, separator: re.Pattern) -> list[str]:
    """`text` cut at every `separator` outside brackets and backticks."""
    parts, depth, in_code, start, i = [], 0, False, 0, 0
    while i < len(text):
        char = text[i]
        if char == "`":
            in_code = not in_code
        elif not in_code and char in "([{":
            depth += 1
        elif not in_code and char in ")]}":
            depth = max(depth - 1, 0)
        elif depth == 0 and not in_code and (match := separator.match(text, i)):
            parts.append(text[start:i])
            start = i = match.end()
            continue
        i += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def split_points(paragraph: str) -> tuple[str, ...]:
    """The points of a strong answer, one checklist item each: most READMEs separate them
    with semicolons; a long point written as several sentences is cut into sentences, and a
    paragraph that is one comma list (or a very long point) is cut at its commas, so every answer gives a
    checklist of a few items that can each be ticked honestly."""
    points = _split_top_level(" ".join(paragraph.split()), SEMICOLON)
    points = [part for point in points
              for part in (_split_top_level(point, SENTENCE) if len(point) > LONG_POINT or len(points) < MIN_POINTS
                           else [point])]
    few = len(points) < MIN_POINTS
    points = [part for point in points
              for part in (_split_top_level(point, COMMA) if few or len(point) > VERY_LONG_POINT else [point])]
    cleaned = (LEADING_JOIN.sub("", p.strip()).rstrip(".").strip() for p in points)
    return tuple(p[0].upper() + p[1:] for p in cleaned if p)


def parse_questions(readme: str, source: str) -> tuple[Question, ...]:
    """Every question of the README's interview section that has strong-answer points."""
    section = SECTION.search(readme)
    if section is None:
        return ()
    found = []
    for heading, body in QUESTION.findall(section.group(1)):
        strong = STRONG.search(body)
        if strong is None:
            continue
        points = split_points(strong.group(1))
        if points:
            found.append(Question(f"{source}:{slug(heading)}", source, heading.strip(), points))
    return tuple(found)


def day_questions(day: Day) -> tuple[Question, ...]:
    """The day's questions; none when its README is missing or has no interview section yet."""
    try:
        readme = day.readme.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return ()
    return parse_questions(readme, day.name)


def questions_by_id(days: list[Day], extra: tuple[Question, ...] = ()) -> dict[str, Question]:
    return {q.id: q for day in days for q in day_questions(day)} | {q.id: q for q in extra}
