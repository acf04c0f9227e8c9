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
        super().__init__(f"{name} failed: {type(error).__name__}: {error}")
        self.name = name


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], object]]] = []

    def timed(name, call, *args):
        before = clock()
        try:
            result = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - before, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return result, clock() - before

    def stage(name, call, *args):
        result, seconds = timed(name, call, *args)
        report.stages.append(Stage(name, True, seconds, ""))
        return result

    def unwind() -> str | None:
        before = clock()
        errors = []
        while undo:
            label, action = undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - before, detail))
        return detail if errors else None

    try:
        candidate = stage("train", steps.train)
        gate_report, seconds = timed("gate", steps.gate, candidate)
        report.previous = previous = gate_report.champion
        if not gate_report.passed:
            failed = ", ".join(f"{c.name} ({c.message})" for c in gate_report.checks if not c.passed)
            report.stages.append(Stage("gate", False, seconds, f"failed checks: {failed}"))
            report.outcome, report.reason = "rejected", f"gate failed: {failed}"
            return report
        report.stages.append(Stage("gate", True, seconds, "passed"))
        version = stage("register", steps.register, gate_report)
        report.version = version
        undo.append(("set_champion", lambda: steps.set_champion(previous)))
        stage("package", steps.package, version)
        undo.append(("remove_image", lambda: steps.remove_image(version)))
        undo.append(("deploy", (lambda: steps.deploy(previous)) if previous is not None else steps.undeploy))
        url = stage("deploy", steps.deploy, version)
        load = stage("load", steps.load, url)
        verdict, seconds = timed("monitor", steps.monitor, url, load)
        report.stages.append(Stage("monitor", bool(verdict.healthy), seconds, verdict.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undo.clear()
            return report
        report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
        error = unwind()
        if error:
            report.outcome, report.reason = "failed", f"{report.reason}; rollback failed: {error}"
        return report
    except _StageFailed as failure:
        report.outcome, report.reason = "failed", str(failure)
        if undo:
            error = unwind()
            if error:
                report.reason += f"; rollback failed: {error}"
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
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}".rstrip()
             for s in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version {report.version} previous {report.previous} "
    tail += f"serving {report.serving}"
    if report.reason:
        tail += f": {_one_line(report.reason)}"
    return "\n".join(lines + [tail])


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            and value > 0)


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
    problems = []
    if sent <= 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        if not availability >= min_availability:
            problems.append(f"availability {availability:.3f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None and not p95_ms <= max_p95_ms:
        problems.append(f"p95 {p95_ms} ms above {max_p95_ms} ms")
    if error_ratio is not None and not error_ratio <= max_error_ratio:
        problems.append(f"5xx ratio {error_ratio} above {max_error_ratio}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, f"{ok} of {sent} answered, p95 {p95_ms} ms, 5xx ratio {error_ratio}")


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


COMMAND_TIMEOUT_S = 120.0
BUILD_TIMEOUT_S = 600.0
HTTP_TIMEOUT_S = 2.0


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
        self.load_started_wall: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _data(self):
        import earlier_days

        return earlier_days.make_data()

    def train(self) -> str:
        import earlier_days
        import mlflow
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = self._data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
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

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def set_champion(self, version: str | None) -> None:
        import earlier_days

        client = self._client()
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    def package(self, version: str) -> str:
        import os
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-package-") as tmp:
            context = Path(tmp)
            skops.io.dump(model, context / "model.skops")
            lines = [f"FROM {self.args.server_image}", "COPY model.skops /models/model.skops",
                     f'ENV MODEL_PATH=/models/model.skops MODEL_VERSION="v{version}"']
            (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(str(context))
            self.runner(argv, env=dict(os.environ), timeout=BUILD_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        import os

        self.runner(["docker", "rmi", self.image(version)], env=dict(os.environ), timeout=COMMAND_TIMEOUT_S)

    def _compose(self, *args: str, **env: str) -> None:
        import os

        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *args]
        self.runner(argv, env={**os.environ, "MODEL_PORT": str(self.args.model_port), **env},
                    timeout=COMMAND_TIMEOUT_S)

    def _get(self, path: str):
        """(status, JSON body or None); (None, None) when nothing answers."""
        import json
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=HTTP_TIMEOUT_S) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError):
            return None, None

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE, MODEL_IMAGE=self.image(version))
        deadline = self.clock() + float(self.args.wait_seconds)
        wanted = f"v{version}"
        while True:
            status, body = self._get("/health")
            if status == 200 and isinstance(body, dict) and body.get("model_version") == wanted:
                if self._get("/ready")[0] == 200:
                    return self.url
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise RuntimeError(f"{wanted} was not serving and ready within {self.args.wait_seconds:g} s")
            self.sleep(min(0.5, remaining))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def load(self, url: str) -> LoadResult:
        import earlier_days

        X_test = self._data()[1]
        rows = X_test.to_numpy(dtype=float).tolist()
        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        index = iter(range(10**9))

        def probe():
            row = rows[next(index) % len(rows)]
            return monitor.check_model_latency(url, {"features": [row]})

        self.load_started_wall = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        import json
        import urllib.parse
        import urllib.request

        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query={urllib.parse.quote(query)}"
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
            result = json.load(answer)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def _error_ratio(self, sent: int) -> float:
        total_q = 'sum(model_requests_total{endpoint="/predict"})'
        errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
        deadline = self.clock() + float(self.args.wait_seconds)
        while True:
            try:
                total = self._prometheus(total_q)
            except OSError:
                total = None
            if total is not None and total >= sent:
                errors = self._prometheus(errors_q) or 0.0
                return errors / total
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise RuntimeError(f"Prometheus had not counted the load's {sent} requests within "
                                   f"{self.args.wait_seconds:g} s (it counted {total})")
            self.sleep(min(0.5, remaining))

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        began = self.load_started_wall if self.load_started_wall is not None else time.time() - 24 * 3600
        hours = max(time.time() - began, 0.001) / 3600
        p95 = store.latency_percentile(95, hours=hours)
        ratio = self._error_ratio(load.sent) if self.args.prometheus_url else None
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        status, body = self._get("/health")
        if status == 200 and isinstance(body, dict):
            return body.get("model_version")
        return None


# --- task 3: the command line -------------------------------------------------------------


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive(text: str) -> float:
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def non_negative(text: str) -> float:
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {text!r}")
    return value


def label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty key, got {text!r}")
    return text


def candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"unknown candidate {text!r}; one of {sorted(earlier_days.CANDIDATES)}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="capstone.py", description="Train, gate, ship, watch and roll back a model.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=port, default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=non_negative, default=0.05)
    p.add_argument("--requests", type=count, default=100)
    p.add_argument("--rps", type=positive, default=20.0)
    p.add_argument("--load-seconds", type=positive, default=30.0)
    p.add_argument("--min-availability", type=fraction, default=0.99)
    p.add_argument("--max-error-ratio", type=fraction, default=0.01)
    p.add_argument("--max-p95-ms", type=positive, default=500.0)
    p.add_argument("--wait-seconds", type=positive, default=60.0)
    p.add_argument("--store", type=Path, default=Path("capstone-metrics.db"))
    p.add_argument("--label", type=label, action="append", default=[])
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
