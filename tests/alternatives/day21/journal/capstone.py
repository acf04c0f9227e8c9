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
import math
import numbers
import os
import sys
import time
from collections import deque
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


class _Timed:
    """`with _Timed(clock) as t:` ... `t.seconds`."""

    def __init__(self, clock):
        self.clock = clock
        self.seconds = 0.0

    def __enter__(self):
        self._start = self.clock()
        return self

    def __exit__(self, *exc):
        self.seconds = self.clock() - self._start
        return False


class _Journal:
    """The changes made to the world, each with its undo; replayed backwards."""

    def __init__(self):
        self.entries: deque = deque()

    def record(self, label: str, undo: Callable[[], object]) -> None:
        self.entries.appendleft((label, undo))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def replay(self) -> list[str]:
        errors = []
        for label, undo in list(self.entries):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"undo {label} raised {exc}")
        self.entries.clear()
        return errors


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="promoted")
    journal = _Journal()
    state: dict = {}

    def rollback() -> None:
        with _Timed(clock) as t:
            errors = journal.replay()
        report.stages.append(Stage("rollback", not errors, t.seconds, "; ".join(errors) or "all undone"))
        if errors:
            report.outcome = "failed"
            report.reason = (report.reason + " | " if report.reason else "") + "; ".join(errors)

    plan = [
        ("train", lambda: steps.train()),
        ("gate", lambda: steps.gate(state["train"])),
        ("register", lambda: steps.register(state["gate"])),
        ("package", lambda: steps.package(state["register"])),
        ("deploy", lambda: steps.deploy(state["register"])),
        ("load", lambda: steps.load(state["deploy"])),
        ("monitor", lambda: steps.monitor(state["deploy"], state["load"])),
    ]
    for name, call in plan:
        if name == "deploy":
            prev = report.previous
            journal.record("deploy", (lambda: steps.deploy(prev)) if prev is not None else steps.undeploy)
        error = None
        with _Timed(clock) as t:
            try:
                result = call()
            except Exception as exc:  # noqa: BLE001
                error = exc
        if error is not None:
            report.stages.append(Stage(name, False, t.seconds, repr(error)))
            report.outcome = "failed"
            report.reason = f"{name} failed: {error}"
            break
        state[name] = result
        if name == "gate":
            report.previous = result.champion
            bad = [c.name for c in result.checks if not c.passed]
            if not result.passed:
                report.stages.append(Stage(name, False, t.seconds, "failed checks: " + " ".join(bad)))
                report.outcome = "rejected"
                report.reason = "the gate failed: " + " ".join(bad)
                break
            report.stages.append(Stage(name, True, t.seconds, "all checks passed"))
            continue
        if name == "monitor":
            report.stages.append(Stage(name, result.healthy, t.seconds, result.reason))
            if not result.healthy:
                report.outcome = "rolled_back"
                report.reason = result.reason
            break
        report.stages.append(Stage(name, True, t.seconds, repr(result)))
        if name == "register":
            report.version = result
            prev = report.previous
            journal.record("register", lambda: steps.set_champion(prev))
        elif name == "package":
            version = state["register"]
            journal.record("package", lambda: steps.remove_image(version))
    if report.outcome != "promoted" and journal:
        rollback()
    try:
        report.serving = steps.serving()
    except Exception:  # noqa: BLE001
        report.serving = None
    return report


def _one_line(text) -> str:
    """A detail or reason on one line: an error's output (docker's) may span several."""
    return " ".join(str(text).split())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    out = []
    for s in report.stages:
        out.append("%s %s %.3fs %s" % (s.name, "ok" if s.ok else "FAILED", s.seconds, _one_line(s.detail)))
    out.append("outcome: %s exit=%d reason=%s" % (report.outcome, report.exit_code, _one_line(report.reason) or "-"))
    return "\n".join(out) + "\n"


# --- task 2: the load and the decision ---------------------------------------------------


