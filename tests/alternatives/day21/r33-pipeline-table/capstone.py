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
import itertools
import math
import numbers
import os
import re
import shutil
import tempfile
from collections import deque
from pathlib import Path
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
    """A stage raised: carries the stage name and the error."""


class _Pipeline:
    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.stages: list[Stage] = []
        self.undo: deque = deque()  # appendleft: the newest is first

    def call(self, name, fn, *args, judge_ok=None, describe=str):
        t0 = self.clock()
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001
            self.stages.append(Stage(name, False, self.clock() - t0, f"error: {exc!r}"))
            raise _Abort(name, exc) from exc
        t1 = self.clock()
        ok, detail = judge_ok(value) if judge_ok else (True, describe(value))
        self.stages.append(Stage(name, ok, t1 - t0, detail))
        return value

    def rollback(self) -> list[str]:
        if not self.undo:
            return []
        t0 = self.clock()
        errors, notes = [], []
        for description, action in list(self.undo):
            try:
                action()
                notes.append(description)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{description} raised {exc!r}")
        self.undo.clear()
        self.stages.append(Stage("rollback", not errors, self.clock() - t0, ", ".join(notes + errors)))
        return errors


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    p = _Pipeline(steps, clock)
    state = {"version": None, "previous": None}
    outcome, reason = "promoted", ""

    def gate_ok(report):
        bad = [check.name for check in report.checks if not check.passed]
        return (not bad, "failed: " + " ".join(bad) if bad else "passed")

    try:
        candidate = p.call("train", steps.train)
        gate_report = p.call("gate", steps.gate, candidate, judge_ok=gate_ok)
        state["previous"] = previous = gate_report.champion
        if not gate_report.passed:
            outcome, reason = "rejected", "candidate rejected by the gate, " + p.stages[-1].detail
        else:
            version = p.call("register", steps.register, gate_report)
            state["version"] = version
            p.undo.appendleft(("set_champion", lambda: steps.set_champion(previous)))
            p.call("package", steps.package, version)
            p.undo.appendleft(("remove_image", lambda: steps.remove_image(version)))
            p.undo.appendleft(("redeploy" if previous is not None else "undeploy",
                               (lambda: steps.deploy(previous)) if previous is not None else steps.undeploy))
            url = p.call("deploy", steps.deploy, version)
            result = p.call("load", steps.load, url, describe=lambda r: f"{r.ok}/{r.sent} answered")
            verdict = p.call("monitor", steps.monitor, url, result,
                             judge_ok=lambda v: (bool(v.healthy), v.reason))
            if not verdict.healthy:
                outcome, reason = "rolled_back", verdict.reason
    except _Abort as abort:
        name, error = abort.args
        outcome, reason = "failed", f"{name} failed: {error}"
    if outcome in ("failed", "rolled_back"):
        errors = p.rollback()
        if errors:
            outcome = "failed"
            reason = reason + " | rollback failed: " + "; ".join(errors)
    try:
        serving = steps.serving()
    except Exception:  # noqa: BLE001
        serving = None
    return Report(outcome, state["version"], state["previous"], serving, reason, p.stages)


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    flat = lambda text: re.sub(r"\s*(?:\r\n|\r|\n)\s*", " / ", str(text))  # noqa: E731
    out = []
    for s in report.stages:
        out.append("%s %s %.3fs %s" % (s.name, "ok" if s.ok else "FAILED", s.seconds, flat(s.detail)))
    out.append("outcome: %s, exit %d, version %s%s" % (report.outcome, report.exit_code, report.version,
                                                        f" ({flat(report.reason)})" if report.reason else ""))
    return "\n".join(out) + "\n"


