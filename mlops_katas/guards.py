"""Bounds on what learner code can do to a run: each breach ends in one line, never a hang.

pytest-timeout's signal bounds a test, but learner code can still hang or flood a run:
- a loop at module level runs during import, before any test's timer: `import_deadline`
  bounds each test module's collection;
- `except BaseException: pass` around a loop swallows the timeout itself: `Watchdog`
  ends the process once a test overruns its limit by `WATCHDOG_GRACE_S`, after the run's
  results are written;
- a non-daemon thread left running keeps the interpreter alive after pytest is done:
  `exit_if_threads_left` ends the process once the run is over;
- runaway memory (a list that never stops growing) is capped by `limit_memory`, so it
  fails as a MemoryError instead of swapping the machine to a halt;
- a 50 MB print would become the report: `trim_sections` keeps its head and tail.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

IMPORT_TIMEOUT_S = float(os.environ.get("KATAS_IMPORT_TIMEOUT_S", 60))
WATCHDOG_GRACE_S = float(os.environ.get("KATAS_WATCHDOG_GRACE_S", 30))
MEMORY_SHARE = float(os.environ.get("KATAS_MEMORY_SHARE", 0.6))  # of physical memory, per test process
SECTION_LIMIT = 20_000
SECTION_HEAD = 4_000


class ImportTimeout(BaseException):
    """A test module's imports (so the learner's module-level code) ran past their deadline."""

    def __init__(self, seconds: float, frame) -> None:
        super().__init__(f"importing took longer than {seconds:g} s")
        self.seconds = seconds
        self.frame = frame


@contextmanager
def import_deadline(seconds: float = IMPORT_TIMEOUT_S) -> Iterator[None]:
    """Raise ImportTimeout in the main thread if the block runs past `seconds` (SIGALRM)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise ImportTimeout(seconds, frame)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Watchdog:
    """Ends the process when a test outlives its time limit by a grace period: the learner's
    code swallowed the timeout. `on_fire(message)` runs first (to write the results)."""

    def __init__(self, on_fire: Callable[[str], None]) -> None:
        """`on_fire` also lifts pytest's output capture, so the line reaches the terminal."""
        self._on_fire = on_fire
        self._timer: threading.Timer | None = None

    def arm(self, nodeid: str, timeout_s: float) -> None:
        self.disarm()
        self._timer = threading.Timer(timeout_s + WATCHDOG_GRACE_S, self._fire, args=(nodeid, timeout_s))
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, nodeid: str, timeout_s: float) -> None:
        message = (f"{nodeid} was still running {WATCHDOG_GRACE_S:g} s after its {timeout_s:g} s limit: "
                   "the code under test caught the timeout (`except BaseException`, a bare `except:`) "
                   "and kept going; the run was stopped")
        try:
            self._on_fire(message)
        finally:
            _write_line(message)
            os._exit(3)


def _write_line(message: str) -> None:
    try:
        sys.stderr.write(f"\nkatas: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def threads_left(before: set[int]) -> list[threading.Thread]:
    """Non-daemon threads started after `before` (a set of thread idents) that still run."""
    return [t for t in threading.enumerate()
            if t.is_alive() and not t.daemon and t is not threading.main_thread() and t.ident not in before
            # Executor workers are joined by concurrent.futures at exit: they never hang it.
            and getattr(getattr(t, "_target", None), "__module__", "") != "concurrent.futures.thread"]


def exit_if_threads_left(before: set[int], exitstatus: int) -> None:
    """A left-over non-daemon thread would keep the interpreter waiting for ever: say which,
    run the exit handlers (servers stop, files close) and end the process."""
    left = threads_left(before)
    if not left:
        return
    names = ", ".join(sorted(t.name for t in left))
    _write_line(f"a thread the code under test started was still running when the tests ended ({names}); "
                "join your threads, make them daemons, or give them a stop event. The run was ended.")
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        os._exit(exitstatus)


def limit_memory(share: float = MEMORY_SHARE) -> int | None:
    """Cap this process's (and its children's) data size at `share` of physical memory;
    returns the cap in bytes, None where it cannot be set."""
    try:
        import resource

        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = int(physical * share)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft == resource.RLIM_INFINITY or soft > cap:
            resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
        return cap
    except (ImportError, ValueError, OSError):
        return None


def trim(text: str, limit: int = SECTION_LIMIT, head: int = SECTION_HEAD) -> str:
    if len(text) <= limit:
        return text
    tail = limit - head
    return (f"{text[:head]}\n... {len(text) - limit:,} characters cut: a very large print? ...\n"
            f"{text[-tail:]}")


def trim_sections(sections: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(title, trim(content)) for title, content in sections]
