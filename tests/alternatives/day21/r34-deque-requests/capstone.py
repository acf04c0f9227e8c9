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


class _Abort(Exception):
    """A stage raised; the stage is already recorded."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message


class _Pipeline:
    def __init__(self, steps, clock) -> None:
        from collections import deque

        self.steps = steps
        self.clock = clock
        self.report = Report(outcome="promoted")
        self.undo = deque()  # newest at the left

    def record(self, name: str, ok: bool, began: float, detail: str) -> None:
        self.report.stages.append(Stage(name, ok, self.clock() - began, detail))

    def call(self, name: str, fn, *args):
        began = self.clock()
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001
            self.record(name, False, began, repr(exc))
            raise _Abort(name, str(exc)) from exc
        return began, value

    def simple(self, name: str, fn, *args):
        began, value = self.call(name, fn, *args)
        self.record(name, True, began, f"-> {value}")
        return value

    def rollback(self) -> list[str]:
        if not self.undo:
            return []
        began = self.clock()
        errors = []
        while self.undo:
            what, fn, args = self.undo.popleft()
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{what} raised {exc}")
        self.record("rollback", not errors, began, " / ".join(errors) or "everything undone")
        return errors

    def go(self) -> None:
        steps, report = self.steps, self.report
        candidate = self.simple("train", steps.train)
        began, gate = self.call("gate", steps.gate, candidate)
        report.previous = previous = gate.champion
        if not gate.passed:
            failed = ", ".join(check.name for check in gate.checks if not check.passed)
            self.record("gate", False, began, f"failed checks: {failed}")
            report.outcome, report.reason = "rejected", f"the gate failed: {failed}"
            return
        self.record("gate", True, began, "every check passed")
        version = report.version = self.simple("register", steps.register, gate)
        self.undo.appendleft(("set_champion", steps.set_champion, (previous,)))
        self.simple("package", steps.package, version)
        self.undo.appendleft(("remove_image", steps.remove_image, (version,)))
        if previous is not None:
            self.undo.appendleft(("redeploy", steps.deploy, (previous,)))
        else:
            self.undo.appendleft(("undeploy", steps.undeploy, ()))
        url = self.simple("deploy", steps.deploy, version)
        load = self.simple("load", steps.load, url)
        began, verdict = self.call("monitor", steps.monitor, url, load)
        self.record("monitor", verdict.healthy, began, verdict.reason)
        if verdict.healthy:
            self.undo.clear()
            return
        errors = self.rollback()
        if errors:
            report.outcome = "failed"
            report.reason = f"rolled back after a regression ({verdict.reason}), but the rollback failed: " \
                            + " / ".join(errors)
        else:
            report.outcome, report.reason = "rolled_back", verdict.reason


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    pipeline = _Pipeline(steps, clock)
    try:
        pipeline.go()
    except _Abort as abort:
        errors = pipeline.rollback()
        pipeline.report.outcome = "failed"
        pipeline.report.reason = f"{abort.stage} failed: {abort.message}" + "".join(f" (undo: {e})" for e in errors)
    try:
        pipeline.report.serving = steps.serving()
    except Exception:  # noqa: BLE001
        pipeline.report.serving = None
    return pipeline.report


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    import re

    flat = lambda text: re.sub(r"\s*(?:\r\n|\r|\n)\s*", " / ", str(text))  # noqa: E731
    out = []
    for stage in report.stages:
        out.append("%s %s %.2fs %s" % (stage.name, "ok" if stage.ok else "FAILED", stage.seconds, flat(stage.detail)))
    out.append("outcome: %s exit=%d version=%s serving=%s %s" % (
        report.outcome, report.exit_code, report.version, report.serving, flat(report.reason)))
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _check_number(name: str, value) -> None:
    import math

    try:
        good = not isinstance(value, (bool, str, bytes)) and math.isfinite(value) and value > 0
    except TypeError:
        good = False
    if not good:
        raise ValueError(f"{name}={value!r}: a positive finite number please")


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import operator

    try:
        count = operator.index(requests)
    except TypeError:
        raise ValueError(f"requests={requests!r}: an int >= 1 please") from None
    if isinstance(requests, bool) or count < 1:
        raise ValueError(f"requests={requests!r}: an int >= 1 please")
    _check_number("rps", rps)
    _check_number("deadline_s", deadline_s)
    t0 = clock()
    answers = []
    for i in range(count):
        offset = i / rps
        if offset >= deadline_s:
            break
        now = clock()
        if now - t0 >= deadline_s:
            break
        wait = (t0 + offset) - now
        if wait > 0:
            sleep(wait)
            if clock() - t0 >= deadline_s:
                break
        answers.append(probe())
    ok = sum(answer is not None for answer in answers)
    return LoadResult(sent=len(answers), ok=ok, failed=len(answers) - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    import operator

    availability = ok / sent if sent > 0 else float("nan")
    signals = [("availability", availability, min_availability, operator.ge),
               ("p95", p95_ms, max_p95_ms, operator.le),
               ("5xx", error_ratio, max_error_ratio, operator.le)]
    bad, good = [], []
    for name, value, limit, within in signals:
        if value is None:
            continue
        (good if within(value, limit) else bad).append(f"{name}={value} (limit {limit})")
    if bad:
        return Verdict(False, "past the limits: " + ", ".join(bad))
    return Verdict(True, "within the limits: " + ", ".join(good))


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
    """The README's `steps` against real tools."""

    TIMEOUT = (2.0, 4.0)  # connect, read

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        import requests

        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.http = requests
        self.load_window: tuple[float, float] | None = None

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _env(self, **extra) -> dict:
        import os

        return {**os.environ, **extra}

    def train(self) -> str:
        import mlflow
        from earlier_days import CANDIDATES, make_data
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = make_data()
        estimator = CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id) as active:
            mlflow.log_param("candidate", self.args.candidate)
            mlflow.sklearn.log_model(estimator, name="candidate",
                                     signature=infer_signature(X_train, estimator.predict_proba(X_train)[:, 1]))
            run_id = active.info.run_id
        return f"runs:/{run_id}/candidate"

    def gate(self, candidate: str):
        from earlier_days import gate, make_data

        data = make_data()
        return gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, data[1], data[3],
                             slice_by="segment", metric="roc_auc", margin=self.args.margin,
                             slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        from earlier_days import gate

        return str(gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, "champion", version)
            return
        client.delete_registered_model_alias(self.args.model_name, "champion")

    def tag(self, version: str) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def package(self, version: str) -> str:
        import json
        import shutil
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        source = self._client().get_model_version_download_uri(self.args.model_name, version)
        model = mlflow.sklearn.load_model(source)
        build = Path(tempfile.mkdtemp(prefix="capstone-image-"))
        try:
            skops.io.dump(model, build / "model.skops")
            lines = [f"FROM {self.args.server_image}", "COPY model.skops /opt/model/model.skops",
                     'ENV MODEL_PATH="/opt/model/model.skops"', f'ENV MODEL_VERSION="v{version}"']
            (build / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            labels = [arg for label in self.args.label for arg in ("--label", label)]
            self.runner(["docker", "build", "-t", self.tag(version), *labels, str(build)], env=self._env(), timeout=900)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return self.tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self.tag(version)], env=self._env(), timeout=60)

    def compose(self, argv: list[str], **extra) -> None:
        self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project, *argv],
                    env=self._env(MODEL_PORT=str(self.args.model_port), **extra), timeout=300)

    @property
    def base(self) -> str:
        return "http://127.0.0.1:%d" % self.args.model_port

    def _health(self):
        answer = self.http.get(self.base + "/health", timeout=self.TIMEOUT)
        return answer.json().get("model_version") if answer.ok else None

    def deploy(self, version: str) -> str:
        self.compose(["up", "--detach", "--no-deps", "model"], MODEL_IMAGE=self.tag(version))
        give_up = self.clock() + self.args.wait_seconds
        while True:
            try:
                if self._health() == f"v{version}" and \
                        self.http.get(self.base + "/ready", timeout=self.TIMEOUT).status_code == 200:
                    return self.base
            except Exception:  # noqa: BLE001
                pass
            left = give_up - self.clock()
            if left <= 0:
                raise TimeoutError(f"v{version} did not become ready on {self.base} in {self.args.wait_seconds} s")
            self.sleep(min(0.5, left))

    def undeploy(self) -> None:
        self.compose(["stop", "model"])
        self.compose(["rm", "-f", "model"])

    def serving(self) -> str | None:
        try:
            return self._health()
        except Exception:  # noqa: BLE001
            return None

    def load(self, url: str) -> LoadResult:
        from earlier_days import make_data, monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = make_data()[1].to_numpy(dtype=float).tolist()
        position = [0]

        def probe():
            row = rows[position[0] % len(rows)]
            position[0] += 1
            return store.check_model_latency(url, {"features": [row]})

        began = time.time()
        result = put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                          clock=self.clock, sleep=self.sleep)
        self.load_window = (began, time.time())
        return result

    def _p95(self):
        import numpy as np
        from earlier_days import monitoring

        if self.load_window is None:
            return None
        began, ended = self.load_window
        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        values = [row["value"] for row in store.get_recent_metrics("latency_ms", hours=24 * 365)
                  if began <= row["timestamp"] <= ended]
        return float(np.percentile(values, 95)) if values else None

    def _by_status(self) -> dict[int, float]:
        answer = self.http.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                               params={"query": 'sum by (status) (model_requests_total{endpoint="/predict"})'},
                               timeout=self.TIMEOUT)
        answer.raise_for_status()
        return {int(item["metric"].get("status", "0")): float(item["value"][1])
                for item in answer.json()["data"]["result"]}

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        ratio = None
        if self.args.prometheus_url:
            give_up = self.clock() + self.args.wait_seconds
            while True:
                try:
                    counts = self._by_status()
                except Exception:  # noqa: BLE001
                    counts = {}
                total = sum(counts.values())
                if counts and total >= load.sent:
                    ratio = sum(n for status, n in counts.items() if 500 <= status <= 599) / total
                    break
                left = give_up - self.clock()
                if left <= 0:
                    raise TimeoutError(f"Prometheus did not count the {load.sent} requests of the load in "
                                       f"{self.args.wait_seconds} s: the 5xx ratio is unknown")
                self.sleep(min(1.0, left))
        return judge(sent=load.sent, ok=load.ok, p95_ms=self._p95(), error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _number(*, kind=float, low=None, high=None, low_open=False):
    import math
    import re

    def convert(text: str):
        if kind is int:
            if not re.fullmatch(r"[+-]?\d+", text.strip()):
                raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
            value = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
            if math.isnan(value) or math.isinf(value):
                raise argparse.ArgumentTypeError(f"{text!r} is not finite")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text!r} is too small")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text!r} is too large")
        return value
    return convert


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os

    from earlier_days import CANDIDATES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--tracking-uri", required=True)
    add("--server-image", required=True)
    add("--model-name", default="capstone")
    add("--candidate", default="interactions", choices=list(CANDIDATES))
    add("--image-repo", default="katas/capstone-model")
    add("--compose-file", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml"))
    add("--project", default="capstone")
    add("--model-port", type=_number(kind=int, low=1, high=65535), default=8000)
    add("--prometheus-url", default="")
    for flag, default in (("--margin", 0.01), ("--slice-tolerance", 0.05)):
        add(flag, type=_number(low=0.0), default=default)
    add("--requests", type=_number(kind=int, low=1), default=100)
    for flag, default in (("--rps", 20.0), ("--load-seconds", 30.0), ("--max-p95-ms", 500.0),
                          ("--wait-seconds", 60.0)):
        add(flag, type=_number(low=0.0, low_open=True), default=default)
    for flag, default in (("--min-availability", 0.99), ("--max-error-ratio", 0.01)):
        add(flag, type=_number(low=0.0, high=1.0), default=default)
    add("--store", default="capstone-metrics.db")
    add("--label", action="append", default=[], metavar="KEY=VALUE")
    add("--report-json", default=None)
    args = parser.parse_args(argv)
    for label in args.label:
        if "=" not in label or label.startswith("="):
            parser.error(f"argument --label: {label!r} is not KEY=VALUE")
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report))
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