# --- task 2: the load and the decision ---------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError("requests: an int >= 1")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not _is_number(value) or not math.isfinite(value) or not value > 0:
            raise ValueError(f"{name}: a positive finite number")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    start = clock()
    stop_at = start + deadline_s
    answers = []
    for i in itertools.count():
        if i >= requests:
            break
        due = start + i / rps
        if due >= stop_at:
            break
        remaining = due - clock()
        if remaining > 0:
            sleep(remaining)
        if clock() >= stop_at:
            break
        answers.append(probe() is not None)
    sent, ok = len(answers), sum(answers)
    return LoadResult(sent=sent, ok=ok, failed=sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    availability = ok / sent if sent > 0 else float("nan")
    checks = [("availability", availability, lambda v: v >= min_availability, f">= {min_availability}"),
              ("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"),
              ("5xx ratio", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}")]
    failures, summary = [], []
    for name, value, within, limit in checks:
        if value is None:
            continue
        summary.append(f"{name} {value:.4g}")
        if not within(value):
            failures.append(f"{name} {value:.4g} not {limit}")
    if failures:
        return Verdict(False, "; ".join(failures))
    return Verdict(True, ", ".join(summary))


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

    HTTP_TIMEOUT = (2.0, 4.0)  # connect, read
    BUILD_TIMEOUT = 900
    COMPOSE_TIMEOUT = 300
    POLL_S = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        import requests

        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.http = requests.Session()
        self.http.trust_env = False
        self.load_window = None

    @property
    def model_url(self) -> str:
        return "http://127.0.0.1:%d" % self.args.model_port

    def tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def train(self) -> str:
        import earlier_days
        import mlflow
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = earlier_days.make_data()
        estimator = earlier_days.CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        client = self._client()
        experiment = client.get_experiment_by_name(self.args.model_name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(self.args.model_name)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id) as active:
            mlflow.log_param("candidate", self.args.candidate)
            sample = X_train.astype("float64")
            mlflow.sklearn.log_model(estimator, name="model",
                                     signature=infer_signature(sample, estimator.predict_proba(sample)[:, 1]))
            run_id = active.info.run_id
        return f"runs:/{run_id}/model"

    def gate(self, candidate: str):
        from earlier_days import gate, make_data

        _, X_test, _, y_test = make_data()
        return gate.run_gate(tracking_uri=self.args.tracking_uri, model_name=self.args.model_name,
                             candidate_uri=candidate, X=X_test, y=y_test, slice_by="segment", metric="roc_auc",
                             margin=self.args.margin, slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        from earlier_days import gate

        return "%s" % gate.promote(self.args.tracking_uri, self.args.model_name, report)

    def set_champion(self, version: str | None) -> None:
        from earlier_days import gate

        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, gate.CHAMPION, version)
            return
        try:
            client.get_model_version_by_alias(self.args.model_name, gate.CHAMPION)
        except Exception:  # noqa: BLE001 - no alias: nothing to remove
            return
        client.delete_registered_model_alias(self.args.model_name, gate.CHAMPION)

    def package(self, version: str) -> str:
        import mlflow.sklearn
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        folder = Path(tempfile.mkdtemp(prefix="capstone-image-"))
        try:
            os.chmod(folder, 0o755)
            blob = folder / "model.skops"
            blob.write_bytes(skops.io.dumps(model))
            blob.chmod(0o644)
            dockerfile = folder / "Containerfile"
            dockerfile.write_text("\n".join([
                "FROM " + self.args.server_image,
                "COPY model.skops /opt/model/model.skops",
                'ENV MODEL_PATH="/opt/model/model.skops"',
                'ENV MODEL_VERSION="v%s"' % version, ""]), encoding="utf-8")
            command = ["docker", "build", "-f", str(dockerfile), "-t", self.tag(version)]
            command += [f"--label={item}" for item in self.args.label]
            self.runner(command + [str(folder)], env=dict(os.environ), timeout=self.BUILD_TIMEOUT)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self.tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", "-f", self.tag(version)], env=dict(os.environ), timeout=120)

    def _compose(self, extra_env: dict, *command: str) -> None:
        env = {**os.environ, "MODEL_PORT": str(self.args.model_port), **extra_env}
        self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", str(self.args.project), *command],
                    env=env, timeout=self.COMPOSE_TIMEOUT)

    def _get(self, path: str):
        return self.http.get(self.model_url + path, timeout=self.HTTP_TIMEOUT)

    def deploy(self, version: str) -> str:
        self._compose({"MODEL_IMAGE": self.tag(version)}, "up", "--detach", "--no-deps", "model")
        expected = "v%s" % version
        give_up = self.clock() + float(self.args.wait_seconds)
        last = "no answer"
        while self.clock() < give_up:
            try:
                health = self._get("/health")
                reported = health.json().get("model_version") if health.status_code == 200 else None
                if reported == expected:
                    ready = self._get("/ready")
                    if ready.status_code == 200:
                        return self.model_url
                    last = f"{expected} not ready ({ready.status_code})"
                else:
                    last = f"/health reports {reported!r}"
            except Exception as exc:  # noqa: BLE001
                last = repr(exc)
            self.sleep(self.POLL_S)
        raise TimeoutError(f"deploy of {expected}: not ready after {self.args.wait_seconds} s: {last}")

    def undeploy(self) -> None:
        self._compose({}, "stop", "model")
        self._compose({}, "rm", "-f", "model")

    def load(self, url: str) -> LoadResult:
        from earlier_days import make_data, monitoring

        rows = make_data()[1].to_numpy(dtype=float).tolist()
        cycle = itertools.cycle(rows)
        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        began = time.time()
        result = put_load(lambda: store.check_model_latency(url, {"features": [next(cycle)]}),
                          requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                          clock=self.clock, sleep=self.sleep)
        self.load_window = (began, time.time())
        return result

    def _prom(self, query: str) -> float:
        answer = self.http.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": query},
                               timeout=self.HTTP_TIMEOUT)
        answer.raise_for_status()
        result = answer.json()["data"]["result"]
        return sum(float(sample["value"][1]) for sample in result)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np
        from earlier_days import monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        began, ended = self.load_window or (time.time() - self.args.load_seconds, time.time())
        samples = [s["value"] for s in store.get_recent_metrics("latency_ms", hours=24)
                   if began <= s["timestamp"] <= ended + 1]
        p95 = float(np.percentile(samples, 95)) if samples else None
        ratio = None
        if self.args.prometheus_url:
            give_up = self.clock() + float(self.args.wait_seconds)
            while True:
                try:
                    total = self._prom('model_requests_total{endpoint="/predict"}')
                    if total >= load.sent and total > 0:
                        ratio = self._prom('model_requests_total{endpoint="/predict",status=~"5.."}') / total
                        break
                except Exception:  # noqa: BLE001 - Prometheus not answering yet
                    pass
                if self.clock() >= give_up:
                    return Verdict(False, f"5xx ratio unknown: Prometheus did not count the {load.sent} requests "
                                          f"within {self.args.wait_seconds} s")
                self.sleep(self.POLL_S)
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            answer = self._get("/health")
            return answer.json().get("model_version") if answer.status_code == 200 else None
        except Exception:  # noqa: BLE001
            return None


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind, *, low=None, high=None, low_open=False):
    """A type function: parse with `kind`, then hold the value to its range (finite for floats)."""

    def convert(text: str):
        if kind is int:
            if not re.fullmatch(r"\s*[+-]?\d+\s*", text):
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
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if low_open else '>='} {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text!r} must be <= {high}")
        return value

    return convert


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import earlier_days

    positive = _checked(float, low=0, low_open=True)
    non_negative = _checked(float, low=0)
    unit = _checked(float, low=0, high=1)
    table = [
        ("--tracking-uri", dict(required=True)),
        ("--server-image", dict(required=True)),
        ("--model-name", dict(default="capstone")),
        ("--candidate", dict(default="interactions", choices=sorted(earlier_days.CANDIDATES))),
        ("--image-repo", dict(default="katas/capstone-model")),
        ("--compose-file", dict(default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "docker-compose.yml"))),
        ("--project", dict(default="capstone")),
        ("--model-port", dict(type=_checked(int, low=1, high=65535), default=8000)),
        ("--prometheus-url", dict(default="")),
        ("--margin", dict(type=non_negative, default=0.01)),
        ("--slice-tolerance", dict(type=non_negative, default=0.05)),
        ("--requests", dict(type=_checked(int, low=1), default=100)),
        ("--rps", dict(type=positive, default=20.0)),
        ("--load-seconds", dict(type=positive, default=30.0)),
        ("--min-availability", dict(type=unit, default=0.99)),
        ("--max-error-ratio", dict(type=unit, default=0.01)),
        ("--max-p95-ms", dict(type=positive, default=500.0)),
        ("--wait-seconds", dict(type=positive, default=60.0)),
        ("--store", dict(default="capstone-metrics.db")),
        ("--label", dict(type=_key_value, action="append", default=[])),
        ("--report-json", dict(default=None)),
    ]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, options in table:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report))
    sys.stdout.flush()
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
