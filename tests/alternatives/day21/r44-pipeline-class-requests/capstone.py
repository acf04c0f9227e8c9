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

import re as _re
from collections import deque as _deque

_NEWLINES = _re.compile(r"\r\n|\r|\n")


class _Abort(Exception):
    """A stage raised; carries the stage name and the original error."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.cause = stage, cause


class _Pipeline:
    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.stages: list[Stage] = []
        self.undo: _deque = _deque()

    def call(self, name: str, fn, *args, verdict=None):
        t0 = self.clock()
        try:
            value = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            if not isinstance(exc, Exception):
                raise
            self.stages.append(Stage(name, False, self.clock() - t0, f"{type(exc).__name__}: {exc}"))
            raise _Abort(name, exc) from exc
        elapsed = self.clock() - t0
        ok, detail = verdict(value) if verdict else (True, "done")
        self.stages.append(Stage(name, ok, elapsed, detail))
        return value

    def push(self, label: str, fn, *args) -> None:
        self.undo.append((label, fn, args))

    def rollback(self) -> str | None:
        """Runs every undo newest first; None when all succeeded, else the errors."""
        if not self.undo:
            return None
        t0 = self.clock()
        problems = []
        while self.undo:
            label, fn, args = self.undo.pop()
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{label} raised {type(exc).__name__}: {exc}")
        text = "; ".join(problems)
        self.stages.append(Stage("rollback", not problems, self.clock() - t0,
                                 text if problems else f"undone newest first"))
        return text or None


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    p = _Pipeline(steps, clock)
    version = previous = None
    outcome, reason = "failed", ""
    try:
        candidate = p.call("train", steps.train)

        def read_gate(g):
            bad = [c.name for c in g.checks if not c.passed]
            return bool(g.passed), ("all checks passed" if g.passed else "rejected by: " + " ".join(bad))

        report = p.call("gate", steps.gate, candidate, verdict=read_gate)
        previous = report.champion
        if not report.passed:
            outcome, reason = "rejected", p.stages[-1].detail
        else:
            version = p.call("register", steps.register, report)
            p.push("set_champion", steps.set_champion, previous)
            p.call("package", steps.package, version)
            p.push("remove_image", steps.remove_image, version)
            if previous is None:
                p.push("undeploy", steps.undeploy)
            else:
                p.push("deploy", steps.deploy, previous)
            url = p.call("deploy", steps.deploy, version)
            result = p.call("load", steps.load, url)
            v = p.call("monitor", steps.monitor, url, result, verdict=lambda v: (bool(v.healthy), str(v.reason)))
            if v.healthy:
                outcome, reason = "promoted", ""
            else:
                problems = p.rollback()
                outcome = "rolled_back" if problems is None else "failed"
                reason = str(v.reason) if problems is None else f"{v.reason}; and the rollback failed: {problems}"
    except _Abort as abort:
        reason = f"{abort.stage} failed: {abort.cause}"
        problems = p.rollback()
        if problems:
            reason += f" (rollback: {problems})"
        outcome = "failed"
    try:
        serving = steps.serving()
    except Exception:  # noqa: BLE001
        serving = None
    return Report(outcome, version, previous, serving, reason, p.stages)


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    flat = lambda text: _NEWLINES.sub(" / ", str(text))  # noqa: E731
    out = []
    for stage in report.stages:
        out.append("%s: %s in %.3fs - %s" % (stage.name, "ok" if stage.ok else "FAILED", stage.seconds,
                                             flat(stage.detail)))
    tail = "outcome: %s" % report.outcome
    for key in ("version", "previous", "serving"):
        tail += " %s=%s" % (key, getattr(report, key))
    if report.reason:
        tail += " (%s)" % flat(report.reason)
    out.append(tail)
    return "\n".join(out) + "\n"


# --- task 2: the load and the decision ---------------------------------------------------


def _finite_positive(name: str, value) -> float:
    import math
    import numbers

    if isinstance(value, (bool, str, bytes)) or not isinstance(value, numbers.Number):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not (math.isfinite(as_float) and as_float > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return as_float


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import itertools
    import operator

    if isinstance(requests, bool):
        raise ValueError("requests must be an int, not a bool")
    try:
        budget = operator.index(requests)
    except TypeError:
        raise ValueError(f"requests must be an int, got {requests!r}") from None
    if budget < 1:
        raise ValueError(f"requests must be >= 1, got {budget}")
    rate = _finite_positive("rps", rps)
    window = _finite_positive("deadline_s", deadline_s)

    t0 = clock()
    stop_at = t0 + window
    answered = 0
    sent = 0
    for i in itertools.count():
        if i >= budget:
            break
        due = t0 + i / rate
        if due >= stop_at:
            break
        now = clock()
        wait = due - now
        if wait > 0:
            sleep(wait)
            now = clock()
        if now >= stop_at:
            break
        sent += 1
        latency = probe()
        answered += latency is not None
    return LoadResult(sent=sent, ok=answered, failed=sent - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    failures: list[str] = []
    summary: list[str] = []
    if sent > 0:
        availability = float(ok / sent)
        summary.append(f"availability {availability:.3f}")
        if not availability >= min_availability:
            failures.append(f"availability {ok}/{sent} is below {min_availability}")
    else:
        failures.append("availability: nothing was sent, so nothing was measured")
    checks = (("p95", p95_ms, max_p95_ms, "ms"), ("5xx", error_ratio, max_error_ratio, "share"))
    for label, value, limit, unit in checks:
        if value is None:
            continue
        summary.append(f"{label} {float(value):g} {unit}")
        if not float(value) <= float(limit):
            failures.append(f"{label} {float(value):g} {unit} exceeds {limit:g}")
    healthy = not failures
    return Verdict(healthy=bool(healthy), reason=", ".join(failures if failures else summary))


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

    REQUEST_TIMEOUT = (2.0, 4.0)  # connect, read
    POLL_S = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._before_load: dict[str, float] = {}
        self._load_t0: float = 0.0

    # helpers ---------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:%d" % int(self.args.model_port)

    def tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _docker(self, *argv: str, timeout: float = 900.0, env: dict | None = None):
        return self.runner(list(argv), env=env, timeout=timeout)

    def _registry(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _wait(self, what: str, check) -> None:
        """Calls check() until it returns True, for at most --wait-seconds on self.clock."""
        limit = self.clock() + float(self.args.wait_seconds)
        note = ""
        while True:
            try:
                if check():
                    return
            except Exception as exc:  # noqa: BLE001
                note = repr(exc)
            left = limit - self.clock()
            if left <= 0:
                raise TimeoutError(f"gave up waiting for {what} after {self.args.wait_seconds} s {note}")
            self.sleep(min(self.POLL_S, left))

    # MLflow ----------------------------------------------------------------
    def train(self) -> str:
        import mlflow
        import mlflow.sklearn
        from mlflow.models.signature import infer_signature

        from earlier_days import CANDIDATES, make_data

        X_train, _, y_train, _ = make_data()
        estimator = CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.log_param("candidate", self.args.candidate)
            logged = mlflow.sklearn.log_model(
                estimator, name="model",
                signature=infer_signature(X_train.astype("float64"), estimator.predict_proba(X_train)[:, 1]))
        return logged.model_uri

    def gate(self, candidate: str):
        from earlier_days import gate, make_data

        data = make_data()
        return gate.run_gate(tracking_uri=self.args.tracking_uri, model_name=self.args.model_name,
                             candidate_uri=candidate, X=data[1], y=data[3], slice_by="segment", metric="roc_auc",
                             margin=self.args.margin, slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        from earlier_days import gate

        return str(gate.promote(tracking_uri=self.args.tracking_uri, model_name=self.args.model_name, report=report))

    def set_champion(self, version: str | None) -> None:
        from earlier_days import gate

        client = self._registry()
        if version is not None:
            client.set_registered_model_alias(name=self.args.model_name, alias=gate.CHAMPION, version=str(version))
        else:
            client.delete_registered_model_alias(name=self.args.model_name, alias=gate.CHAMPION)

    # images ----------------------------------------------------------------
    def package(self, version: str) -> str:
        import shutil
        import tempfile
        from pathlib import Path

        import mlflow.sklearn
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        workdir = Path(tempfile.mkdtemp(prefix="capstone-image-"))
        try:
            (workdir / "model.skops").write_bytes(skops.io.dumps(model))
            dockerfile = "\n".join([
                "FROM " + self.args.server_image,
                "COPY model.skops /srv/model/model.skops",
                "ENV MODEL_PATH=/srv/model/model.skops",
                "ENV MODEL_VERSION=v%s" % version,
                ""])
            (workdir / "Dockerfile").write_text(dockerfile, encoding="utf-8")
            labels = [part for label in self.args.label for part in ("--label", label)]
            self._docker("docker", "image", "build", "-t", self.tag(version), *labels,
                         "-f", str(workdir / "Dockerfile"), str(workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return self.tag(version)

    def remove_image(self, version: str) -> None:
        self._docker("docker", "image", "rm", self.tag(version), timeout=120.0)

    # the service -----------------------------------------------------------
    def _compose_argv(self, *rest: str) -> list[str]:
        return ["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project, *rest]

    def deploy(self, version: str) -> str:
        import os

        import requests

        env = dict(os.environ)
        env["MODEL_IMAGE"] = self.tag(version)
        env["MODEL_PORT"] = str(self.args.model_port)
        self._docker(*self._compose_argv("up", "--detach", "--no-deps", "model"), env=env, timeout=300.0)
        expected = "v%s" % version

        def ready() -> bool:
            health = requests.get(self.base_url + "/health", timeout=self.REQUEST_TIMEOUT)
            if health.status_code != 200 or health.json().get("model_version") != expected:
                return False
            return requests.get(self.base_url + "/ready", timeout=self.REQUEST_TIMEOUT).status_code == 200

        self._wait("%s to be ready on %s" % (expected, self.base_url), ready)
        return self.base_url

    def undeploy(self) -> None:
        import os

        self._docker(*self._compose_argv("stop", "model"), env=dict(os.environ), timeout=120.0)
        self._docker(*self._compose_argv("rm", "-f", "model"), env=dict(os.environ), timeout=120.0)

    def serving(self) -> str | None:
        import requests

        try:
            answer = requests.get(self.base_url + "/health", timeout=self.REQUEST_TIMEOUT)
            return answer.json().get("model_version")
        except Exception:  # noqa: BLE001
            return None

    # load and monitor ------------------------------------------------------
    def _predict_counts(self) -> dict[str, float]:
        import requests

        answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                              params={"query": 'sum by (status) (model_requests_total{endpoint="/predict"})'},
                              timeout=self.REQUEST_TIMEOUT)
        answer.raise_for_status()
        return {item["metric"].get("status", ""): float(item["value"][1])
                for item in answer.json()["data"]["result"]}

    def load(self, url: str) -> LoadResult:
        from earlier_days import make_data, monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        X_test = make_data()[1]
        count = len(X_test)
        counter = iter(range(10 ** 30))

        def probe():
            row = X_test.iloc[next(counter) % count]
            return store.check_model_latency(url, {"features": [[float(v) for v in row.tolist()]]})

        self._before_load = {}
        if self.args.prometheus_url:
            try:
                self._before_load = self._predict_counts()
            except Exception:  # noqa: BLE001
                self._before_load = {}
        self._load_t0 = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        from earlier_days import monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        samples = [s["value"] for s in store.get_recent_metrics(monitoring.LATENCY, hours=24)
                   if s["timestamp"] >= self._load_t0 - 0.001]
        p95 = float(np.percentile(samples, 95)) if samples else None
        share = None
        if self.args.prometheus_url:
            found: dict = {}

            def counted() -> bool:
                now = self._predict_counts()
                before = self._before_load
                if sum(now.values()) < sum(before.values()):
                    before = {}
                delta = {k: v - before.get(k, 0.0) for k, v in now.items()}
                if sum(delta.values()) >= load.sent:
                    found.update(delta)
                    return True
                return False

            try:
                self._wait("Prometheus to count the load's %d requests" % load.sent, counted)
            except TimeoutError as exc:
                return Verdict(False, "5xx share unknown: %s" % exc)
            total = sum(found.values())
            errors = sum(v for k, v in found.items() if k.isdigit() and 500 <= int(k) <= 599)
            share = errors / total if total else float("nan")
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=share,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _validator(convert, ok, explain):
    def check(text: str):
        try:
            value = convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError("invalid value %r: %s" % (text, explain)) from None
        if not ok(value):
            raise argparse.ArgumentTypeError("invalid value %r: %s" % (text, explain))
        return value
    check.__name__ = explain
    return check


def _finite(v: float) -> bool:
    import math

    return math.isfinite(v)


POSITIVE = _validator(float, lambda v: _finite(v) and v > 0, "a positive finite number")
NON_NEGATIVE = _validator(float, lambda v: _finite(v) and v >= 0, "a finite number >= 0")
SHARE = _validator(float, lambda v: _finite(v) and 0.0 <= v <= 1.0, "a number between 0 and 1")
PORT = _validator(int, lambda v: 1 <= v <= 65535, "a port 1-65535")
COUNT = _validator(int, lambda v: v >= 1, "an integer >= 1")
LABEL = _validator(str, lambda v: v.find("=") > 0, "KEY=VALUE with a non-empty key")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os

    from earlier_days import CANDIDATES

    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    flags = [
        ("--tracking-uri", dict(required=True)),
        ("--server-image", dict(required=True, help="the day-03 image to build FROM")),
        ("--model-name", dict(default="capstone")),
        ("--candidate", dict(default="interactions", choices=list(CANDIDATES))),
        ("--image-repo", dict(default="katas/capstone-model")),
        ("--compose-file", dict(default=os.path.join(here, "docker-compose.yml"))),
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
    for flag, options in flags:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json
    from pathlib import Path

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report))
    sys.stdout.flush()
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
