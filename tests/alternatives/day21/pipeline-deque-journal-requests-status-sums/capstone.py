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

import math
import numbers
import re
from collections import deque


class _Abort(Exception):
    """A stage raised; the stage has been recorded already."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


class _Undo:
    """A journal of compensating actions, replayed newest first."""

    def __init__(self) -> None:
        self.entries: deque = deque()

    def push(self, label: str, action: Callable[[], object]) -> None:
        self.entries.appendleft((label, action))

    def replay(self) -> list[str]:
        errors = []
        while self.entries:
            label, action = self.entries.popleft()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every undo runs whatever the others did
                errors.append(f"{label} failed: {exc!r}")
        return errors


class _Pipeline:
    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.stages: list[Stage] = []
        self.undo = _Undo()

    def timed(self, name: str, call: Callable[[], object]):
        t0 = self.clock()
        try:
            value = call()
        except Exception as exc:  # noqa: BLE001
            self.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            raise _Abort(name, exc) from exc
        return value, self.clock() - t0

    def record(self, name: str, ok: bool, seconds: float, detail: str) -> None:
        self.stages.append(Stage(name, ok, seconds, detail))

    def rollback(self) -> list[str]:
        if not self.undo.entries:
            return []
        t0 = self.clock()
        errors = self.undo.replay()
        self.record("rollback", not errors, self.clock() - t0, " / ".join(errors) or "every change undone")
        return errors

    def execute(self) -> Report:
        s = self.steps
        version = previous = None
        outcome, reason = "failed", ""
        try:
            candidate, secs = self.timed("train", s.train)
            self.record("train", True, secs, f"candidate {candidate}")
            gate_report, secs = self.timed("gate", lambda: s.gate(candidate))
            previous = gate_report.champion
            failed = [c.name for c in gate_report.checks if not c.passed]
            if not gate_report.passed:
                self.record("gate", False, secs, "failed: " + " ".join(failed))
                return Report("rejected", None, previous, self._serving(), "gate failed: " + " ".join(failed),
                              self.stages)
            self.record("gate", True, secs, f"passed against champion {previous}")
            version, secs = self.timed("register", lambda: s.register(gate_report))
            self.record("register", True, secs, f"version {version}")
            self.undo.push("set_champion", lambda: s.set_champion(previous))
            image, secs = self.timed("package", lambda: s.package(version))
            self.record("package", True, secs, str(image))
            self.undo.push("remove_image", lambda: s.remove_image(version))
            self.undo.push("redeploy", (lambda: s.deploy(previous)) if previous is not None else s.undeploy)
            url, secs = self.timed("deploy", lambda: s.deploy(version))
            self.record("deploy", True, secs, str(url))
            load, secs = self.timed("load", lambda: s.load(url))
            self.record("load", True, secs, f"sent {load.sent}, ok {load.ok}, failed {load.failed}")
            verdict, secs = self.timed("monitor", lambda: s.monitor(url, load))
            self.record("monitor", bool(verdict.healthy), secs, verdict.reason)
            if verdict.healthy:
                outcome = "promoted"
            else:
                outcome, reason = "rolled_back", verdict.reason
        except _Abort as abort:
            outcome, reason = "failed", f"{abort.stage} failed: {abort.error}"
        if outcome != "promoted":
            errors = self.rollback()
            if errors:
                outcome = "failed"
                reason = f"{reason}; rollback: {' / '.join(errors)}"
        return Report(outcome, version, previous, self._serving(), reason, self.stages)

    def _serving(self):
        try:
            return self.steps.serving()
        except Exception:  # noqa: BLE001
            return None


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    return _Pipeline(steps, clock).execute()


_BREAKS = re.compile(r"\r\n|\r|\n")


def format_report(report: Report) -> str:
    out = []
    for st in report.stages:
        flag = "ok" if st.ok else "FAILED"
        out.append("{} [{}] {:.2f}s {}".format(st.name, flag, st.seconds, _BREAKS.sub(" \u23ce ", st.detail)))
    tail = _BREAKS.sub(" \u23ce ", report.reason)
    out.append(f"-> outcome: {report.outcome}, exit {report.exit_code}" + (f" ({tail})" if tail else ""))
    return "\n".join(out) + "\n"


# --- task 2: the load and the decision ---------------------------------------------------


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    if type(requests) is not int or requests < 1:
        raise ValueError("requests must be a whole number of at least 1")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not _is_number(value) or not (0 < value < math.inf):
            raise ValueError(f"{name} must be positive and finite")
    t0 = clock()
    answers: list[bool] = []
    for i in range(requests):  # range is lazy: a huge budget costs nothing
        if i / rps >= deadline_s:
            break
        wait = t0 + i / rps - clock()
        if wait > 0:
            sleep(wait)
        if clock() - t0 >= deadline_s:
            break
        answers.append(probe() is not None)
    sent = len(answers)
    ok = sum(answers)
    return LoadResult(sent=sent, ok=ok, failed=sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    availability = ok / sent if sent > 0 else math.nan
    checks = [("availability", availability, lambda v: v >= min_availability, f">= {min_availability}")]
    if p95_ms is not None:
        checks.append(("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"))
    if error_ratio is not None:
        checks.append(("5xx", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}"))
    bad = [f"{name} {value} (want {want})" for name, value, within, want in checks if not within(value)]
    good = [f"{name} {value}" for name, value, within, _ in checks if within(value)]
    return Verdict(not bad, ("past the limits: " + ", ".join(bad)) if bad else ", ".join(good))


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
    """The README's `steps` against real tools (requests for HTTP, the MLflow client, docker CLIs)."""

    TIMEOUT = (2.0, 4.0)  # connect, read
    PAUSE = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep

    def _url(self, path: str = "") -> str:
        return f"http://localhost:{self.args.model_port}{path}"

    def _tag(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _env(self, **extra) -> dict:
        import os

        env = dict(os.environ)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def _registry(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _wait(self, what: str, attempt: Callable[[], object]):
        """Call attempt() until it returns something truthy, for at most --wait-seconds of self.clock."""
        give_up = self.clock() + float(self.args.wait_seconds)
        last = None
        while True:
            try:
                got = attempt()
                if got:
                    return got
            except Exception as exc:  # noqa: BLE001 - keep trying until the deadline
                last = exc
            left = give_up - self.clock()
            if left <= 0:
                raise TimeoutError(f"gave up waiting for {what} after {self.args.wait_seconds} s ({last!r})")
            self.sleep(min(self.PAUSE, left))

    # MLflow
    def train(self) -> str:
        import earlier_days
        import mlflow
        import sklearn
        from mlflow.models import infer_signature

        X_train, _X_test, y_train, _y_test = earlier_days.make_data()
        estimator = earlier_days.CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.log_param("candidate", self.args.candidate)
            logged = mlflow.sklearn.log_model(
                estimator, name="model", signature=infer_signature(X_train.astype("float64"), estimator.predict(X_train)),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        return logged.model_uri

    def gate(self, candidate: str):
        import earlier_days

        data = earlier_days.make_data()
        return earlier_days.gate.run_gate(
            tracking_uri=self.args.tracking_uri, model_name=self.args.model_name, candidate_uri=candidate,
            X=data[1], y=data[3], slice_by="segment", metric="roc_auc", margin=self.args.margin,
            slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        client = self._registry()
        if version is None:
            client.delete_registered_model_alias(name=self.args.model_name, alias="champion")
        else:
            client.set_registered_model_alias(name=self.args.model_name, alias="champion", version=str(version))

    # images
    def package(self, version: str) -> str:
        import json
        import shutil
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        workdir = Path(tempfile.mkdtemp(prefix="capstone-image-"))
        try:
            (workdir / "model.skops").write_bytes(skops.io.dumps(model))
            quoted = lambda text: json.dumps(text, ensure_ascii=False).replace("$", "\\$")  # noqa: E731
            labels = " ".join(f"{quoted(k)}={quoted(v)}"
                              for k, _, v in (label.partition("=") for label in self.args.label))
            lines = [f"FROM {self.args.server_image}",
                     "COPY model.skops /srv/model/model.skops",
                     'ENV MODEL_PATH="/srv/model/model.skops"',
                     f'ENV MODEL_VERSION="v{version}"']
            if labels:
                lines.append(f"LABEL {labels}")
            (workdir / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            tag = self._tag(version)
            self.runner(["docker", "build", "-t", tag, "-f", str(workdir / "Dockerfile"), str(workdir)],
                        env=self._env(), timeout=1200)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", "--force", self._tag(version)], env=self._env(), timeout=90)

    # the service
    def _compose(self, *args: str, **env):
        argv = ["docker-compose", "-f", str(self.args.compose_file), "-p", str(self.args.project), *args]
        return self.runner(argv, env=self._env(MODEL_PORT=self.args.model_port, **env), timeout=240)

    def _ready_as(self, wanted: str) -> bool:
        import requests

        health = requests.get(self._url("/health"), timeout=self.TIMEOUT)
        if health.status_code != 200 or health.json().get("model_version") != wanted:
            return False
        return requests.get(self._url("/ready"), timeout=self.TIMEOUT).status_code == 200

    def deploy(self, version: str) -> str:
        self._compose("up", "--detach", "--no-deps", SERVICE, MODEL_IMAGE=self._tag(version))
        self._wait(f"v{version} to serve and be ready", lambda: self._ready_as(f"v{version}"))
        return self._url()

    def undeploy(self) -> None:
        self._compose("stop", SERVICE)
        self._compose("rm", "-f", SERVICE)

    def serving(self) -> str | None:
        import requests

        try:
            answer = requests.get(self._url("/health"), timeout=self.TIMEOUT)
            return answer.json().get("model_version") if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return None

    # load and monitor
    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        held_out = earlier_days.make_data()[1][list(earlier_days.FEATURES)].to_numpy(dtype=float).tolist()
        rows = itertools.cycle(held_out)
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        return put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _predict_counts(self) -> dict[int, float]:
        import requests

        query = 'sum by (status) (model_requests_total{endpoint="/predict"})'
        answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": query},
                              timeout=self.TIMEOUT)
        answer.raise_for_status()
        return {int(s["metric"].get("status", "0")): float(s["value"][1]) for s in answer.json()["data"]["result"]}

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        newest = store.get_recent_metrics("latency_ms", hours=24)[:load.ok]  # newest first: this load's answers
        p95 = float(np.percentile([m["value"] for m in newest], 95)) if newest else None
        ratio = None
        if self.args.prometheus_url:
            counts = self._wait("Prometheus to count the load",
                                lambda: (lambda c: c if sum(c.values()) >= max(load.sent, 1) else None)(
                                    self._predict_counts()))
            ratio = sum(n for status, n in counts.items() if 500 <= status <= 599) / sum(counts.values())
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind: Callable[[str], object], ok: Callable[[object], bool], what: str):
    def convert(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: want {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: want {what}")
        return value
    convert.__name__ = what
    return convert


POSITIVE = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
NON_NEGATIVE = _checked(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
SHARE = _checked(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1")
PORT = _checked(int, lambda v: 1 <= v <= 65535, "a port 1-65535")
COUNT = _checked(int, lambda v: v >= 1, "a whole number >= 1")
LABEL = _checked(str, lambda v: "=" in v and not v.startswith("="), "KEY=VALUE")


def _candidates():
    import earlier_days

    return sorted(earlier_days.CANDIDATES)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import os

    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml")
    spec = [
        ("--tracking-uri", dict(required=True)),
        ("--server-image", dict(required=True, help="the day-03 image to build FROM")),
        ("--model-name", dict(default="capstone")),
        ("--candidate", dict(default="interactions", choices=_candidates())),
        ("--image-repo", dict(default="katas/capstone-model")),
        ("--compose-file", dict(default=beside)),
        ("--project", dict(default="capstone")),
        ("--model-port", dict(type=PORT, default=8000)),
        ("--prometheus-url", dict(default="")),
        ("--margin", dict(type=NON_NEGATIVE, default=0.01)),
        ("--slice-tolerance", dict(type=NON_NEGATIVE, default=0.05)),
        ("--requests", dict(type=COUNT, default=100)),
        ("--rps", dict(type=POSITIVE, default=20.0)),
        ("--load-seconds", dict(type=POSITIVE, default=30.0)),
        ("--min-availability", dict(type=SHARE, default=0.99)),
        ("--max-error-ratio", dict(type=SHARE, default=0.01)),
        ("--max-p95-ms", dict(type=POSITIVE, default=500.0)),
        ("--wait-seconds", dict(type=POSITIVE, default=60.0)),
        ("--store", dict(default="capstone-metrics.db")),
        ("--label", dict(type=LABEL, action="append", default=[], metavar="KEY=VALUE")),
        ("--report-json", dict(default=None)),
    ]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, options in spec:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report))
    sys.stdout.flush()
    if args.report_json is not None:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=1)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
