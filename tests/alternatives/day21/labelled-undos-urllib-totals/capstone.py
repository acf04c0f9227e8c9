"""Day 21: the course in one command (capstone)."""

from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
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


class _Stopped(Exception):
    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], object]]] = []

    def timed(name: str, call, *args):
        began = clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001 - any error fails the stage
            report.stages.append(Stage(name, False, clock() - began, f"{type(exc).__name__}: {exc}"))
            raise _Stopped(name, exc) from exc
        return value, clock() - began

    def unwind() -> list[str]:
        if not undo:
            return []
        began = clock()
        errors = []
        while undo:
            label, action = undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every undo runs whatever the others did
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return errors

    try:
        candidate, took = timed("train", steps.train)
        report.stages.append(Stage("train", True, took, str(candidate)))
        gate_report, took = timed("gate", steps.gate, candidate)
        report.previous = gate_report.champion
        previous = report.previous
        if not gate_report.passed:
            failed = [check.name for check in gate_report.checks if not check.passed]
            text = "failed checks: " + ", ".join(failed)
            report.stages.append(Stage("gate", False, took, text))
            report.outcome, report.reason = "rejected", f"gate rejected the candidate ({text})"
            return report
        report.stages.append(Stage("gate", True, took, "every check passed"))
        version, took = timed("register", steps.register, gate_report)
        report.version = version
        report.stages.append(Stage("register", True, took, f"version {version}"))
        undo.append((f"set_champion({previous})", lambda: steps.set_champion(previous)))
        image, took = timed("package", steps.package, version)
        report.stages.append(Stage("package", True, took, str(image)))
        undo.append((f"remove_image({version})", lambda: steps.remove_image(version)))
        if previous is None:
            undo.append(("undeploy()", steps.undeploy))
        else:
            undo.append((f"deploy({previous})", lambda: steps.deploy(previous)))
        url, took = timed("deploy", steps.deploy, version)
        report.stages.append(Stage("deploy", True, took, str(url)))
        load, took = timed("load", steps.load, url)
        report.stages.append(Stage("load", True, took, f"sent {load.sent}, ok {load.ok}, failed {load.failed}"))
        verdict, took = timed("monitor", steps.monitor, url, load)
        report.stages.append(Stage("monitor", bool(verdict.healthy), took, verdict.reason))
        if verdict.healthy:
            undo.clear()
            report.outcome, report.reason = "promoted", ""
        else:
            errors = unwind()
            report.outcome = "failed" if errors else "rolled_back"
            report.reason = "; ".join([f"regression: {verdict.reason}", *errors])
    except _Stopped as stop:
        errors = unwind()
        report.outcome = "failed"
        report.reason = "; ".join([f"{stop.stage} failed: {type(stop.error).__name__}: {stop.error}", *errors])
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_report(report: Report) -> str:
    lines = [f"{stage.name:<9} {'ok' if stage.ok else 'FAILED':<6} {stage.seconds:8.2f}s  {_one_line(stage.detail)}"
             for stage in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version {report.version} previous {report.previous}"
    tail += f" serving {report.serving}"
    if report.reason:
        tail += f" - {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    rps = _positive_finite("rps", rps)
    deadline_s = _positive_finite("deadline_s", deadline_s)
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
    problems, facts = [], []
    if not sent > 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        facts.append(f"availability {availability:.3f}")
        if not availability >= min_availability:
            problems.append(f"availability {availability:.3f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None:
        facts.append(f"p95 {p95_ms:.1f} ms")
        if not p95_ms <= max_p95_ms:
            problems.append(f"p95 {p95_ms} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        facts.append(f"5xx ratio {error_ratio:.4f}")
        if not error_ratio <= max_error_ratio:
            problems.append(f"5xx ratio {error_ratio} above {max_error_ratio}")
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
DOCKER_TIMEOUT_S = 600.0


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
        return answer.status, json.loads(answer.read() or b"null")


class Steps:
    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began: float | None = None

    # helpers
    @property
    def _base(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _compose(self, *words: str, env: dict | None = None) -> None:
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *words]
        self.runner(argv, env={**os.environ, **(env or {})}, timeout=DOCKER_TIMEOUT_S)

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    # steps
    def train(self) -> str:
        import sklearn
        from mlflow.models import infer_signature

        import earlier_days

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]()
        model.fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(X_train.astype("float64"), model.predict(X_train)),
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
        mlflow = self._mlflow()
        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        else:
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))

    def package(self, version: str) -> str:
        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as tmp:
            context = Path(tmp)
            skops.io.dump(model, context / "model.skops")
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /models/model.skops\n"
                f"ENV MODEL_PATH=/models/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            self.runner([*argv, str(context)], env=dict(os.environ), timeout=DOCKER_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self._image(version)], env=dict(os.environ), timeout=120.0)

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE,
                      env={"MODEL_IMAGE": self._image(version), "MODEL_PORT": str(self.args.model_port)})
        wanted = f"v{version}"
        deadline = self.clock() + float(self.args.wait_seconds)
        seen = None
        while True:
            seen = self.serving()
            if seen == wanted and self._ready():
                return self._base
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise RuntimeError(f"{wanted} was not serving and ready within {self.args.wait_seconds:g} s "
                                   f"(last /health: {seen})")
            self.sleep(min(0.5, remaining))

    def _ready(self) -> bool:
        try:
            status, _ = _get_json(f"{self._base}/ready")
        except (OSError, ValueError):
            return False
        return status == 200

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        rows = itertools.cycle(earlier_days.make_data()[1].to_numpy(dtype=float).tolist())
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        self._load_began = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        _, body = _get_json(url)
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        began = self._load_began if self._load_began is not None else time.time()
        hours = (time.time() - began + 1.0) / 3600.0
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        p95 = store.latency_percentile(95, hours=hours)
        ratio = None
        if self.args.prometheus_url:
            deadline = self.clock() + float(self.args.wait_seconds)
            total = None
            while True:
                try:
                    total = self._prometheus('sum(model_requests_total{endpoint="/predict"})')
                except (OSError, ValueError, KeyError):
                    total = None
                if total is not None and total >= load.sent:
                    break
                if self.clock() >= deadline:
                    raise RuntimeError(f"Prometheus had not counted the load's {load.sent} requests within "
                                       f"{self.args.wait_seconds:g} s (it counted {total})")
                self.sleep(min(0.5, max(0.0, deadline - self.clock())))
            errors = self._prometheus('sum(model_requests_total{endpoint="/predict",status=~"5.."})') or 0.0
            ratio = errors / total if total else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            status, body = _get_json(f"{self._base}/health")
        except (OSError, ValueError):
            return None
        if status != 200 or not isinstance(body, dict):
            return None
        return body.get("model_version")


