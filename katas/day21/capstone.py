"""Day 21: the course in one command (your capstone; README tasks 1, 2, 3 and 6).

    python capstone.py --tracking-uri http://127.0.0.1:5000 --server-image katas/day03-server

trains a candidate, gates it against the champion (day 19), registers it, packages it into
the day-03 server image, deploys it with the compose file, puts a bounded load on it, judges
it from the day-11 store and Prometheus, and rolls back on a regression, printing one line per
stage with its timing. The README states the contract; in short:

- `run(steps, *, clock)` is the orchestration: the stages in order, stop at a failed stage,
  undo what was started in reverse order, and a `Report`.
- `put_load(probe, ...)` is the bounded load; `judge(...)` the monitor's decision.
- `Steps` does the real work with MLflow, docker, docker-compose, HTTP and Prometheus.
- `main(argv)` parses the flags, runs, prints the report and returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

STAGES = ("train", "gate", "register", "package", "deploy", "load", "monitor", "rollback")
EXIT_CODES = {"promoted": 0, "failed": 1, "rejected": 2, "rolled_back": 3}
SERVICE = "model"


@dataclass(frozen=True)
class Stage:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class Report:
    outcome: str
    version: str | None = None
    previous: str | None = None
    serving: str | None = None
    reason: str = ""
    stages: list[Stage] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "version": self.version, "previous": self.previous,
                "serving": self.serving, "reason": self.reason, "exit_code": self.exit_code,
                "stages": [asdict(stage) for stage in self.stages]}


@dataclass(frozen=True)
class LoadResult:
    sent: int
    ok: int
    failed: int


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str


# --- task 1: the orchestration -------------------------------------------------------------


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    # TODO(task 1): train, gate, register, package, deploy, load, monitor; stop at a failed stage;
    # undo what was started newest first (the "rollback" stage); steps.serving() at the end.
    raise NotImplementedError("task 1")


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    # TODO(task 1): the printed report.
    raise NotImplementedError("task 1")


# --- task 2: the load and the decision ---------------------------------------------------


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    # TODO(task 2): validate, then pace the probes with clock and sleep.
    raise NotImplementedError("task 2")


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    # TODO(task 2): availability = ok / sent, p95 and the server's 5xx ratio against their limits.
    raise NotImplementedError("task 2")


# --- task 6: the real steps -------------------------------------------------------------------


def run_command(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 300.0):
    """Run a command (no shell) and return its CompletedProcess; raise RuntimeError naming it, with
    its output's tail, when it cannot start, outlives `timeout` or exits non-zero. (Given.)"""
    import subprocess

    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip()[-800:]
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {done.returncode}: {tail}")
    return done


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus.
    Images are tagged `<image_repo>:v<version>` and serve MODEL_VERSION `v<version>`. Every `docker`
    and `docker-compose` command goes through `runner(argv, env=..., timeout=...)`; every wait reads
    `clock` and pauses with `sleep` (the tests pass fakes of all three)."""

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep

    def train(self) -> str:
        # TODO(task 6): fit earlier_days.CANDIDATES[args.candidate] on make_data(), log it with a signature.
        raise NotImplementedError("task 6")

    def gate(self, candidate: str):
        # TODO(task 6): earlier_days.gate.run_gate(..., slice_by="segment", metric="roc_auc", ...).
        raise NotImplementedError("task 6")

    def register(self, report) -> str:
        # TODO(task 6): earlier_days.gate.promote(...).
        raise NotImplementedError("task 6")

    def set_champion(self, version: str | None) -> None:
        # TODO(task 6): move (or, for None, delete) the champion alias.
        raise NotImplementedError("task 6")

    def package(self, version: str) -> str:
        # TODO(task 6): the registered model as model.skops in an image FROM args.server_image.
        raise NotImplementedError("task 6")

    def remove_image(self, version: str) -> None:
        # TODO(task 6)
        raise NotImplementedError("task 6")

    def deploy(self, version: str) -> str:
        # TODO(task 6): docker-compose up the model service with MODEL_IMAGE; wait until v<version> is ready.
        raise NotImplementedError("task 6")

    def undeploy(self) -> None:
        # TODO(task 6)
        raise NotImplementedError("task 6")

    def load(self, url: str) -> LoadResult:
        # TODO(task 6): put_load with day 11's check_model_latency as the probe.
        raise NotImplementedError("task 6")

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        # TODO(task 6): p95 from the day-11 store, the 5xx ratio from Prometheus, then judge.
        raise NotImplementedError("task 6")

    def serving(self) -> str | None:
        # TODO(task 6): the model_version /health reports, or None.
        raise NotImplementedError("task 6")


# --- task 3: the command line -------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    # TODO(task 3): argparse, one type function per kind of value.
    raise NotImplementedError("task 3")


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    # TODO(task 3)
    raise NotImplementedError("task 3")


if __name__ == "__main__":
    sys.exit(main())
