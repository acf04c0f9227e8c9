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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import earlier_days

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
    def __init__(self, name, error):
        super().__init__(f"{name} failed: {error}")
        self.name, self.error = name, error


def _one_line(text) -> str:
    return " | ".join(part for part in str(text).splitlines() if part.strip()) if text else ""


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list[tuple[str, Callable[[], object]]] = []

    def timed(name, call, *args):
        started = clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - started, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return value, clock() - started

    def stage(name, call, *args, detail=""):
        value, seconds = timed(name, call, *args)
        report.stages.append(Stage(name, True, seconds, detail or str(value)))
        return value

    def unwind() -> str | None:
        if not undos:
            return None
        started = clock()
        errors = []
        for label, undo in reversed(undos):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
        undos.clear()
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - started, detail))
        return "; ".join(errors) if errors else None

    try:
        candidate = stage("train", steps.train)
        gate_report, seconds = timed("gate", steps.gate, candidate)
        report.previous = gate_report.champion
        previous = report.previous
        if not gate_report.passed:
            failed = [f"{c.name}: {c.message}" for c in gate_report.checks if not c.passed]
            text = "gate rejected the candidate: " + "; ".join(failed)
            report.stages.append(Stage("gate", False, seconds, text))
            report.outcome, report.reason = "rejected", text
            return report
        report.stages.append(Stage("gate", True, seconds, "passed"))
        version = stage("register", steps.register, gate_report)
        report.version = version
        undos.append((f"set_champion({previous})", lambda: steps.set_champion(previous)))
        stage("package", steps.package, version)
        undos.append((f"remove_image({version})", lambda: steps.remove_image(version)))
        if previous is None:
            undos.append(("undeploy()", steps.undeploy))
        else:
            undos.append((f"deploy({previous})", lambda: steps.deploy(previous)))
        url = stage("deploy", steps.deploy, version)
        load_result = stage("load", steps.load, url)
        verdict, seconds = timed("monitor", steps.monitor, url, load_result)
        report.stages.append(Stage("monitor", bool(verdict.healthy), seconds, verdict.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undos.clear()
        else:
            report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
            error = unwind()
            if error:
                report.outcome = "failed"
                report.reason += f"; rollback failed: {error}"
    except _StageFailed as failure:
        report.outcome, report.reason = "failed", str(failure)
        error = unwind()
        if error:
            report.reason += f"; rollback failed: {error}"
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
    lines.append(f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} "
                 f"previous={report.previous} serving={report.serving} {_one_line(report.reason)}")
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    return value


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if isinstance(requests, bool) or not isinstance(requests, numbers.Integral) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, not {requests!r}")
    rps = _positive_finite("rps", rps)
    deadline_s = _positive_finite("deadline_s", deadline_s)
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
    problems, notes = [], []
    if not sent > 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        if availability >= min_availability:
            notes.append(f"availability {float(availability):.3f}")
        else:
            problems.append(f"availability {float(availability):.3f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None:
        if p95_ms <= max_p95_ms:
            notes.append(f"p95 {float(p95_ms):.1f} ms")
        else:
            problems.append(f"p95 {float(p95_ms):.1f} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        if error_ratio <= max_error_ratio:
            notes.append(f"5xx ratio {float(error_ratio):.4f}")
        else:
            problems.append(f"5xx ratio {float(error_ratio):.4f} above {max_error_ratio}")
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
BUILD_TIMEOUT_S = 600.0
COMPOSE_TIMEOUT_S = 180.0


def _get(url: str):
    """(status, parsed JSON or None); raises OSError when nothing answers."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


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
    def _image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _model_url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _compose(self, *words, image: str | None = None):
        env = dict(os.environ)
        env["MODEL_PORT"] = str(self.args.model_port)
        if image is not None:
            env["MODEL_IMAGE"] = image
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *words]
        return self.runner(argv, env=env, timeout=COMPOSE_TIMEOUT_S)

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def train(self) -> str:
        import mlflow
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        signature = infer_signature(X_train.astype("float64"), model.predict_proba(X_train)[:, 1])
        with mlflow.start_run(run_name=f"capstone-{self.args.candidate}"):
            mlflow.log_param("candidate", self.args.candidate)
            info = mlflow.sklearn.log_model(model, name="model", signature=signature)
        return info.model_uri

    def gate(self, candidate: str):
        _, X_test, _, y_test = earlier_days.make_data()
        return earlier_days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                          slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                          slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        client = self._client()
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    def package(self, version: str) -> str:
        import mlflow.sklearn
        import skops.io

        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            skops.io.dump(model, os.path.join(folder, "model.skops"))
            dockerfile = (f"FROM {self.args.server_image}\n"
                          f"COPY model.skops /app/model.skops\n"
                          f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n")
            with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as handle:
                handle.write(dockerfile)
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(folder)
            self.runner(argv, env=dict(os.environ), timeout=BUILD_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", "--force", self._image(version)], env=dict(os.environ), timeout=120.0)

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE, image=self._image(version))
        wanted = f"v{version}"
        deadline = self.clock() + self.args.wait_seconds
        last = "no answer"
        while True:
            try:
                status, body = _get(f"{self._model_url()}/health")
                seen = body.get("model_version") if isinstance(body, dict) else None
                if status == 200 and seen == wanted:
                    ready, _ = _get(f"{self._model_url()}/ready")
                    if ready == 200:
                        return self._model_url()
                    last = f"{wanted} answers, /ready {ready}"
                else:
                    last = f"/health {status} {seen!r}"
            except OSError as exc:
                last = str(exc)
            left = deadline - self.clock()
            if left <= 0:
                raise RuntimeError(f"{wanted} was not ready within {self.args.wait_seconds:g} s ({last})")
            self.sleep(min(0.5, left))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def load(self, url: str) -> LoadResult:
        import time as wall

        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        X_test = earlier_days.make_data()[1]
        rows = X_test.to_numpy(dtype=float).tolist()
        index = [0]

        def probe():
            row = rows[index[0] % len(rows)]
            index[0] += 1
            return monitor.check_model_latency(url, {"features": [row]})

        self._load_began_wall = wall.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query={urllib.parse.quote(query)}"
        status, body = _get(url)
        if status != 200 or not isinstance(body, dict):
            raise RuntimeError(f"Prometheus answered {status}")
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import time as wall

        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        began = self._load_began_wall if self._load_began_wall is not None else wall.time()
        hours = (wall.time() - began) / 3600
        p95 = monitor.latency_percentile(95, hours=hours)
        ratio = None
        if self.args.prometheus_url:
            deadline = self.clock() + self.args.wait_seconds
            total = None
            while True:
                try:
                    total = self._prometheus('sum(model_requests_total{endpoint="/predict"})')
                except (OSError, RuntimeError, KeyError, ValueError):
                    total = None
                if total is not None and total >= load.sent:
                    break
                left = deadline - self.clock()
                if left <= 0:
                    return Verdict(False, f"5xx ratio unknown: Prometheus counted {total} of the {load.sent} "
                                          f"requests within {self.args.wait_seconds:g} s")
                self.sleep(min(0.5, left))
            errors = self._prometheus('sum(model_requests_total{endpoint="/predict",status=~"5.."})') or 0.0
            ratio = errors / total if total else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            status, body = _get(f"{self._model_url()}/health")
        except OSError:
            return None
        if status != 200 or not isinstance(body, dict):
            return None
        return body.get("model_version")


# --- task 3: the command line -------------------------------------------------------------


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _finite(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _integer(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an int: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"out of range: {text!r}")
        return value

    return parse


def _candidate(text: str) -> str:
    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {sorted(earlier_days.CANDIDATES)}")
    return text


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="The course in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_integer(1, 65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=_non_negative, default=0.05)
    p.add_argument("--requests", type=_integer(1), default=100)
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
