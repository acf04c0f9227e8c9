"""The pytest plugin every kata run loads (from the top-level conftest.py).

It decides which folder each day's code comes from, keeps days apart, turns stub and
timeout failures into one friendly line, skips or fails infrastructure tiers, and
writes an Exercism-style results file per day.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from . import results as results_mod
from .curriculum import Day, day_of, load_day
from .impl import ModuleSwitch, resolve_impl_dir
from .learner import (
    TASK_IN_MESSAGE,
    LearnerTimeout,
    StubNotDone,
    relative,
    stub_task,
    todo_message,
)
from .tiers import TIERS, Tiers

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("katas")
    group.addoption(
        "--impl",
        default=os.environ.get("KATAS_IMPL") or None,
        help="run the tests against this folder (holding dayNN folders, or one day's files) "
        "instead of katas/dayNN; also KATAS_IMPL",
    )
    group.addoption(
        "--require",
        action="append",
        default=[os.environ["KATAS_REQUIRE"]] if os.environ.get("KATAS_REQUIRE") else [],
        metavar="TIER",
        help=f"fail instead of skip when a tier is missing ({', '.join(TIERS)}); repeatable or comma-separated; also KATAS_REQUIRE",
    )
    group.addoption(
        "--results-dir",
        default=None,
        help="where to write dayNN.json results (default .katas/results for your own katas, none for --impl)",
    )


class KatasRun:
    """State of one pytest session: days seen, the module switch, tiers, results."""

    def __init__(self, config: pytest.Config) -> None:
        self.root = Path(config.rootpath)
        self.impl = config.getoption("impl")
        required = {t.strip() for opt in config.getoption("require") for t in opt.split(",") if t.strip()}
        self.tiers = Tiers(required)
        self.switch = ModuleSwitch()
        self.days: dict[str, Day] = {}
        self.results: dict[str, results_mod.DayResults] = {}
        self.partial_days: set[str] = set()  # days this run did not run in full (-k, one file)
        option = config.getoption("results_dir")
        if option:
            self.results_dir: Path | None = Path(option)
        elif self.impl is None:
            self.results_dir = self.root / results_mod.DEFAULT_DIR
        else:
            self.results_dir = None

    def day_for(self, path: Path) -> Day | None:
        name = day_of(path.relative_to(self.root) if path.is_relative_to(self.root) else path)
        if name is None or not (self.root / "katas" / name / "kata.toml").is_file():
            return None
        if name not in self.days:
            self.days[name] = load_day(self.root, name)
        return self.days[name]

    def impl_dir(self, day: Day) -> Path:
        return resolve_impl_dir(day, self.impl)

    # Registered as a plugin object so these hooks can reach the run's state.
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for day_results in self.results.values():
            test = day_results.tests.get(report.nodeid)
            if test is not None:
                _record(test, report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.results_dir is None or session.config.option.collectonly:
            return
        for name, day_results in self.results.items():
            results_mod.write(day_results, self.results_dir, partial=name in self.partial_days)


def _record(test: results_mod.TestResult, report: pytest.TestReport) -> None:
    """One phase's outcome; the first failure or skip of a test decides its status."""
    if report.failed and test.status in (results_mod.NOT_RUN, "pass"):
        test.status = "fail" if report.when == "call" else "error"
        test.message = results_mod.truncate(str(report.longrepr), results_mod.MAX_MESSAGE)
    elif report.skipped and test.status == results_mod.NOT_RUN:
        test.status = "skip"
        longrepr = report.longrepr
        test.message = str(longrepr[-1]) if isinstance(longrepr, tuple) else str(longrepr)
    elif report.passed and report.when == "call" and test.status == results_mod.NOT_RUN:
        test.status = "pass"
    if report.when == "call":
        test.output = results_mod.truncate(report.capstdout, results_mod.MAX_OUTPUT)


RUN = pytest.StashKey[KatasRun]()


def _run(config: pytest.Config) -> KatasRun:
    return config.stash[RUN]


def pytest_configure(config: pytest.Config) -> None:
    run = KatasRun(config)
    config.stash[RUN] = run
    config.pluginmanager.register(run, "katas-run")


