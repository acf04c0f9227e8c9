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


class _StageFailed(Exception):
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {error}")
        self.name = name
        self.error = error


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], None]]] = []

    def stage(name, fn, *args):
        began = clock()
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - any step error fails the stage
            report.stages.append(Stage(name, False, clock() - began, _error_text(exc)))
            raise _StageFailed(name, exc) from exc
        return result, clock() - began

    def unwind() -> list[str]:
        began = clock()
        errors = []
        while undo:
            label, action = undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every undo runs whatever the others did
                errors.append(f"{label}: {_error_text(exc)}")
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return errors

    try:
        candidate, secs = stage("train", steps.train)
        report.stages.append(Stage("train", True, secs, str(candidate)))
        gate_report, secs = stage("gate", steps.gate, candidate)
        report.previous = gate_report.champion
        if not gate_report.passed:
            failed = [check.name for check in gate_report.checks if not check.passed]
            text = "gate rejected the candidate: " + ", ".join(failed)
            report.stages.append(Stage("gate", False, secs, text))
            report.outcome, report.reason = "rejected", text
            return report
        report.stages.append(Stage("gate", True, secs, "passed"))
        previous = report.previous

        version, secs = stage("register", steps.register, gate_report)
        report.version = version
        report.stages.append(Stage("register", True, secs, f"version {version}"))
        undo.append(("set_champion", lambda: steps.set_champion(previous)))

        image, secs = stage("package", steps.package, version)
        report.stages.append(Stage("package", True, secs, str(image)))
        undo.append(("remove_image", lambda: steps.remove_image(version)))

        if previous is None:
            undo.append(("undeploy", steps.undeploy))
        else:
            undo.append(("deploy", lambda: steps.deploy(previous)))
        url, secs = stage("deploy", steps.deploy, version)
        report.stages.append(Stage("deploy", True, secs, str(url)))

        load, secs = stage("load", steps.load, url)
        report.stages.append(Stage("load", True, secs, f"sent {load.sent}, ok {load.ok}, failed {load.failed}"))

        verdict, secs = stage("monitor", steps.monitor, url, load)
        report.stages.append(Stage("monitor", bool(verdict.healthy), secs, verdict.reason or "healthy"))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undo.clear()
        else:
            errors = unwind()
            if errors:
                report.outcome = "failed"
                report.reason = f"{verdict.reason}; rollback failed: " + "; ".join(errors)
            else:
                report.outcome, report.reason = "rolled_back", verdict.reason
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = f"{failure.name} failed: {_error_text(failure.error)}"
        if undo:
            errors = unwind()
            if errors:
                report.reason += "; rollback failed: " + "; ".join(errors)
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _one_line(text: str) -> str:
    return " | ".join(part for part in str(text).splitlines() if part.strip())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{stage.name:<9} {'ok' if stage.ok else 'FAILED':<6} {stage.seconds:8.2f}s  {_one_line(stage.detail)}"
             for stage in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} " \
           f"previous={report.previous} serving={report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(value, name: str) -> float:
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import numbers

    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    rps = _positive_finite(rps, "rps")
    deadline_s = _positive_finite(deadline_s, "deadline_s")
    start = clock()
    sent = ok = 0
    for i in range(requests):
        offset = i / rps
        if offset >= deadline_s:
            break
        due, end = start + offset, start + deadline_s
        while True:
            now = clock()
            if now >= end:
                return LoadResult(sent, ok, sent - ok)
            if due - now <= 1e-9:
                break
            sleep(max(0.0, due - now))
        sent += 1
        latency = probe()
        if latency is not None and isinstance(latency, numbers.Number):
            ok += 1
    return LoadResult(sent, ok, sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    problems = []
    if not sent > 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        if not availability >= min_availability:
            problems.append(f"availability {float(availability):.3f} < {float(min_availability)}")
    if p95_ms is not None and not p95_ms <= max_p95_ms:
        problems.append(f"p95 {float(p95_ms):.1f} ms > {float(max_p95_ms)} ms")
    if error_ratio is not None and not error_ratio <= max_error_ratio:
        problems.append(f"5xx share {float(error_ratio):.3f} > {float(max_error_ratio)}")
    return Verdict(healthy=not problems, reason="; ".join(problems))


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

    HTTP_TIMEOUT = 3.0
    DOCKER_TIMEOUT = 600.0
    POLL_S = 0.5

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began: float | None = None

    # helpers
    def _image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _base(self) -> str:
        return f"http://127.0.0.1:{int(self.args.model_port)}"

    def _compose(self, *command: str, extra_env: dict | None = None):
        import os

        env = {**os.environ, **(extra_env or {})}
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", str(self.args.project),
                *command]
        return self.runner(argv, env=env, timeout=self.DOCKER_TIMEOUT)

    def _get(self, url: str):
        """(status, body text) of a GET, HTTPError statuses included."""
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=self.HTTP_TIMEOUT) as answer:
                return answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as answer:
            with answer:
                return answer.code, ""

    def _health_version(self) -> str | None:
        import json

        status, body = self._get(f"{self._base()}/health")
        if status != 200:
            return None
        return json.loads(body).get("model_version")

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    # steps
    def train(self) -> str:
        import earlier_days
        from mlflow.models import infer_signature

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        signature = infer_signature(X_train.astype("float64"), model.predict(X_train))
        with mlflow.start_run(run_name=f"capstone-{self.args.candidate}"):
            info = mlflow.sklearn.log_model(model, name="model", signature=signature)
        return info.model_uri

    def gate(self, candidate: str):
        import earlier_days

        _, X_test, _, y_test = earlier_days.make_data()
        return earlier_days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                          slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                          slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import earlier_days
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    def package(self, version: str) -> str:
        import os
        import tempfile

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            skops.io.dump(model, os.path.join(folder, "model.skops"))
            os.chmod(os.path.join(folder, "model.skops"), 0o644)
            with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as dockerfile:
                dockerfile.write(f"FROM {self.args.server_image}\n"
                                 "COPY model.skops /opt/capstone/model.skops\n"
                                 f"ENV MODEL_PATH=/opt/capstone/model.skops MODEL_VERSION=v{version}\n")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(folder)
            self.runner(argv, env=dict(os.environ), timeout=self.DOCKER_TIMEOUT)
        return tag

    def remove_image(self, version: str) -> None:
        import os

        self.runner(["docker", "image", "rm", self._image(version)], env=dict(os.environ), timeout=120.0)

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE,
                      extra_env={"MODEL_IMAGE": self._image(version), "MODEL_PORT": str(int(self.args.model_port))})
        wanted = f"v{version}"
        deadline = self.clock() + float(self.args.wait_seconds)
        last = "no answer yet"
        while True:
            try:
                seen = self._health_version()
                if seen == wanted:
                    status, _ = self._get(f"{self._base()}/ready")
                    if status == 200:
                        return self._base()
                    last = f"/ready answered {status}"
                else:
                    last = f"/health reports {seen!r}"
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = _error_text(exc)
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} was not ready within {self.args.wait_seconds:g} s: {last}")
            self.sleep(max(0.0, min(self.POLL_S, deadline - now)))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE, extra_env={"MODEL_PORT": str(int(self.args.model_port))})

    def load(self, url: str) -> LoadResult:
        import earlier_days

        X_test = earlier_days.make_data()[1]
        rows = X_test.to_numpy(dtype=float).tolist()
        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        position = [0]

        def probe():
            row = rows[position[0] % len(rows)]
            position[0] += 1
            return monitor.check_model_latency(url, {"features": [row]})

        self._load_began = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float:
        import json
        import urllib.parse

        status, body = self._get(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?"
                                 + urllib.parse.urlencode({"query": query}))
        if status != 200:
            raise RuntimeError(f"Prometheus answered {status}")
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def _error_ratio(self, sent: int) -> float | None:
        total_q = 'sum(model_requests_total{endpoint="/predict"})'
        errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
        deadline = self.clock() + float(self.args.wait_seconds)
        while True:
            try:
                total = self._prometheus(total_q)
                if total >= sent:
                    return self._prometheus(errors_q) / total if total else 0.0
            except Exception:  # noqa: BLE001 - Prometheus not answering yet: keep waiting
                pass
            now = self.clock()
            if now >= deadline:
                return None
            self.sleep(max(0.0, min(self.POLL_S, deadline - now)))

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        began = self._load_began if self._load_began is not None else time.time()
        since = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store), clock=lambda: began)
        p95 = since.latency_percentile(95, hours=0)
        error_ratio = None
        if self.args.prometheus_url:
            error_ratio = self._error_ratio(load.sent)
            if error_ratio is None:
                return Verdict(False, f"5xx share unknown: Prometheus had not counted the load's {load.sent} "
                                      f"requests within {self.args.wait_seconds:g} s")
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            return self._health_version()
        except Exception:  # noqa: BLE001
            return None


