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
    """A step raised; its stage is already recorded."""

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(name)
        self.name, self.error = name, error


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], object]]] = []

    def stage(name, call, *args, judge_result=None):
        began = clock()
        try:
            result = call(*args)
        except Exception as exc:  # noqa: BLE001 - any step error fails the stage
            report.stages.append(Stage(name, False, clock() - began, _describe(exc)))
            raise _StageFailed(name, exc) from exc
        seconds = clock() - began
        ok, detail = (True, "ok") if judge_result is None else judge_result(result)
        report.stages.append(Stage(name, ok, seconds, detail))
        return result

    def unwind() -> list[str]:
        if not undo:
            return []
        began = clock()
        errors = []
        while undo:
            what, action = undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every undo runs whatever happened to the others
                errors.append(f"{what}: {_describe(exc)}")
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return errors

    try:
        candidate = stage("train", steps.train)

        def gate_result(g):
            failed = [c.name for c in g.checks if not c.passed]
            if g.passed:
                return True, "passed"
            return False, "failed checks: " + ", ".join(failed)

        gate_report = stage("gate", steps.gate, candidate, judge_result=gate_result)
        report.previous = gate_report.champion
        if not gate_report.passed:
            report.outcome = "rejected"
            report.reason = "gate " + report.stages[-1].detail
            return report
        previous = report.previous
        version = stage("register", steps.register, gate_report)
        report.version = version
        undo.append(("set_champion", lambda: steps.set_champion(previous)))
        stage("package", steps.package, version)
        undo.append(("remove_image", lambda: steps.remove_image(version)))
        if previous is None:
            undo.append(("undeploy", steps.undeploy))
        else:
            undo.append(("deploy", lambda: steps.deploy(previous)))
        url = stage("deploy", steps.deploy, version)
        loaded = stage("load", steps.load, url)
        verdict = stage("monitor", steps.monitor, url, loaded,
                        judge_result=lambda v: (bool(v.healthy), v.reason or ("healthy" if v.healthy else "unhealthy")))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undo.clear()
        else:
            report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
            errors = unwind()
            if errors:
                report.outcome = "failed"
                report.reason += "; rollback failed: " + "; ".join(errors)
    except _StageFailed as failed:
        report.outcome = "failed"
        report.reason = f"{failed.name} failed: {_describe(failed.error)}"
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
    return " | ".join(part for part in str(text).splitlines() if part.strip()) if text else ""


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:7.2f}s  {_one_line(s.detail)}"
             for s in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version {report.version} previous {report.previous} " \
           f"serving {report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name} must be a positive finite number, not {value!r}")


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, not {requests!r}")
    _positive_finite("rps", rps)
    _positive_finite("deadline_s", deadline_s)
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    start = clock()
    end = start + deadline_s
    sent = ok = 0
    i = 0
    while i < requests:
        due = start + i / rps
        if due >= end:
            break
        now = clock()
        if due > now:
            sleep(due - now)
        if clock() >= end:
            break
        sent += 1
        if probe() is not None:
            ok += 1
        i += 1
    return LoadResult(sent, ok, sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    problems, facts = [], []
    if sent <= 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        facts.append(f"availability {availability:.3f}")
        if not availability >= min_availability:
            problems.append(f"availability {availability:.3f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None:
        facts.append(f"p95 {p95_ms:.1f} ms")
        if not p95_ms <= max_p95_ms:
            problems.append(f"p95 {p95_ms:.1f} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        facts.append(f"5xx {error_ratio:.4f}")
        if not error_ratio <= max_error_ratio:
            problems.append(f"5xx ratio {error_ratio:.4f} above {max_error_ratio}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, ", ".join(facts))


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


HTTP_TIMEOUT_S = 3.0
BUILD_TIMEOUT_S = 600.0
COMPOSE_TIMEOUT_S = 120.0
POLL_S = 0.25


def _get_json(url: str, timeout: float = HTTP_TIMEOUT_S):
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.status, json.load(answer)


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
        self._load_began_wall: float | None = None

    # helpers
    @property
    def _url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _compose(self, *sub: str, model_image: str | None = None):
        import os

        env = {**os.environ, "MODEL_PORT": str(self.args.model_port)}
        if model_image is not None:
            env["MODEL_IMAGE"] = model_image
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *sub]
        return self.runner(argv, env=env, timeout=COMPOSE_TIMEOUT_S)

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def train(self) -> str:
        import mlflow
        from mlflow.models import infer_signature

        import earlier_days

        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]()
        model.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        signature = infer_signature(X_train.astype("float64"), model.predict(X_train))
        with mlflow.start_run(run_name=self.args.candidate):
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

        client = self._client()
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as tmp:
            context = Path(tmp)
            skops.io.dump(model, context / "model.skops")
            (context / "model.skops").chmod(0o644)
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /app/model.skops\n"
                f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(str(context))
            self.runner(argv, env=None, timeout=BUILD_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", "--force", self._image(version)], env=None, timeout=COMPOSE_TIMEOUT_S)

    def _health(self) -> str | None:
        try:
            status, body = _get_json(f"{self._url}/health")
        except Exception:  # noqa: BLE001 - nothing answers yet
            return None
        return body.get("model_version") if status == 200 and isinstance(body, dict) else None

    def _ready(self) -> bool:
        try:
            status, _ = _get_json(f"{self._url}/ready")
        except Exception:  # noqa: BLE001
            return False
        return status == 200

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE, model_image=self._image(version))
        wanted = f"v{version}"
        deadline = self.clock() + self.args.wait_seconds
        while True:
            if self._health() == wanted and self._ready():
                return self._url
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} was not serving and ready on {self._url} within "
                                   f"{self.args.wait_seconds:g} s")
            self.sleep(min(POLL_S, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        _, X_test, _, _ = earlier_days.make_data()
        rows = itertools.cycle(X_test.to_numpy(dtype=float).tolist())
        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        self._load_began_wall = time.time()

        def probe():
            return monitor.check_model_latency(url, {"features": [next(rows)]})

        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        import urllib.parse

        status, body = _get_json(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query="
                                 f"{urllib.parse.quote(query)}")
        result = body.get("data", {}).get("result", [])
        if not result:
            return None
        return float(result[0]["value"][1])

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        began = self._load_began_wall if self._load_began_wall is not None else time.time() - 3600
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        hours = (time.time() - began + 0.5) / 3600
        p95 = store.latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + self.args.wait_seconds
            while True:
                try:
                    total = self._prometheus(total_q)
                except Exception:  # noqa: BLE001 - Prometheus down or hanging: try again until the deadline
                    total = None
                if total is not None and total >= load.sent:
                    errors = self._prometheus(errors_q) or 0.0
                    error_ratio = errors / total if total else float("nan")
                    break
                now = self.clock()
                if now >= deadline:
                    raise RuntimeError(f"Prometheus had not counted the load's {load.sent} requests within "
                                       f"{self.args.wait_seconds:g} s")
                self.sleep(min(0.5, deadline - now))
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        return self._health()


# --- task 3: the command line -------------------------------------------------------------


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def _int_in(low: int, high: int | None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an int: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value
    return parse


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty key, got {text!r}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    import earlier_days

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="Train, gate, register, package, deploy, load, monitor, roll back.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", default="interactions", choices=sorted(earlier_days.CANDIDATES))
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_int_in(1, 65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=_non_negative, default=0.05)
    p.add_argument("--requests", type=_int_in(1, None), default=100)
    p.add_argument("--rps", type=_positive, default=20.0)
    p.add_argument("--load-seconds", type=_positive, default=30.0)
    p.add_argument("--min-availability", type=_fraction, default=0.99)
    p.add_argument("--max-error-ratio", type=_fraction, default=0.01)
    p.add_argument("--max-p95-ms", type=_positive, default=500.0)
    p.add_argument("--wait-seconds", type=_positive, default=60.0)
    p.add_argument("--store", type=Path, default=Path("capstone-metrics.db"))
    p.add_argument("--label", type=_label, action="append", default=[])
    p.add_argument("--report-json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
