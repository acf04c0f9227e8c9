"""Pytest runs forked from an interpreter that has already imported the heavy libraries.

The self-check starts a fresh pytest for each of its hundreds of checks (one per mutant,
alternative, stub and solution run). Importing pytest, MLflow, scikit-learn, pandas and
the Vertex AI types costs one to three seconds of CPU each time: most of the self-check
on two cores. A `Zygote` is a child interpreter that imports them once and then only
forks: each run is a fork of it, so it starts with those modules loaded and nothing else
of any other run (the zygote itself never runs a test, never starts a thread, and never
imports day or learner code). Output, exit status and the results file are what a fresh
`python -m pytest` would give.

A run that outlives its deadline is killed with its whole process group, as
`subprocess.run(timeout=...)` would kill the fresh interpreter.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# What day tests and the harness import; missing ones (an extra not installed) are skipped.
PRELOAD = (
    "pytest", "_pytest.pytester", "hypothesis", "hypothesis.strategies", "numpy", "scipy.stats",
    "pandas", "sklearn", "sklearn.linear_model", "sklearn.ensemble", "sklearn.neighbors",
    "sklearn.tree", "sklearn.metrics", "sklearn.model_selection", "sklearn.pipeline",
    "sklearn.preprocessing", "mlflow", "mlflow.sklearn", "mlflow.pyfunc", "mlflow.tracking",
    "mlflow.models", "skops.io", "flask", "requests", "docker", "yaml", "prometheus_client",
    "prometheus_client.parser", "aiosmtpd.controller", "kubernetes_validate",
    "google.cloud.aiplatform_v1", "pytest_timeout", "mlops_katas.plugin",
    "mlops_katas.infra.docker_fixtures", "mlops_katas.infra.mlflow_fixtures",
    "mlops_katas.infra.kind_fixtures", "mlops_katas.infra.smtp", "mlops_katas.shell",
    "mlops_katas.infra.server_fixtures", "mlflow.store.artifact.artifact_repository_registry",
    "mlflow.tracking.client", "redis", "concurrent.futures", "pytest_docker.plugin",
    "mlops_katas.infra.compose_fixtures",
    # MLflow imports its SQL stores (SQLAlchemy, Alembic, Mako) and GitPython only when a run first
    # opens a store: some 500 modules that every run of an MLflow day would otherwise import again.
    "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.store.tracking.sqlalchemy_workspace_store", "mlflow.store.model_registry.sqlalchemy_workspace_store",
    "mlflow.tracing.processor.otel", "mlflow.tracking.request_header.registry", "mlflow.pyfunc.scoring_server",
    "sqlalchemy.dialects.sqlite", "alembic.command", "alembic.config", "git", "narwhals._pandas_like.dataframe",
    "pdb",
)
READY = "ready"


@dataclass
class Finished:
    returncode: int  # -1: killed at the deadline
    output: str


class ZygoteGone(Exception):
    """The zygote died or answered nonsense; the caller falls back to a fresh interpreter."""


class Zygote:
    """`with Zygote(env) as z: z.run(argv, cwd, output, timeout_s)`: `python -m pytest argv`
    in `cwd`, forked, its output written to the file `output`.

    `env` is fixed for the zygote's life: modules read some variables when imported
    (Hypothesis its profile, for one), so every run must see the environment they saw.
    """

    def __init__(self, env: dict[str, str], preload: bool = True) -> None:
        self.env = dict(env)
        self.preload = preload
        self._proc: subprocess.Popen | None = None
        self._running: int | None = None  # the process group of the run under way
        self._received = b""  # read from the zygote, not yet a whole line

    def __enter__(self) -> "Zygote":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, wait_s: float = 180.0) -> None:
        command = [sys.executable, "-m", "mlops_katas.forkrun", *([] if self.preload else ["--no-preload"])]
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env,
                                      bufsize=0, start_new_session=True)
        self._received = b""
        if self._read_line(wait_s) != READY:
            self.stop()
            raise ZygoteGone("the zygote did not start")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def run(self, argv: list[str], cwd: Path, output: Path, timeout_s: float) -> Finished:
        if not self.alive():
            raise ZygoteGone("the zygote is not running")
        try:
            return self._run(argv, cwd, output, timeout_s)
        except BaseException:
            self.stop()  # a run interrupted half-way (Ctrl-C, a timeout around us) leaves nothing
            raise

    def _run(self, argv: list[str], cwd: Path, output: Path, timeout_s: float) -> Finished:
        request = {"argv": argv, "cwd": str(cwd), "output": str(output)}
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._running = int(json.loads(self._read_line(10.0))["pid"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ZygoteGone(f"the zygote did not take the run: {exc}") from None
        line = self._read_line(timeout_s)
        if line is None:  # past the deadline: kill the run's group, then collect its status
            _kill_group(self._running)
            self._read_line(10.0)  # the zygote reports the killed run; its status says nothing new
            self._running = None
            return Finished(-1, _read(output))
        self._running = None
        return Finished(int(json.loads(line)["status"]), _read(output))

    def stop(self) -> None:
        """End the zygote, and the run under way if any (Ctrl-C in the middle of a check)."""
        if self._running is not None:
            _kill_group(self._running)
            self._running = None
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(self._proc.pid)
            self._proc.wait(timeout=5)
        self._proc = None

    def _read_line(self, timeout_s: float) -> str | None:
        """The zygote's next line; None when the deadline passes first.

        Read with os.read into our own buffer: a buffered reader could hold a second line
        that `select` on the pipe would then never report.
        """
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._received:
            ready, _, _ = select.select([self._proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(self._proc.stdout.fileno(), 65536)
            if not chunk:
                raise ZygoteGone("the zygote exited")
            self._received += chunk
        line, self._received = self._received.split(b"\n", 1)
        return line.decode()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


# --- the zygote's side --------------------------------------------------------------------


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # an optional extra; the run imports it itself (or reports why not)
            pass


def _child(request: dict) -> None:
    """In the forked child: become a fresh `python -m pytest` of the request, then exit."""
    os.setsid()
    fd = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    sys.argv = [sys.executable, *request["argv"]]
    if sys.path[0] != request["cwd"]:
        sys.path.insert(0, request["cwd"])  # as `python -m` puts the current folder first
    # Hundreds of runs import the same test files: let pytest keep their rewritten bytecode
    # even where PYTHONDONTWRITEBYTECODE is set, instead of rewriting them in every run.
    sys.dont_write_bytecode = False
    import pytest

    try:
        code = int(pytest.main(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    _leave(code)


def _leave(code: int) -> None:
    """Exit as `python -m pytest` does where a run can see it, without the rest.

    The interpreter's exit waits for non-daemon threads, runs exit handlers (the mlflow
    plugin stops a server a crashed session left running) and flushes output: done here.
    It then tears down every module, touching each object of the heap shared with the
    zygote, which copies some 400 MB page by page: more than half of a short run's time,
    and of no use to a process about to end.
    """
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _reply(message: dict | str) -> None:
    try:
        sys.stdout.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the parent has gone (it exited mid-run): nobody to tell
        os._exit(0)


def main() -> None:
    if "--no-preload" not in sys.argv:
        _preload()
    # What the zygote holds is never garbage: without this, every collection in a run walks
    # (and so copies, page by page) the whole preloaded heap, and a run is slower than a
    # fresh interpreter.
    gc.freeze()
    _reply(READY)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns
        _reply({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _reply({"pid": pid, "status": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    main()
