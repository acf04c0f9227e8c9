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
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {error}")
        self.name = name
        self.error = error


def _one_line(text: str) -> str:
    return " | ".join(part for part in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list[tuple[str, Callable[[], object]]] = []

    def stage(name, call, *args):
        began = clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - began, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return value, began

    def unwind() -> str | None:
        began = clock()
        errors = []
        for label, undo in reversed(undos):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {exc}")
        undos.clear()
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return "; ".join(errors) if errors else None

    try:
        candidate, began = stage("train", steps.train)
        report.stages.append(Stage("train", True, clock() - began, str(candidate)))
        gate_report, began = stage("gate", steps.gate, candidate)
        seconds = clock() - began
        report.previous = gate_report.champion
        previous = gate_report.champion
        if not gate_report.passed:
            failed = [c.name for c in gate_report.checks if not c.passed]
            text = "gate rejected the candidate, failed checks: " + ", ".join(failed)
            report.stages.append(Stage("gate", False, seconds, text))
            report.outcome, report.reason = "rejected", text
            return report
        report.stages.append(Stage("gate", True, seconds, f"passed against champion {previous}"))

        version, began = stage("register", steps.register, gate_report)
        report.stages.append(Stage("register", True, clock() - began, f"version {version}"))
        report.version = version
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
        report.stages.append(Stage("load", True, clock() - began, f"{load}"))

        verdict, began = stage("monitor", steps.monitor, url, load)
        seconds = clock() - began
        if verdict.healthy:
            report.stages.append(Stage("monitor", True, seconds, verdict.reason))
            report.outcome, report.reason = "promoted", ""
            return report
        report.stages.append(Stage("monitor", False, seconds, verdict.reason))
        report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
        error = unwind()
        if error:
            report.outcome = "failed"
            report.reason += f"; rollback failed: {error}"
        return report
    except _StageFailed as failed:
        report.outcome = "failed"
        report.reason = f"{failed.name} failed: {failed.error}"
        if undos:
            error = unwind()
            if error:
                report.reason += f"; rollback failed: {error}"
        return report
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}"
             for s in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} " \
           f"previous={report.previous} serving={report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if not isinstance(requests, int) or isinstance(requests, bool) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    if not _positive_finite(rps):
        raise ValueError(f"rps must be a positive finite number, got {rps!r}")
    if not _positive_finite(deadline_s):
        raise ValueError(f"deadline_s must be a positive finite number, got {deadline_s!r}")
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
        if now >= end:
            break
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
    problems, seen = [], []
    if not sent > 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        if availability >= min_availability:
            seen.append(f"availability {float(availability):.4f}")
        else:
            problems.append(f"availability {float(availability):.4f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None:
        if p95_ms <= max_p95_ms:
            seen.append(f"p95 {float(p95_ms):.1f} ms")
        else:
            problems.append(f"p95 {float(p95_ms):.1f} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        if error_ratio <= max_error_ratio:
            seen.append(f"5xx ratio {float(error_ratio):.4f}")
        else:
            problems.append(f"5xx ratio {float(error_ratio):.4f} above {max_error_ratio}")
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


HTTP_TIMEOUT_S = 3.0
COMMAND_TIMEOUT_S = 600.0


def _http_get(url: str, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, bytes]:
    import urllib.error

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read() if exc.fp else b""


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus."""

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began_wall: float | None = None

    # --- helpers
    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _compose(self, *words: str, env: dict | None = None):
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *words]
        return self.runner(argv, env={**os.environ, **(env or {})}, timeout=COMMAND_TIMEOUT_S)

    @property
    def _base(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    # --- the steps
    def train(self) -> str:
        import earlier_days
        from mlflow.models import infer_signature

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict_proba(X_train)[:, 1]))
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

        client = self._mlflow().MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    def package(self, version: str) -> str:
        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            folder = Path(folder)
            skops.io.dump(model, folder / "model.skops")
            (folder / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /models/model.skops\n"
                f"ENV MODEL_PATH=/models/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(str(folder))
            self.runner(argv, env=dict(os.environ), timeout=COMMAND_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self._image(version)], env=dict(os.environ), timeout=120.0)

    def deploy(self, version: str) -> str:
        wanted = f"v{version}"
        self._compose("up", "-d", "--no-deps", "model",
                      env={"MODEL_IMAGE": self._image(version), "MODEL_PORT": str(self.args.model_port)})
        deadline = self.clock() + self.args.wait_seconds
        seen = None
        while True:
            seen = self.serving()
            if seen == wanted:
                try:
                    status, _ = _http_get(f"{self._base}/ready")
                except OSError:
                    status = None
                if status == 200:
                    return self._base
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} was not serving and ready within {self.args.wait_seconds:g} s "
                                   f"(the port reported {seen!r})")
            self.sleep(min(0.5, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--force", "--stop", "model")

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        cycle = itertools.cycle(rows)
        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        self._load_began_wall = time.time()
        return put_load(lambda: monitor.check_model_latency(url, {"features": [next(cycle)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float:
        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query={urllib.parse.quote(query)}"
        status, body = _http_get(url)
        if status != 200:
            raise RuntimeError(f"Prometheus answered {status}")
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        p95 = None
        if self._load_began_wall is not None:
            hours = (time.time() - self._load_began_wall + 1.0) / 3600.0
            p95 = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store)).latency_percentile(95, hours)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + self.args.wait_seconds
            total = None
            while True:
                try:
                    total = self._prometheus(total_q)
                except (OSError, ValueError, KeyError, RuntimeError):
                    total = None
                if total is not None and total >= load.sent:
                    break
                now = self.clock()
                if now >= deadline:
                    return Verdict(False, f"5xx ratio unknown: Prometheus counted {total} of the {load.sent} "
                                          f"requests sent within {self.args.wait_seconds:g} s")
                self.sleep(min(0.5, deadline - now))
            errors = self._prometheus(errors_q)
            error_ratio = errors / total if total else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            status, body = _http_get(f"{self._base}/health")
            if status != 200:
                return None
            return json.loads(body).get("model_version")
        except Exception:  # noqa: BLE001
            return None


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind, test, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


_positive = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
_non_negative = _checked(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
_fraction = _checked(float, lambda v: 0 <= v <= 1, "a number between 0 and 1")
_port = _checked(int, lambda v: 1 <= v <= 65535, "a port 1-65535")
_count = _checked(int, lambda v: v >= 1, "an int >= 1")


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {sorted(earlier_days.CANDIDATES)}")
    return text


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not key or not eq:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE with a non-empty key")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="capstone.py", description="train, gate, ship, watch and roll back a model")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
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
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report))
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
