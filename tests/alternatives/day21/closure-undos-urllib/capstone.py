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
import json
import math
import numbers
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
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
    """A stage raised: its Stage is recorded already; carries the stage name and the error."""

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {error}")
        self.name = name
        self.error = error


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list[tuple[str, Callable[[], object]]] = []

    def stage(name, call, *args, judge_result=None):
        started = clock()
        try:
            result = call(*args)
        except Exception as exc:  # noqa: BLE001 - any error fails the stage
            report.stages.append(Stage(name, False, clock() - started, _describe(exc)))
            raise _StageFailed(name, exc) from exc
        seconds = clock() - started
        ok, detail = judge_result(result) if judge_result else (True, str(result))
        report.stages.append(Stage(name, ok, seconds, detail))
        return result

    def unwind() -> list[str]:
        started = clock()
        errors = []
        for label, undo in reversed(undos):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - every undo runs whatever the others did
                errors.append(f"{label}: {_describe(exc)}")
        if undos:
            detail = "; ".join(errors) if errors else ", ".join(label for label, _ in reversed(undos))
            report.stages.append(Stage("rollback", not errors, clock() - started, detail))
        undos.clear()
        return errors

    def gate_result(g):
        failed = [check.name for check in g.checks if not check.passed]
        return bool(g.passed), ("passed" if g.passed else "failed checks: " + ", ".join(failed))

    def monitor_result(verdict):
        return bool(verdict.healthy), verdict.reason

    try:
        candidate = stage("train", steps.train)
        gate_report = stage("gate", steps.gate, candidate, judge_result=gate_result)
        previous = gate_report.champion
        report.previous = previous
        if not gate_report.passed:
            report.outcome = "rejected"
            report.reason = "gate rejected the candidate: " + report.stages[-1].detail
            return report
        version = stage("register", steps.register, gate_report)
        report.version = version
        undos.append((f"champion back to {previous}", lambda: steps.set_champion(previous)))
        stage("package", steps.package, version)
        undos.append((f"remove image of v{version}", lambda: steps.remove_image(version)))
        if previous is None:
            undos.append(("undeploy", steps.undeploy))
        else:
            undos.append((f"redeploy v{previous}", lambda: steps.deploy(previous)))
        url = stage("deploy", steps.deploy, version)
        load = stage("load", steps.load, url)
        verdict = stage("monitor", steps.monitor, url, load, judge_result=monitor_result)
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undos.clear()
            return report
        report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
        errors = unwind()
        if errors:
            report.outcome = "failed"
            report.reason += "; rollback failed: " + "; ".join(errors)
        return report
    except _StageFailed as failed:
        report.outcome = "failed"
        report.reason = f"{failed.name} failed: {_describe(failed.error)}"
        errors = unwind()
        if errors:
            report.reason += "; rollback failed: " + "; ".join(errors)
        return report
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None


def _one_line(text) -> str:
    """A detail or reason on one line: an error's output (docker's) may span several."""
    return " ".join(str(text).split())


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
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    rps = _positive_finite(rps, "rps")
    deadline_s = _positive_finite(deadline_s, "deadline_s")
    start = clock()
    end = start + deadline_s
    sent = ok = 0
    for i in range(requests):
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
    return LoadResult(sent, ok, sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    problems, seen = [], []
    if sent <= 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        seen.append(f"availability {availability:.3f}")
        if not availability >= min_availability:
            problems.append(f"availability {availability:.3f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None:
        seen.append(f"p95 {p95_ms:.1f} ms")
        if not p95_ms <= max_p95_ms:
            problems.append(f"p95 {p95_ms} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        seen.append(f"5xx ratio {error_ratio:.4f}")
        if not error_ratio <= max_error_ratio:
            problems.append(f"5xx ratio {error_ratio} above {max_error_ratio}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, ", ".join(seen))


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


DOCKER_TIMEOUT_S = 600.0
COMPOSE_TIMEOUT_S = 180.0
HTTP_TIMEOUT_S = 2.0


def _get_json(url: str, timeout: float = HTTP_TIMEOUT_S):
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
        self._load_started_wall: float | None = None

    # helpers
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _compose(self, *command: str, extra_env: dict | None = None) -> None:
        env = {**os.environ, "MODEL_PORT": str(self.args.model_port), **(extra_env or {})}
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *command]
        self.runner(argv, env=env, timeout=COMPOSE_TIMEOUT_S)

    def train(self) -> str:
        import sklearn
        from mlflow.models import infer_signature

        import earlier_days

        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow = self._mlflow()
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)),
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
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
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        else:
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))

    def package(self, version: str) -> str:
        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as context:
            skops.io.dump(model, Path(context) / "model.skops")
            Path(context, "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /opt/capstone/model.skops\n"
                f"ENV MODEL_PATH=/opt/capstone/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            labels = [part for label in self.args.label for part in ("--label", label)]
            self.runner(["docker", "build", "--tag", tag, *labels, context], env=dict(os.environ),
                        timeout=DOCKER_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self.image(version)], env=dict(os.environ), timeout=DOCKER_TIMEOUT_S)

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", "model", extra_env={"MODEL_IMAGE": self.image(version)})
        wanted = f"v{version}"
        deadline = self.clock() + float(self.args.wait_seconds)
        while True:
            if self.serving() == wanted and self._ready():
                return self.base_url
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} did not become ready on {self.base_url} within "
                                   f"{self.args.wait_seconds:g} s (serving: {self.serving()})")
            self.sleep(min(0.5, deadline - now))

    def _ready(self) -> bool:
        try:
            status, _ = _get_json(self.base_url + "/ready")
            return status == 200
        except (OSError, ValueError):
            return False

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def load(self, url: str) -> LoadResult:
        import earlier_days

        X_test = earlier_days.make_data()[1]
        rows = X_test.to_numpy(dtype=float).tolist()
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        counter = iter(range(10**12))

        def probe():
            row = rows[next(counter) % len(rows)]
            return store.check_model_latency(url, {"features": [row]})

        self._load_started_wall = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus_sum(self, query: str) -> float:
        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        _, body = _get_json(url, timeout=5.0)
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        started = self._load_started_wall if self._load_started_wall is not None else time.time() - 3600
        p95 = store.latency_percentile(95, hours=max(time.time() - started, 0.0) / 3600)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + float(self.args.wait_seconds)
            while True:
                try:
                    total = self._prometheus_sum(total_q)
                except (OSError, ValueError, KeyError):
                    total = -1.0
                if total >= load.sent:
                    break
                now = self.clock()
                if now >= deadline:
                    raise RuntimeError(f"Prometheus counted {max(total, 0):g} of the {load.sent} requests sent "
                                       f"within {self.args.wait_seconds:g} s: the 5xx ratio is unknown")
                self.sleep(min(0.5, deadline - now))
            errors = self._prometheus_sum(errors_q)
            error_ratio = errors / total if total > 0 else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            status, body = _get_json(self.base_url + "/health")
        except (OSError, ValueError):
            return None
        return body.get("model_version") if status == 200 and isinstance(body, dict) else None


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
    if not value > 0:
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


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {text!r}")
    return value


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"a label is KEY=VALUE with a non-empty key, got {text!r}")
    return text


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"unknown candidate {text!r}; one of {', '.join(earlier_days.CANDIDATES)}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    p = argparse.ArgumentParser(prog="capstone.py", description="Train, gate, register, package, deploy, load, "
                                                                "monitor and roll back a model, in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=Path(__file__).resolve().parent / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_port, default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=_non_negative, default=0.05)
    p.add_argument("--requests", type=_count, default=100)
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
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