# --- keeping days apart -------------------------------------------------------


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        run = _run(collector.config)
        day = run.day_for(Path(collector.path))
        if day is not None:
            run.switch.activate(run.impl_dir(day))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    run = _run(item.config)
    day = run.day_for(Path(item.path))
    if day is not None:
        run.switch.activate(run.impl_dir(day))
    for tier in TIERS:
        if item.get_closest_marker(tier) is None:
            continue
        reason = run.tiers.missing(tier)
        if reason is None:
            continue
        if tier in run.tiers.required:
            pytest.fail(f"{tier} tier required but unavailable: {reason}", pytrace=False)
        pytest.skip(f"{tier} tier skipped: {reason}")


# --- fixtures -----------------------------------------------------------------


@pytest.fixture
def kata_day(request: pytest.FixtureRequest) -> Day:
    """The day the requesting test belongs to."""
    day = _run(request.config).day_for(Path(request.node.path))
    if day is None:
        pytest.fail(f"{request.node.nodeid} is not inside a katas/dayNN folder", pytrace=False)
    return day


@pytest.fixture
def impl_dir(request: pytest.FixtureRequest, kata_day: Day) -> Path:
    """The folder the day's code is taken from (stubs, solutions or a --impl folder)."""
    return _run(request.config).impl_dir(kata_day)


@pytest.fixture
def learner_file(request: pytest.FixtureRequest, kata_day: Day, impl_dir: Path):
    """Path of a learner-edited non-Python file; an untouched stub fails with the task line."""
    root = _run(request.config).root

    def get(name: str) -> Path:
        path = impl_dir / name
        if not path.is_file():
            pytest.fail(f"{relative(path, root)} does not exist: {kata_day.name} expects it "
                        f"('katas hint {kata_day.name}')", pytrace=False)
        task = stub_task(path)
        if task is not None:
            raise StubNotDone(todo_message(kata_day.name, task, name, relative(path, root)))
        return path

    return get


# --- timeouts: pytest-timeout settings, our own friendly SIGALRM ------------------


@pytest.hookimpl
def pytest_timeout_set_timer(item: pytest.Item, settings) -> bool | None:
    if settings.method != "signal" or not settings.timeout or settings.timeout <= 0:
        return None

    def on_alarm(signum, frame):
        raise LearnerTimeout(settings.timeout, frame)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


@pytest.hookimpl
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    return True


# --- friendly failures ----------------------------------------------------------


def _task_of(item: pytest.Item) -> int | None:
    marker = item.get_closest_marker("task")
    if marker is None:
        return None
    return marker.kwargs.get("taskno", marker.args[0] if marker.args else None)


def _frames_in(folder: Path, tb):
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if Path(filename).resolve().is_relative_to(folder):
            yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def friendly_message(item: pytest.Item, excinfo: pytest.ExceptionInfo) -> str | None:
    run = _run(item.config)
    day = run.day_for(Path(item.path))
    if day is None:
        return None
    return _explain(run, day, item, excinfo.value)


def _explain(run: KatasRun, day: Day, item: pytest.Item, exc: BaseException) -> str | None:
    if isinstance(exc, BaseExceptionGroup):
        # Hypothesis groups distinct failures; a stub reached in any of them explains them all.
        return next(filter(None, (_explain(run, day, item, inner) for inner in exc.exceptions)), None)
    if isinstance(exc, StubNotDone):
        return str(exc)
    folder = run.impl_dir(day)
    if isinstance(exc, NotImplementedError):
        frames = list(_frames_in(folder, exc.__traceback__))
        if not frames:
            return None
        frame, _ = frames[-1]
        match = TASK_IN_MESSAGE.search(str(exc))
        task = int(match.group(1)) if match else _task_of(item)
        return todo_message(day.name, task, frame.f_code.co_qualname,
                            relative(Path(frame.f_code.co_filename), run.root))
    if isinstance(exc, LearnerTimeout):
        where = "in the test itself"
        frame = exc.frame
        while frame is not None:
            filename = frame.f_code.co_filename
            if Path(filename).resolve().is_relative_to(folder):
                where = f"in {frame.f_code.co_qualname} ({relative(Path(filename), run.root)} line {frame.f_lineno})"
                break
            frame = frame.f_back
        task = _task_of(item)
        return (f"{day.name} task {task}: stopped after {exc.seconds:g} s, still running {where}; "
                f"is there a loop that never ends or a call with no timeout? ('katas hint {day.name}')")
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.excinfo is not None and report.failed:
        message = friendly_message(item, call.excinfo)
        if message is not None:
            report.longrepr = message
    if report.failed:
        for title, produce in item.stash.get(FAILURE_CONTEXT, []):
            try:
                report.sections.append((title, produce()))
            except Exception as exc:  # context is a courtesy; never mask the failure
                report.sections.append((title, f"(could not collect: {exc})"))


