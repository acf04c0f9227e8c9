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
    """A step raised; its failed Stage is already recorded."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage} failed: {error}")
        self.stage = stage
        self.error = error


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list[tuple[str, Callable[[], object]]] = []

    def call(name: str, fn, *args):
        began = clock()
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - any failure of a step is a failed stage
            report.stages.append(Stage(name, False, clock() - began, _describe(exc)))
            raise _StageFailed(name, exc) from exc
        return result, clock() - began

    def stage(name: str, fn, *args, detail: str = "ok"):
        result, seconds = call(name, fn, *args)
        report.stages.append(Stage(name, True, seconds, detail if detail else str(result)))
        return result

    def unwind() -> list[str]:
        errors = []
        began = clock()
        for label, undo in reversed(undos):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - every undo runs, whatever the others did
                errors.append(f"{label}: {_describe(exc)}")
        detail = "undone: " + ", ".join(label for label, _ in reversed(undos))
        if errors:
            detail += "; FAILED " + "; ".join(errors)
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        undos.clear()
        return errors

    try:
        candidate = stage("train", steps.train, detail="")
        gate_report, seconds = call("gate", steps.gate, candidate)
        report.previous = gate_report.champion
        if not gate_report.passed:
            failed = [check.name for check in gate_report.checks if not check.passed]
            text = "failed checks: " + ", ".join(failed)
            report.stages.append(Stage("gate", False, seconds, text))
            report.outcome, report.reason = "rejected", f"gate rejected the candidate: {text}"
            return report
        report.stages.append(Stage("gate", True, seconds, "passed"))
        previous = report.previous

        version = stage("register", steps.register, gate_report, detail="")
        report.version = version
        undos.append((f"champion back to {previous}", lambda: steps.set_champion(previous)))
        image = stage("package", steps.package, version, detail="")
        undos.append((f"remove image of v{version}", lambda: steps.remove_image(version)))
        if previous is None:
            undos.append(("undeploy", steps.undeploy))
        else:
            undos.append((f"deploy v{previous}", lambda: steps.deploy(previous)))
        url = stage("deploy", steps.deploy, version, detail="")
        load = stage("load", steps.load, url, detail="")
        verdict, seconds = call("monitor", steps.monitor, url, load)
        if verdict.healthy:
            report.stages.append(Stage("monitor", True, seconds, verdict.reason or "healthy"))
            report.outcome = "promoted"
            undos.clear()
            return report
        report.stages.append(Stage("monitor", False, seconds, verdict.reason))
        errors = unwind()
        if errors:
            report.outcome = "failed"
            report.reason = f"regression: {verdict.reason}; rollback failed: {'; '.join(errors)}"
        else:
            report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
        _ = image
        return report
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = f"{failure.stage} failed: {_describe(failure.error)}"
        if undos:
            errors = unwind()
            if errors:
                report.reason += f"; rollback failed: {'; '.join(errors)}"
        return report
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001 - the report is what matters here
            report.serving = None


def _one_line(text: str) -> str:
    return " | ".join(part.strip() for part in str(text).splitlines() if part.strip())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{stage.name:<9} {'ok' if stage.ok else 'FAILED':<6} {stage.seconds:8.2f}s  {_one_line(stage.detail)}"
             for stage in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} previous={report.previous} " \
           f"serving={report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(name: str, value) -> None:
    import math
    import numbers

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
    if not sent > 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        if not availability >= min_availability:
            problems.append(f"availability {availability:.3f} below {min_availability:g}")
    if p95_ms is not None and not p95_ms <= max_p95_ms:
        problems.append(f"p95 latency {p95_ms:.1f} ms above {max_p95_ms:g} ms")
    if error_ratio is not None and not error_ratio <= max_error_ratio:
        problems.append(f"5xx ratio {error_ratio:.3f} above {max_error_ratio:g}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, "")


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
BUILD_TIMEOUT_S = 900.0
COMPOSE_TIMEOUT_S = 180.0
DOCKER_TIMEOUT_S = 60.0
POLL_S = 0.5


def _http_get(url: str):
    """(status, parsed JSON or None) of a GET; OSError when nothing answers in time."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
            body = answer.read()
            status = answer.status
    except urllib.error.HTTPError as exc:
        return exc.code, None
    try:
        return status, json.loads(body)
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
        self._load_began: float | None = None

    # helpers
    @property
    def _url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _compose(self, *command: str, env: dict | None = None) -> None:
        import os

        environment = {**os.environ, "MODEL_PORT": str(self.args.model_port), **(env or {})}
        self.runner(["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project,
                     *command], env=environment, timeout=COMPOSE_TIMEOUT_S)

    # mlflow
    def train(self) -> str:
        import sklearn
        from mlflow.models import infer_signature

        import earlier_days

        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow = self._mlflow()
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(X_train.astype("float64"), model.predict(X_train)),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        return info.model_uri

    def gate(self, candidate: str):
        import earlier_days

        self._mlflow()
        _, X_test, _, y_test = earlier_days.make_data()
        return earlier_days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                          slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                          slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        self._mlflow()
        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        mlflow = self._mlflow()
        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        else:
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))

    # images
    def package(self, version: str) -> str:
        import os
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as context:
            skops.io.dump(model, Path(context) / "model.skops")
            (Path(context) / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /app/model.skops\n"
                f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            labels = [part for label in self.args.label for part in ("--label", label)]
            self.runner(["docker", "build", "--tag", tag, *labels, context], env=dict(os.environ),
                        timeout=BUILD_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        import os

        self.runner(["docker", "rmi", self._image(version)], env=dict(os.environ), timeout=DOCKER_TIMEOUT_S)

    # the service
    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", "model", env={"MODEL_IMAGE": self._image(version)})
        wanted = f"v{version}"
        deadline = self.clock() + float(self.args.wait_seconds)
        seen = None
        while True:
            try:
                _, health = _http_get(f"{self._url}/health")
                seen = (health or {}).get("model_version")
                if seen == wanted and _http_get(f"{self._url}/ready")[0] == 200:
                    return self._url
            except OSError as exc:
                seen = f"no answer ({exc})"
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise RuntimeError(f"{wanted} was not serving and ready within {self.args.wait_seconds:g} s "
                                   f"(last seen: {seen})")
            self.sleep(min(POLL_S, remaining))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", "model")

    def serving(self) -> str | None:
        try:
            _, health = _http_get(f"{self._url}/health")
        except OSError:
            return None
        return (health or {}).get("model_version")

    # load and monitor
    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = itertools.cycle(earlier_days.make_data()[1].to_numpy(dtype=float).tolist())
        self._load_began = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _p95(self) -> float | None:
        import numpy as np

        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        since = self._load_began if self._load_began is not None else time.time() - 3600
        hours = (time.time() - since) / 3600 + 1 / 3600
        values = [row["value"] for row in store.get_recent_metrics("latency_ms", hours) if row["timestamp"] >= since]
        return float(np.percentile(values, 95)) if values else None

    def _prometheus_sum(self, query: str) -> float:
        import urllib.parse

        status, body = _http_get(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?"
                                 f"{urllib.parse.urlencode({'query': query})}")
        if status != 200 or not body or body.get("status") != "success":
            raise OSError(f"Prometheus answered {status}: {body}")
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def _error_ratio(self, sent: int) -> float:
        deadline = self.clock() + float(self.args.wait_seconds)
        total = seen = None
        while True:
            try:
                total = self._prometheus_sum('sum(model_requests_total{endpoint="/predict"})')
                if total >= sent:
                    errors = self._prometheus_sum('sum(model_requests_total{endpoint="/predict",status=~"5.."})')
                    return errors / total if total else float("nan")
                seen = f"{total:g} of {sent} requests counted"
            except OSError as exc:
                seen = f"Prometheus did not answer: {exc}"
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise RuntimeError(f"Prometheus had not counted the load within {self.args.wait_seconds:g} s ({seen})")
            self.sleep(min(POLL_S, remaining))

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        p95 = self._p95()
        ratio = self._error_ratio(load.sent) if self.args.prometheus_url else None
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _number(text: str) -> float:
    import math

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


def _int_in(low: int, high: int | None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}" if high else f"must be >= {low}")
        return value
    return parse


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty key, got {text!r}")
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
    p = argparse.ArgumentParser(prog="capstone.py", description="train, gate, deploy, monitor, roll back")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
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
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
