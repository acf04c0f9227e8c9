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
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {error}")
        self.name, self.error = name, error


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], object]]] = []

    def timed(name, call, *args):
        began = clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - began, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return value, clock() - began

    def stage(name, call, *args, detail=""):
        value, seconds = timed(name, call, *args)
        report.stages.append(Stage(name, True, seconds, detail or _short(value)))
        return value

    def unwind() -> list[str]:
        errors = []
        began = clock()
        ran = False
        while undo:
            label, action = undo.pop()
            ran = True
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
        if ran:
            detail = "; ".join(errors) if errors else "undone: everything"
            report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return errors

    try:
        candidate = stage("train", steps.train)
        gate_report, seconds = timed("gate", steps.gate, candidate)
        report.previous = gate_report.champion
        previous = report.previous
        if not gate_report.passed:
            failed = [c.name for c in gate_report.checks if not c.passed]
            text = "gate failed: " + ", ".join(failed)
            report.stages.append(Stage("gate", False, seconds, text))
            report.outcome, report.reason = "rejected", text
            return report
        report.stages.append(Stage("gate", True, seconds, "passed"))
        version = stage("register", steps.register, gate_report)
        report.version = version
        undo.append((f"champion back to {previous}", lambda: steps.set_champion(previous)))
        stage("package", steps.package, version)
        undo.append((f"remove image of v{version}", lambda: steps.remove_image(version)))
        if previous is None:
            undo.append(("undeploy", steps.undeploy))
        else:
            undo.append((f"redeploy v{previous}", lambda: steps.deploy(previous)))
        url = stage("deploy", steps.deploy, version)
        load = stage("load", steps.load, url)
        verdict, seconds = timed("monitor", steps.monitor, url, load)
        report.stages.append(Stage("monitor", bool(verdict.healthy), seconds, verdict.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undo.clear()
        else:
            errors = unwind()
            if errors:
                report.outcome = "failed"
                report.reason = f"regression ({verdict.reason}); rollback failed: " + "; ".join(errors)
            else:
                report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = f"{failure.name} failed: {type(failure.error).__name__}: {failure.error}"
        errors = unwind()
        if errors:
            report.reason += "; rollback failed: " + "; ".join(errors)
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _short(value) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _one_line(text) -> str:
    """A detail or reason on one line: an error's output (docker's) may span several."""
    return " ".join(str(text).split())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}" for s in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} " \
           f"previous={report.previous} serving={report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail.replace("\n", " "))
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    rps = _positive_number(rps, "rps")
    deadline_s = _positive_number(deadline_s, "deadline_s")
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
    problems, notes = [], []
    if sent <= 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        if availability >= min_availability:
            notes.append(f"availability {availability:.3f}")
        else:
            problems.append(f"availability {availability:.3f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None:
        if p95_ms <= max_p95_ms:
            notes.append(f"p95 {p95_ms:.1f} ms")
        else:
            problems.append(f"p95 {p95_ms} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        if error_ratio <= max_error_ratio:
            notes.append(f"5xx ratio {error_ratio:.4f}")
        else:
            problems.append(f"5xx ratio {error_ratio} above {max_error_ratio}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, ", ".join(notes))


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


COMPOSE_TIMEOUT_S = 180.0
BUILD_TIMEOUT_S = 600.0
HTTP_TIMEOUT_S = 2.0
POLL_S = 0.5


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
        self._load_began: float | None = None
        self._baseline: tuple[float, float] = (0.0, 0.0)

    # helpers
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _env(self, **extra) -> dict[str, str]:
        import os

        return {**os.environ, **extra}

    def _compose(self, *words: str, env: dict | None = None) -> None:
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *words]
        self.runner(argv, env=env or self._env(MODEL_PORT=str(self.args.model_port)), timeout=COMPOSE_TIMEOUT_S)

    def _data(self):
        import earlier_days

        return earlier_days.make_data()

    # MLflow
    def train(self) -> str:
        import earlier_days
        import mlflow
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = self._data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            mlflow.log_param("candidate", self.args.candidate)
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)))
        return info.model_uri

    def gate(self, candidate: str):
        import earlier_days

        _, X_test, _, y_test = self._data()
        return earlier_days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                          slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                          slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import earlier_days
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        alias = earlier_days.gate.CHAMPION
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, alias)
        else:
            client.set_registered_model_alias(self.args.model_name, alias, str(version))

    # images
    def package(self, version: str) -> str:
        import json
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-image-") as tmp:
            context = Path(tmp)
            skops.io.dump(model, context / "model.skops")
            (context / "model.skops").chmod(0o644)
            lines = [f"FROM {self.args.server_image}",
                     "COPY model.skops /app/model.skops",
                     f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}"]
            (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            label_args = []
            for label in self.args.label:
                label_args.extend(["--label", label])
            self.runner(["docker", "build", "--tag", tag, *label_args, str(context)], env=self._env(),
                        timeout=BUILD_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self.image(version)], env=self._env(), timeout=COMPOSE_TIMEOUT_S)

    # the service
    def _shows(self, version: str) -> bool:
        try:
            status, health = _get_json(f"{self.url}/health")
            if status != 200 or health.get("model_version") != f"v{version}":
                return False
            status, _ = _get_json(f"{self.url}/ready")
            return status == 200
        except (OSError, ValueError):
            return False

    def deploy(self, version: str) -> str:
        env = self._env(MODEL_IMAGE=self.image(version), MODEL_PORT=str(self.args.model_port))
        self._compose("up", "-d", "--no-deps", "model", env=env)
        deadline = self.clock() + self.args.wait_seconds
        while True:
            if self._shows(version):
                return self.url
            left = deadline - self.clock()
            if left <= 0:
                raise RuntimeError(f"v{version} was not serving and ready on {self.url} within "
                                   f"{self.args.wait_seconds:g} s")
            self.sleep(min(POLL_S, left))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", "model")

    def serving(self) -> str | None:
        try:
            status, health = _get_json(f"{self.url}/health")
        except (OSError, ValueError):
            return None
        return health.get("model_version") if status == 200 and isinstance(health, dict) else None

    # load and monitor
    def _store(self):
        import earlier_days

        return earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))

    def load(self, url: str) -> LoadResult:
        _, X_test, _, _ = self._data()
        rows = X_test.to_numpy(dtype=float).tolist()
        store = self._store()
        self._baseline = (0.0, 0.0)
        if self.args.prometheus_url:
            try:
                self._baseline = self._predict_counts()
            except (OSError, ValueError, KeyError):
                pass  # Prometheus does not answer: the monitor will find the ratio unknown
        self._load_began = time.time()
        index = iter(range(10**9))

        def probe():
            row = rows[next(index) % len(rows)]
            return store.check_model_latency(url, {"features": [row]})

        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _query(self, promql: str) -> float:
        import urllib.parse

        base = self.args.prometheus_url.rstrip("/")
        _, answer = _get_json(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}", timeout=5.0)
        result = answer["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def _predict_counts(self) -> tuple[float, float]:
        total = self._query('sum(model_requests_total{endpoint="/predict"})')
        errors = self._query('sum(model_requests_total{endpoint="/predict",status=~"5.."})')
        return total, errors

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        began = self._load_began if self._load_began is not None else time.time()
        hours = (time.time() - began + 1.0) / 3600.0
        p95 = self._store().latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            base_total, base_errors = self._baseline
            deadline = self.clock() + self.args.wait_seconds
            while True:
                try:
                    total, errors = self._predict_counts()
                except (OSError, ValueError, KeyError):
                    total, errors = None, None
                if total is not None:
                    if total < base_total:  # the counters restarted with the new container
                        base_total, base_errors = 0.0, 0.0
                    if total - base_total >= load.sent:
                        break
                left = deadline - self.clock()
                if left <= 0:
                    return Verdict(False, f"5xx ratio unknown: Prometheus did not count the {load.sent} requests "
                                          f"within {self.args.wait_seconds:g} s")
                self.sleep(min(POLL_S, left))
            counted = total - base_total
            error_ratio = (errors - base_errors) / counted if counted > 0 else float("nan")
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port between 1 and 65535")
    return value


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE with a non-empty key")
    return text


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {sorted(earlier_days.CANDIDATES)}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="capstone.py", description="Train, gate, register, package, deploy, load, "
                                                                "monitor and roll back, in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
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
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