# --- task 3: the command line -------------------------------------------------------------


def _number(kind, *, low=None, high=None, low_open=False):
    def check(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n int' if kind is int else ' number'}: {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low}, got {text!r}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {text!r}")
        return value
    return check


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty key, got {text!r}")
    return text


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"unknown candidate {text!r}; one of {sorted(earlier_days.CANDIDATES)}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="train, gate, register, package, deploy, load, monitor, roll back")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_number(int, low=1, high=65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_number(float, low=0.0), default=0.01)
    p.add_argument("--slice-tolerance", type=_number(float, low=0.0), default=0.05)
    p.add_argument("--requests", type=_number(int, low=1), default=100)
    p.add_argument("--rps", type=_number(float, low=0.0, low_open=True), default=20.0)
    p.add_argument("--load-seconds", type=_number(float, low=0.0, low_open=True), default=30.0)
    p.add_argument("--min-availability", type=_number(float, low=0.0, high=1.0), default=0.99)
    p.add_argument("--max-error-ratio", type=_number(float, low=0.0, high=1.0), default=0.01)
    p.add_argument("--max-p95-ms", type=_number(float, low=0.0, low_open=True), default=500.0)
    p.add_argument("--wait-seconds", type=_number(float, low=0.0, low_open=True), default=60.0)
    p.add_argument("--store", type=Path, default=Path("capstone-metrics.db"))
    p.add_argument("--label", type=_label, action="append", default=[])
    p.add_argument("--report-json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
