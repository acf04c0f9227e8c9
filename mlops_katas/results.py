"""Results files compatible with Exercism's test-runner `results.json` (version 3).

Extended with `day`, `score` and `max_score` so GitHub Classroom-style graders and
`katas score` read per-test partial credit from the same file.
"""

from __future__ import annotations

import inspect
import json
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DIR = Path(".katas") / "results"  # a learner's own runs; --impl runs write nowhere by default
MAX_OUTPUT = 500  # Exercism truncates learner output to 500 characters.
MAX_MESSAGE = 4000
NOT_RUN = "notrun"


@dataclass
class TestResult:
    name: str
    task_id: int | None
    test_code: str
    status: str = "notrun"  # pass | fail | error | skip, or notrun (-x stopped the run first)
    message: str | None = None
    output: str | None = None
    passes_on_stub: str | None = None  # the reason, for tests allowed to pass on stubs


@dataclass
class DayResults:
    day: str
    tests: dict[str, TestResult] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        tests = [_reported(t) for t in self.tests.values()]
        score = sum(t.status == "pass" for t in tests)
        if self.errors:
            status, message = "error", "\n".join(self.errors)
        elif tests and score == len(tests):
            status, message = "pass", None
        else:
            status, message = "fail", None
        return {
            "version": 3,
            "status": status,
            "message": message,
            "day": self.day,
            "score": score,
            "max_score": len(tests),
            "tests": [
                {k: v for k, v in vars(t).items() if v is not None or k in ("message", "output")}
                for t in tests
            ],
        }


def _reported(test: TestResult) -> TestResult:
    """A test the run never reached is reported as skipped, never as passed."""
    if test.status != NOT_RUN:
        return test
    return replace(test, status="skip", message="not run: the run stopped before this test")


def test_code(function) -> str:
    try:
        lines, _ = inspect.getsourcelines(function)
    except (OSError, TypeError):
        return ""
    body = [i for i, line in enumerate(lines) if line.lstrip().startswith("def ")]
    start = body[0] + 1 if body else 0
    return textwrap.dedent("".join(lines[start:])).strip()


def truncate(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return text if len(text) <= limit else text[:limit] + f"... (truncated, {len(text)} chars)"


def write(results: DayResults, folder: Path, *, partial: bool = False) -> Path:
    """Write a day's results. A partial run (-k, one file, -x stopping early) updates only
    the tests it ran and keeps the last known status of the others. A run whose modules
    could not be imported keeps the last known tests too (with the error on top): a typo
    must not turn "40/47" into "0/31"."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{results.day}.json"
    merged = DayResults(results.day, errors=list(results.errors))
    stopped_early = any(t.status == NOT_RUN for t in results.tests.values())
    if (partial or stopped_early or results.errors) and path.is_file():
        for test in _previous_tests(path):
            merged.tests[test.name] = test
    for test in results.tests.values():
        if test.status != NOT_RUN or test.name not in merged.tests:
            merged.tests[test.name] = test
    path.write_text(json.dumps(merged.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def _previous_tests(path: Path) -> list[TestResult]:
    try:
        tests = json.loads(path.read_text(encoding="utf-8"))["tests"]
        return [TestResult(**{k: t.get(k) for k in TestResult.__dataclass_fields__}) for t in tests]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def read_all(folder: Path) -> dict[str, dict]:
    """Every readable day results file; a corrupt or oddly shaped one is left out (the
    next run of that day rewrites it), never a traceback."""
    found = {}
    for path in sorted(folder.glob("day*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (isinstance(data, dict) and isinstance(data.get("score"), int) and isinstance(data.get("max_score"), int)
                and isinstance(data.get("tests", []), list)):
            found[path.stem] = data
    return found
