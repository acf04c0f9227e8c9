"""The pytest plugin every kata run loads (from the top-level conftest.py).

It decides which folder each day's code comes from, keeps days apart, turns stub and
timeout failures into one friendly line, skips or fails infrastructure tiers, and
writes an Exercism-style results file per day.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from pathlib import Path

import pytest

from . import guards, lock, scratch
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
        "--task",
        type=int,
        default=None,
        help="run only the tests of this README task (with a day's folder: pytest katas/day15 --task 2)",
    )
    group.addoption(
        "--results-dir",
        default=None,
        help="where to write dayNN.json results (default .katas/results for your own katas, none for --impl)",
    )


class KatasRun:
    """State of one pytest session: days seen, the module switch, tiers, results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.root = Path(config.rootpath)
        self.impl = config.getoption("impl")
        required = {t.strip() for opt in config.getoption("require") for t in opt.split(",") if t.strip()}
        try:
            self.tiers = Tiers(required)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        if self.impl is not None and not Path(self.impl).expanduser().is_dir():
            raise pytest.UsageError(f"--impl {self.impl}: no such folder (give a folder holding dayNN/ "
                                    "folders, like solutions/, or one day's folder)")
        self.switch = ModuleSwitch()
        self.days: dict[str, Day] = {}
        self.results: dict[str, results_mod.DayResults] = {}
        self.partial_days: set[str] = set()  # days this run did not run in full (-k, one file)
        self.exitstatus = 0
        self.threads_before = {t.ident for t in threading.enumerate()}
        self.running: str | None = None  # the test the watchdog guards
        self.setup_errors: dict[int, tuple[str, BaseException]] = {}
        self._untouched: dict[str, bool] = {}
        self.todo: dict[tuple[str, int | None], list[str]] = {}  # (day, task) -> messages
        self.watchdog = guards.Watchdog(lambda message: self.stopped_by_watchdog(self.running or "", message))
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
        if is_todo(report):
            task = next(value for name, value in report.user_properties if name == TODO)
            day = day_of(Path(report.fspath))
            self.todo.setdefault((day or "?", task), []).append(str(report.longrepr))
        for day_results in self.results.values():
            test = day_results.tests.get(report.nodeid)
            if test is not None:
                _record(test, report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.exitstatus = int(session.exitstatus)
        if not session.config.option.collectonly:
            self.write_results()

    def write_results(self) -> None:
        if self.results_dir is None:
            return
        for name, day_results in self.results.items():
            results_mod.write(day_results, self.results_dir, partial=name in self.partial_days)

    def untouched(self, day: Day) -> bool:
        """Are all of the day's learner files, in the learner's own folder, still the stubs?"""
        if self.impl is not None:
            return False
        if day.name not in self._untouched:
            self._untouched[day.name] = lock.untouched(self.root, day, lock.stub_blobs(self.root))
        return self._untouched[day.name]

    def stopped_by_watchdog(self, nodeid: str, message: str) -> None:
        """The watchdog is about to end the process: record the overrunning test as failed
        and lift pytest's output capture so its one line reaches the terminal."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            with contextlib.suppress(Exception):
                capture.suspend_global_capture(in_=True)
        for day_results in self.results.values():
            test = day_results.tests.get(nodeid)
            if test is not None:
                test.status, test.message = "fail", message
        self.write_results()


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


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    scratch.leave()
    run = config.stash.get(RUN, None)
    if run is not None and run.days:
        guards.exit_if_threads_left(run.threads_before, run.exitstatus)


def pytest_configure(config: pytest.Config) -> None:
    scratch.enter()
    guards.limit_memory()
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
    run = _run(item.config)
    run.running = item.nodeid
    run.watchdog.arm(item.nodeid, settings.timeout)
    return True


@pytest.hookimpl
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool:
    _run(item.config).watchdog.disarm()
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    return True


# --- friendly failures ----------------------------------------------------------


def _task_of(item: pytest.Item) -> int | None:
    marker = item.get_closest_marker("task")
    if marker is None:
        return None
    return marker.kwargs.get("taskno", marker.args[0] if marker.args else None)


def _stub_frame(exc: BaseException, folder: Path):
    """The learner's frame that raised this NotImplementedError, or None.

    Only a raise in the learner's own code is a stub not done yet: a library raising its own
    subclass (pyarrow's ArrowNotImplementedError for a dtype it lacks) is an ordinary failure.
    """
    if not isinstance(exc, NotImplementedError):
        return None
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or not Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(folder):
        return None
    return tb.tb_frame


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
    frame = _stub_frame(exc, folder)
    if frame is not None:
        match = TASK_IN_MESSAGE.search(str(exc))
        task = int(match.group(1)) if match else _task_of(item)
        return todo_message(day.name, task, frame.f_code.co_qualname,
                            relative(Path(frame.f_code.co_filename), run.root))
    if isinstance(exc, MemoryError):
        return (f"{day.name} task {_task_of(item)}: ran out of memory (each test process may use "
                f"{guards.MEMORY_SHARE:.0%} of this machine's memory): a list or a recursion that never "
                f"stops growing? ('katas hint {day.name}')")
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


TODO = "katas_todo"  # user property of a failure that only reached unfinished code


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.excinfo is not None and report.failed:
        message = friendly_message(item, call.excinfo)
        if message is not None:
            report.longrepr = message
            run = _run(item.config)
            if _reached_a_stub(call.excinfo.value, run.impl_dir(run.day_for(Path(item.path)))):
                report.user_properties.append((TODO, _task_of(item)))
        elif call.when == "setup":
            _shared_setup_error(item, call, report)
    if report.failed:
        for title, produce in item.stash.get(FAILURE_CONTEXT, []):
            try:
                report.sections.append((title, produce()))
            except Exception as exc:  # context is a courtesy; never mask the failure
                report.sections.append((title, f"(could not collect: {exc})"))
    report.sections = guards.trim_sections(report.sections)


def not_started_message(item: pytest.Item) -> str | None:
    """The task line for a test of a day whose files are all untouched stubs, else None.
    Fixtures that start something slow (an MLflow server) use it to fail such a test at
    once, the way it would fail anyway at the stub, without starting anything."""
    run = _run(item.config)
    day = run.day_for(Path(item.path))
    if day is None or not run.untouched(day):
        return None
    task = _task_of(item)
    heading = day.task(task).title if task is not None and day.task(task) else ""
    name = next((f for f in day.files if f"`{f}`" in heading), day.files[0])
    return todo_message(day.name, task, name, relative(day.path / name, run.root))


def _reached_a_stub(exc: BaseException, folder: Path) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_reached_a_stub(inner, folder) for inner in exc.exceptions)
    return isinstance(exc, StubNotDone) or _stub_frame(exc, folder) is not None


def _shared_setup_error(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """A broken shared fixture (an image that does not build, a container that exits) fails
    every test that uses it with the same exception: show it once, without the chain of
    exceptions it was raised from, and point the other tests at the first."""
    run = _run(item.config)
    exc = call.excinfo.value
    first = run.setup_errors.get(id(exc))
    if first is None:
        run.setup_errors[id(exc)] = (item.nodeid, exc)  # the exception is kept so its id stays unique
        report.longrepr = call.excinfo.getrepr(style="short", chain=False, truncate_locals=True)
    else:
        report.longrepr = f"the same setup error as {first[0]} (shown there once)"


def is_todo(report: pytest.TestReport | pytest.CollectReport) -> bool:
    # A collection report (a test file that does not import) has no user properties.
    return report.failed and any(name == TODO for name, _ in getattr(report, "user_properties", ()))


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    """Failures that only reached unfinished code are counted apart ("todo") and summed
    up per task at the end, so a real failure is not buried under them."""
    if is_todo(report):
        return "todo", "t", "TODO"
    return None


FAILURE_CONTEXT = pytest.StashKey[list]()


def add_failure_context(item: pytest.Item, title: str, produce) -> None:
    """Attach extra text (a container's log tail, a server log) to the report if the test fails."""
    item.stash.setdefault(FAILURE_CONTEXT, []).append((title, produce))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    is_day_module = isinstance(collector, pytest.Module) and _run(collector.config).day_for(Path(collector.path))
    with guards.import_deadline() if is_day_module else contextlib.nullcontext():
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


LOCATION = re.compile(r'(?P<file>[^\s"]+\.py)(?:", line |:)(?P<line>\d+)')


def _import_error_message(run: KatasRun, day: Day, report) -> str | None:
    text = str(report.longrepr)
    folder = run.impl_dir(day)
    learner = {(folder / name).resolve() for name in day.files if name.endswith(".py")}
    # The innermost place in the learner's own files, not the test file that imported them.
    places = [(Path(m["file"]), int(m["line"])) for m in LOCATION.finditer(text)]
    places = [(path if path.is_absolute() else run.root / path, line) for path, line in places]
    mine = [(path, line) for path, line in places if path.resolve() in learner]
    if mine:
        path, line = mine[-1]
        last = text.strip().splitlines()[-1].lstrip("E ").strip()
        try:
            source = path.read_text(encoding="utf-8", errors="replace").splitlines()[line - 1].strip()
        except (OSError, IndexError):
            source = ""
        shown = f": {source}" if source else ""
        return (f"{day.name}: your code could not be imported ({last}); "
                f"see {relative(path, run.root)}:{line}{shown}")
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
    module fixtures (trained models, containers) are set up once; with --task, only that
    task's tests."""
    task = config.getoption("task")
    if task is not None:
        other = [item for item in items if _task_of(item) != task]
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = [item for item in items if _task_of(item) == task]
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
    for (day, task), messages in sorted(run.todo.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        first = min(messages, key=len)
        count = f"{len(messages)} test{'s' if len(messages) != 1 else ''}"
        terminalreporter.write_line(f"{first} [{count} of task {task} wait on it]")
    for name, day_results in sorted(run.results.items()):
        data = day_results.to_json()
        if name in run.partial_days:
            verdict = " (part of the day ran; run the whole day to complete it)"
        else:
            verdict = " — day complete!" if data["status"] == "pass" else ""
        terminalreporter.write_line(f"katas {name}: {data['score']}/{data['max_score']} tests pass{verdict}")