# --- task 3: the command line -------------------------------------------------------------


def _type(check, message):
    def convert(text: str):
        try:
            value = check(text)
        except (TypeError, ValueError):
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{message}, got {text!r}")
        return value
    return convert


def _finite(text):
    import math

    value = float(text)
    return value if math.isfinite(value) else None


def _positive(text):
    value = _finite(text)
    return value if value is not None and value > 0 else None


def _non_negative(text):
    value = _finite(text)
    return value if value is not None and value >= 0 else None


def _fraction(text):
    value = _finite(text)
    return value if value is not None and 0 <= value <= 1 else None


def _port(text):
    value = int(text)
    return value if 1 <= value <= 65535 else None


def _at_least_one(text):
    value = int(text)
    return value if value >= 1 else None


def _label(text):
    key, sep, _ = text.partition("=")
    return text if sep and key else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    import earlier_days

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="capstone.py", description="Train, gate, ship, watch and roll back a model.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", default="interactions", choices=list(earlier_days.CANDIDATES))
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_type(_port, "an int 1-65535"), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_type(_non_negative, "a finite number >= 0"), default=0.01)
    p.add_argument("--slice-tolerance", type=_type(_non_negative, "a finite number >= 0"), default=0.05)
    p.add_argument("--requests", type=_type(_at_least_one, "an int >= 1"), default=100)
    p.add_argument("--rps", type=_type(_positive, "a positive finite number"), default=20.0)
    p.add_argument("--load-seconds", type=_type(_positive, "a positive finite number"), default=30.0)
    p.add_argument("--min-availability", type=_type(_fraction, "a number between 0 and 1"), default=0.99)
    p.add_argument("--max-error-ratio", type=_type(_fraction, "a number between 0 and 1"), default=0.01)
    p.add_argument("--max-p95-ms", type=_type(_positive, "a positive finite number"), default=500.0)
    p.add_argument("--wait-seconds", type=_type(_positive, "a positive finite number"), default=60.0)
    p.add_argument("--store", type=Path, default=Path("capstone-metrics.db"))
    p.add_argument("--label", type=_type(_label, "KEY=VALUE with a non-empty key"), action="append", default=[])
    p.add_argument("--report-json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        args.report_json.parent.mkdir(parents=True, exist_ok=True)
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