FAILURE_CONTEXT = pytest.StashKey[list]()


def add_failure_context(item: pytest.Item, title: str, produce) -> None:
    """Attach extra text (a container's log tail, a server log) to the report if the test fails."""
    item.stash.setdefault(FAILURE_CONTEXT, []).append((title, produce))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report = outcome.get_result()
    if not (report.failed and isinstance(collector, pytest.Module)):
        return
    run = _run(collector.config)
    day = run.day_for(Path(collector.path))
    if day is None:
        return
    message = _import_error_message(run, day, report)
    if message:
        report.longrepr = message
        run.results.setdefault(day.name, results_mod.DayResults(day.name)).errors.append(message)


def _import_error_message(run: KatasRun, day: Day, report) -> str | None:
    text = str(report.longrepr)
    folder = run.impl_dir(day)
    for line in text.splitlines():
        if str(folder) in line or relative(folder, run.root) in line:
            last = text.strip().splitlines()[-1].lstrip("E ").strip()
            return (f"{day.name}: your code could not be imported ({last}); "
                    f"see {line.strip()} and fix it, then run again")
    if "ImportError" in text or "ModuleNotFoundError" in text:
        last = text.strip().splitlines()[-1].lstrip("E ").strip()
        return (f"{day.name}: {last}; the tests import {', '.join(day.files)} from "
                f"{relative(folder, run.root)}")
    return None


# --- results --------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run each day's test files in task order (task 1's file first), files kept whole so
    module fixtures (trained models, containers) are set up once."""
    first_task: dict[Path, int] = {}
    for item in items:
        task = _task_of(item)
        if task is not None:
            path = Path(item.path)
            first_task[path] = min(first_task.get(path, task), task)
    day_position: dict[str | None, int] = {}
    for item in items:
        day_position.setdefault(day_of(Path(item.path)), len(day_position))
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (day_position[day_of(Path(item.path))],
                                 first_task.get(Path(item.path), 0), order[id(item)]))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Register the tests that will run (after -k and other deselection) in the results."""
    run = _run(session.config)
    for item in session.items:
        day = run.day_for(Path(item.path))
        if day is None:
            continue
        day_results = run.results.setdefault(day.name, results_mod.DayResults(day.name))
        day_results.tests[item.nodeid] = results_mod.TestResult(
            name=item.nodeid.split(f"{day.name}/", 1)[-1],
            task_id=_task_of(item),
            test_code=results_mod.test_code(getattr(item, "function", None)),
            passes_on_stub=_passes_on_stub(item),
        )
    collected = {Path(item.path) for item in session.items}
    for name, day in run.days.items():
        if not set(day.path.glob("test_*.py")) <= collected:
            run.partial_days.add(name)


def pytest_deselected(items) -> None:
    for item in items:
        run = _run(item.config)
        day = run.day_for(Path(item.path))
        if day is not None:
            run.partial_days.add(day.name)


def _passes_on_stub(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("passes_on_stub")
    if marker is None:
        return None
    return marker.kwargs.get("reason") or "allowed to pass on the stub"


def pytest_report_header(config: pytest.Config) -> str | None:
    run = _run(config)
    if run.impl:
        return f"katas: testing the implementation in {run.impl}"
    return None


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if config.option.collectonly:
        return
    run = _run(config)
    probed = run.tiers.probed()
    if probed:
        parts = [f"{tier}={'ok' if reason is None else 'MISSING'}" for tier, reason in probed.items()]
        terminalreporter.write_line("katas tiers: " + ", ".join(parts))
    for name, day_results in sorted(run.results.items()):
        data = day_results.to_json()
        if name in run.partial_days:
            verdict = " (part of the day ran; run the whole day to complete it)"
        else:
            verdict = " — day complete!" if data["status"] == "pass" else ""
        terminalreporter.write_line(f"katas {name}: {data['score']}/{data['max_score']} tests pass{verdict}")