def _bad_number(value) -> bool:
    return (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or math.isnan(value) or math.isinf(value) or value <= 0)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError(f"requests: an int >= 1, got {requests!r}")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if _bad_number(value):
            raise ValueError(f"{name}: a positive finite number, got {value!r}")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    start = clock()
    stop = start + deadline_s
    answers: list = []
    while len(answers) < requests:
        due = start + len(answers) / rps
        if due >= stop:
            break
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        if clock() >= stop:
            break
        answers.append(probe())
    good = sum(1 for a in answers if a is not None)
    return LoadResult(sent=len(answers), ok=good, failed=len(answers) - good)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    if sent <= 0:
        return Verdict(False, "availability: nothing was sent, nothing is known")
    signals = [("availability", ok / sent, lambda v: v >= min_availability, f">= {min_availability}"),
               ("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"),
               ("5xx", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}")]
    failed = [f"{name} {value:g} not {limit}" for name, value, good, limit in signals
              if value is not None and not good(value)]
    if failed:
        return Verdict(False, ", ".join(failed))
    return Verdict(True, ", ".join(f"{name} {value:g}" for name, value, _, _ in signals if value is not None))


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


def _earlier():
    import earlier_days

    return earlier_days


def _get_json(url: str, timeout: float = 2.0):
    """(status, parsed body or None); (None, None) when nothing answers."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return None, None


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
        self._load_started_wall: float | None = None

    # helpers
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _data(self):
        return _earlier().make_data()

    def _compose(self, *words: str, image: str | None = None):
        env = dict(os.environ)
        env["MODEL_PORT"] = str(self.args.model_port)
        if image is not None:
            env["MODEL_IMAGE"] = image
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", str(self.args.project),
                *words]
        return self.runner(argv, env=env, timeout=300)

    # MLflow
    def train(self) -> str:
        import mlflow
        from mlflow.models import infer_signature

        X_train, _X_test, y_train, _y_test = self._data()
        model = _earlier().CANDIDATES[self.args.candidate]()
        model.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=f"capstone-{self.args.candidate}"):
            mlflow.log_param("candidate", self.args.candidate)
            info = mlflow.sklearn.log_model(model, "model", signature=infer_signature(X_train, model.predict(X_train)))
        return info.model_uri

    def gate(self, candidate: str):
        _X_train, X_test, _y_train, y_test = self._data()
        return _earlier().gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                        slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                        slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        return str(_earlier().gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        alias = _earlier().gate.CHAMPION
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, alias)
        else:
            client.set_registered_model_alias(self.args.model_name, alias, str(version))

    # images
    def package(self, version: str) -> str:
        import tempfile

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory() as context:
            skops.io.dump(model, os.path.join(context, "model.skops"))
            with open(os.path.join(context, "Dockerfile"), "w", encoding="utf-8") as f:
                f.write(f"FROM {self.args.server_image}\n"
                        "COPY model.skops /app/model.skops\n"
                        f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            self.runner([*argv, context], env=dict(os.environ), timeout=600)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", "-f", self.image(version)], env=None, timeout=120)

    # the service
    def deploy(self, version: str) -> str:
        self._compose("up", "--detach", "--no-deps", SERVICE, image=self.image(version))
        wanted = f"v{version}"
        give_up = self.clock() + float(self.args.wait_seconds)
        while not (self.serving() == wanted and self._ready()):
            left = give_up - self.clock()
            if left <= 0:
                raise TimeoutError(f"{wanted} never became ready on {self.url}")
            self.sleep(min(1.0, left))
        return self.url

    def _ready(self) -> bool:
        import requests

        try:
            return requests.get(self.url + "/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def undeploy(self) -> None:
        self._compose("stop", SERVICE)
        self._compose("rm", "-f", SERVICE)

    def serving(self) -> str | None:
        import requests

        try:
            answer = requests.get(self.url + "/health", timeout=2)
            return answer.json().get("model_version") if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return None

    # load and monitor
    def _monitor_store(self):
        return _earlier().monitoring.ModelPerformanceMonitor(str(self.args.store))

    def load(self, url: str) -> LoadResult:
        _X_train, X_test, _y_train, _y_test = self._data()
        rows = [[float(v) for v in row] for row in X_test.itertuples(index=False)]
        store = self._monitor_store()
        counter = iter(range(10 ** 9))

        def probe():
            row = rows[next(counter) % len(rows)]
            return store.check_model_latency(url, {"features": [row]})

        self._load_started_wall = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        import json
        import urllib.parse
        import urllib.request

        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query={urllib.parse.quote(query)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                result = json.load(answer)["data"]["result"]
        except (OSError, ValueError, KeyError):
            return None
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        since = self._load_started_wall if self._load_started_wall is not None else 0.0
        rows = self._monitor_store().get_recent_metrics("latency_ms", hours=24)
        mine = [r["value"] for r in rows if r["timestamp"] >= since]
        p95 = float(np.percentile(mine, 95)) if mine else None
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            deadline = self.clock() + float(self.args.wait_seconds)
            total = self._prometheus(total_q)
            while (total is None or total < load.sent) and self.clock() < deadline:
                self.sleep(min(1.0, max(0.0, deadline - self.clock())))
                total = self._prometheus(total_q)
            if total is None or total < load.sent:
                raise RuntimeError(f"Prometheus counted {total or 0:g} of the load's {load.sent} requests "
                                   f"within {self.args.wait_seconds} s: the 5xx ratio is unknown")
            errors = self._prometheus('sum(model_requests_total{endpoint="/predict",status=~"5.."})')
            if total and errors is not None:
                error_ratio = errors / total
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------

_FLOAT_RULES = {
    "margin": ("nonneg", 0.01), "slice_tolerance": ("nonneg", 0.05), "rps": ("pos", 20.0),
    "load_seconds": ("pos", 30.0), "min_availability": ("unit", 0.99), "max_error_ratio": ("unit", 0.01),
    "max_p95_ms": ("pos", 500.0), "wait_seconds": ("pos", 60.0),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import earlier_days

    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="the course in one command")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", default=os.path.join(here, "docker-compose.yml"))
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", default="8000")
    p.add_argument("--prometheus-url", default="")
    for name, (_, default) in _FLOAT_RULES.items():
        p.add_argument("--" + name.replace("_", "-"), default=str(default))
    p.add_argument("--requests", default="100")
    p.add_argument("--store", default="capstone-metrics.db")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--report-json", default=None)
    args = p.parse_args(argv)

    if args.candidate not in earlier_days.CANDIDATES:
        p.error(f"argument --candidate: {args.candidate!r} is not one of {sorted(earlier_days.CANDIDATES)}")
    for name in ("model_port", "requests"):
        flag = "--" + name.replace("_", "-")
        try:
            value = int(getattr(args, name))
        except ValueError:
            p.error(f"argument {flag}: {getattr(args, name)!r} is not an integer")
        low, high = (1, 65535) if name == "model_port" else (1, None)
        if value < low or (high is not None and value > high):
            p.error(f"argument {flag}: {value} is out of range")
        setattr(args, name, value)
    for name, (rule, _) in _FLOAT_RULES.items():
        flag = "--" + name.replace("_", "-")
        try:
            value = float(getattr(args, name))
        except ValueError:
            p.error(f"argument {flag}: {getattr(args, name)!r} is not a number")
        ok = math.isfinite(value) and {"nonneg": value >= 0, "pos": value > 0, "unit": 0 <= value <= 1}[rule]
        if not ok:
            p.error(f"argument {flag}: {value} is not allowed")
        setattr(args, name, value)
    for label in args.label:
        if "=" not in label or label.startswith("="):
            p.error(f"argument --label: {label!r} is not KEY=VALUE")
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json
    from pathlib import Path

    args = parse_args(argv)
    if args.report_json is not None:
        args.report_json = Path(args.report_json)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report))
    if args.report_json is not None:
        args.report_json.write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
