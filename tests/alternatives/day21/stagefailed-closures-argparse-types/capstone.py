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
        self.name = name
        self.error = error


def _one_line(text: str) -> str:
    return " | ".join(part for part in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list[tuple[str, Callable[[], None]]] = []

    def stage(name, call, *args):
        began = clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - began, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return value, began

    def unwind() -> list[str]:
        errors = []
        began = clock()
        for label, undo in reversed(undos):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
        if undos:
            detail = "; ".join(errors) if errors else "undid " + ", ".join(label for label, _ in reversed(undos))
            report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        undos.clear()
        return errors

    try:
        candidate, began = stage("train", steps.train)
        report.stages.append(Stage("train", True, clock() - began, str(candidate)))
        gate_report, began = stage("gate", steps.gate, candidate)
        report.previous = gate_report.champion
        if not gate_report.passed:
            failed = [check.name for check in gate_report.checks if not check.passed]
            text = "gate rejected the candidate: " + ", ".join(failed) + " failed"
            report.stages.append(Stage("gate", False, clock() - began, text))
            report.outcome, report.reason = "rejected", text
            return report
        report.stages.append(Stage("gate", True, clock() - began, "passed"))
        previous = report.previous

        version, began = stage("register", steps.register, gate_report)
        report.version = version
        report.stages.append(Stage("register", True, clock() - began, f"version {version}"))
        undos.append(("set_champion", lambda: steps.set_champion(previous)))

        image, began = stage("package", steps.package, version)
        report.stages.append(Stage("package", True, clock() - began, str(image)))
        undos.append(("remove_image", lambda: steps.remove_image(version)))

        if previous is None:
            undos.append(("undeploy", steps.undeploy))
        else:
            undos.append(("deploy", lambda: steps.deploy(previous)))
        url, began = stage("deploy", steps.deploy, version)
        report.stages.append(Stage("deploy", True, clock() - began, str(url)))

        load, began = stage("load", steps.load, url)
        report.stages.append(Stage("load", True, clock() - began, str(load)))

        verdict, began = stage("monitor", steps.monitor, url, load)
        report.stages.append(Stage("monitor", bool(verdict.healthy), clock() - began, verdict.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undos.clear()
        else:
            errors = unwind()
            report.outcome = "failed" if errors else "rolled_back"
            report.reason = f"regression: {verdict.reason}" + (f"; rollback failed: {'; '.join(errors)}" if errors else "")
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = f"{failure.name} failed: {type(failure.error).__name__}: {failure.error}"
        errors = unwind()
        if errors:
            report.reason += f"; rollback failed: {'; '.join(errors)}"
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}"
             for s in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} previous={report.previous} serving={report.serving}"
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


HTTP_TIMEOUT_S = 3.0
COMMAND_TIMEOUT_S = 600.0


def _get_json(url: str, timeout: float = HTTP_TIMEOUT_S):
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.status, json.load(answer)


class Steps:
    """The README's `steps` against real tools."""

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began: float | None = None

    # helpers
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def compose(self, *argv: str, env: dict | None = None):
        import os

        full = {**os.environ, **(env or {})}
        return self.runner(["docker-compose", "--file", str(self.args.compose_file), "--project-name",
                            self.args.project, *argv], env=full, timeout=COMMAND_TIMEOUT_S)

    # MLflow
    def train(self) -> str:
        import mlflow
        from mlflow.models import infer_signature

        import earlier_days

        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)))
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

    # images
    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            context = Path(folder)
            skops.io.dump(model, context / "model.skops")
            (context / "model.skops").chmod(0o644)
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /app/model.skops\n"
                f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            self.runner(argv + [str(context)], env=None, timeout=COMMAND_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", "--force", self.image(version)], env=None, timeout=120.0)

    # the service
    def deploy(self, version: str) -> str:
        self.compose("up", "-d", "--no-deps", SERVICE,
                     env={"MODEL_IMAGE": self.image(version), "MODEL_PORT": str(self.args.model_port)})
        wanted = f"v{version}"
        deadline = self.clock() + self.args.wait_seconds
        seen = None
        while True:
            seen = self.serving()
            if seen == wanted and self._ready():
                return self.base_url
            if self.clock() >= deadline:
                raise RuntimeError(f"{wanted} was not ready within {self.args.wait_seconds:g} s (last saw {seen!r})")
            self.sleep(min(0.5, max(0.0, deadline - self.clock())) or 0.1)

    def _ready(self) -> bool:
        try:
            status, _ = _get_json(f"{self.base_url}/ready")
        except Exception:  # noqa: BLE001
            return False
        return status == 200

    def undeploy(self) -> None:
        self.compose("rm", "--stop", "--force", SERVICE)

    def serving(self) -> str | None:
        try:
            _, body = _get_json(f"{self.base_url}/health")
        except Exception:  # noqa: BLE001
            return None
        return body.get("model_version") if isinstance(body, dict) else None

    # load and monitor
    def _monitor(self):
        import earlier_days

        return earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        cycle = itertools.cycle(rows)
        store = self._monitor()
        self._load_began = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(cycle)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _query(self, promql: str) -> float:
        import urllib.parse

        _, body = _get_json(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?"
                            + urllib.parse.urlencode({"query": promql}))
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        began = self._load_began if self._load_began is not None else time.time()
        hours = max(time.time() - began, 0.0) / 3600 + 1e-6
        p95 = self._monitor().latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + self.args.wait_seconds
            while True:
                try:
                    total = self._query(total_q)
                except Exception:  # noqa: BLE001
                    total = -1.0
                if total >= load.sent and total > 0:
                    break
                if self.clock() >= deadline:
                    return Verdict(False, f"5xx ratio unknown: Prometheus counted {total:g} of {load.sent} requests "
                                          f"within {self.args.wait_seconds:g} s")
                self.sleep(0.5)
            error_ratio = self._query(errors_q) / total
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _float_type(check, what):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


def _int_type(low, high):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value
    return parse


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {sorted(earlier_days.CANDIDATES)}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    positive = _float_type(lambda v: v > 0, "a positive finite number")
    non_negative = _float_type(lambda v: v >= 0, "a finite number >= 0")
    fraction = _float_type(lambda v: 0 <= v <= 1, "between 0 and 1")
    p = argparse.ArgumentParser(prog="capstone.py", description="Train, gate, register, package, deploy, "
                                "load, monitor and roll back, in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=Path(__file__).resolve().parent / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_int_type(1, 65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=non_negative, default=0.05)
    p.add_argument("--requests", type=_int_type(1, math.inf), default=100)
    p.add_argument("--rps", type=positive, default=20.0)
    p.add_argument("--load-seconds", type=positive, default=30.0)
    p.add_argument("--min-availability", type=fraction, default=0.99)
    p.add_argument("--max-error-ratio", type=fraction, default=0.01)
    p.add_argument("--max-p95-ms", type=positive, default=500.0)
    p.add_argument("--wait-seconds", type=positive, default=60.0)
    p.add_argument("--store", type=Path, default=Path("capstone-metrics.db"))
    p.add_argument("--label", type=_label, action="append", default=[])
    p.add_argument("--report-json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json
    from pathlib import Path

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
