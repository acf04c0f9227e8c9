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

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {error}")
        self.name = name
        self.error = error


def _timed(report: Report, clock, name: str, call, *args):
    """(result, seconds) of call(*args); on an exception record a failed stage and raise _StageFailed."""
    began = clock()
    try:
        result = call(*args)
    except Exception as exc:  # noqa: BLE001 - any step error is a failed stage
        seconds = clock() - began
        report.stages.append(Stage(name, False, seconds, f"{type(exc).__name__}: {exc}"))
        raise _StageFailed(name, exc) from exc
    return result, clock() - began


def _unwind(report: Report, clock, undos: list) -> list[str]:
    """Run every undo newest first; record the rollback stage; return the errors."""
    if not undos:
        return []
    began = clock()
    done, errors = [], []
    while undos:
        label, action = undos.pop()
        try:
            action()
            done.append(label)
        except Exception as exc:  # noqa: BLE001 - each undo runs whatever happened to the others
            errors.append(f"{label}: {type(exc).__name__}: {exc}")
    detail = "undid " + ", ".join(done) if done else "undid nothing"
    if errors:
        detail += "; failed: " + "; ".join(errors)
    report.stages.append(Stage("rollback", not errors, clock() - began, detail))
    return errors


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list = []
    try:
        candidate, seconds = _timed(report, clock, "train", steps.train)
        report.stages.append(Stage("train", True, seconds, str(candidate)))

        gate_report, seconds = _timed(report, clock, "gate", steps.gate, candidate)
        report.previous = gate_report.champion
        previous = gate_report.champion
        if not gate_report.passed:
            failed = [check.name for check in gate_report.checks if not check.passed]
            detail = "failed checks: " + ", ".join(failed)
            report.stages.append(Stage("gate", False, seconds, detail))
            report.outcome = "rejected"
            report.reason = "gate rejected the candidate: " + ", ".join(failed)
            return report
        report.stages.append(Stage("gate", True, seconds, f"passed against champion {previous}"))

        version, seconds = _timed(report, clock, "register", steps.register, gate_report)
        report.version = version
        undos.append((f"champion -> {previous}", lambda: steps.set_champion(previous)))
        report.stages.append(Stage("register", True, seconds, f"version {version}"))

        image, seconds = _timed(report, clock, "package", steps.package, version)
        undos.append((f"remove image of v{version}", lambda: steps.remove_image(version)))
        report.stages.append(Stage("package", True, seconds, str(image)))

        if previous is None:
            undos.append(("undeploy", steps.undeploy))
        else:
            undos.append((f"deploy v{previous}", lambda: steps.deploy(previous)))
        url, seconds = _timed(report, clock, "deploy", steps.deploy, version)
        report.stages.append(Stage("deploy", True, seconds, str(url)))

        load, seconds = _timed(report, clock, "load", steps.load, url)
        report.stages.append(Stage("load", True, seconds, f"sent {load.sent}, ok {load.ok}, failed {load.failed}"))

        verdict, seconds = _timed(report, clock, "monitor", steps.monitor, url, load)
        if verdict.healthy:
            report.stages.append(Stage("monitor", True, seconds, "healthy"))
            report.outcome, report.reason = "promoted", ""
            undos.clear()
        else:
            report.stages.append(Stage("monitor", False, seconds, f"unhealthy: {verdict.reason}"))
            report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = f"{failure.name} failed: {type(failure.error).__name__}: {failure.error}"
    finally:
        if report.outcome != "promoted" and undos:
            errors = _unwind(report, clock, undos)
            if errors:
                report.outcome = "failed"
                report.reason = (report.reason + "; " if report.reason else "") + "rollback failed: " + "; ".join(errors)
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _one_line(text) -> str:
    return " | ".join(part for part in str(text).splitlines())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{stage.name} {'ok' if stage.ok else 'FAILED'} {stage.seconds:.2f}s {_one_line(stage.detail)}"
             for stage in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} " \
           f"previous={report.previous} serving={report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _is_int(value) -> bool:
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_finite(value) -> bool:
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value)) and float(value) > 0


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import numbers

    if not _is_int(requests) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    if not _positive_finite(rps):
        raise ValueError(f"rps must be a positive finite number, got {rps!r}")
    if not _positive_finite(deadline_s):
        raise ValueError(f"deadline_s must be a positive finite number, got {deadline_s!r}")
    rate, deadline = float(rps), float(deadline_s)
    start = clock()
    end = start + deadline
    sent = ok = 0
    i = 0
    while i < requests:
        due = start + i / rate
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
        latency = probe()
        if latency is not None and isinstance(latency, numbers.Real) and not isinstance(latency, bool):
            ok += 1
        i += 1
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
            problems.append(f"availability {float(availability):.4f} < {min_availability}")
    if p95_ms is not None and not p95_ms <= max_p95_ms:
        problems.append(f"p95 {float(p95_ms):.1f} ms > {max_p95_ms} ms")
    if error_ratio is not None and not error_ratio <= max_error_ratio:
        problems.append(f"5xx ratio {float(error_ratio):.4f} > {max_error_ratio}")
    return Verdict(bool(not problems), "; ".join(problems))


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
COMPOSE_TIMEOUT_S = 180.0


def _get_json(url: str, timeout: float = HTTP_TIMEOUT_S):
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read().decode("utf-8"))


def _status(url: str, timeout: float = HTTP_TIMEOUT_S) -> int | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
    except (OSError, ValueError):
        return None


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
    def _model_url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _compose(self, *subcommand: str, extra_env: dict | None = None):
        import os

        env = {**os.environ, **(extra_env or {})}
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project,
                *subcommand]
        return self.runner(argv, env=env, timeout=COMPOSE_TIMEOUT_S)

    def train(self) -> str:
        import earlier_days
        from mlflow.models import infer_signature

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=f"capstone-{self.args.candidate}"):
            mlflow.log_param("candidate", self.args.candidate)
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train.astype("float64"),
                                                                      model.predict(X_train)))
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
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        else:
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))

    def package(self, version: str) -> str:
        import shutil
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        folder = Path(tempfile.mkdtemp(prefix="capstone-build-"))
        try:
            skops.io.dump(model, folder / "model.skops")
            (folder / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /models/model.skops\n"
                f"ENV MODEL_PATH=/models/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(str(folder))
            self.runner(argv, env=None, timeout=DOCKER_TIMEOUT_S)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", "--force", self._image(version)], env=None, timeout=120.0)

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE,
                      extra_env={"MODEL_IMAGE": self._image(version), "MODEL_PORT": str(self.args.model_port)})
        url = self._model_url()
        wanted = f"v{version}"
        deadline = self.clock() + float(self.args.wait_seconds)
        seen = None
        while True:
            try:
                seen = _get_json(f"{url}/health").get("model_version")
            except (OSError, ValueError):
                seen = None
            if seen == wanted and _status(f"{url}/ready") == 200:
                return url
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"v{version} not ready within {self.args.wait_seconds:g} s (last /health: {seen!r})")
            self.sleep(min(0.5, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def load(self, url: str) -> LoadResult:
        import time as wall

        import earlier_days

        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        X_test = earlier_days.make_data()[1]
        rows = X_test.to_numpy(dtype=float)
        position = [0]

        def probe():
            row = rows[position[0] % len(rows)].tolist()
            position[0] += 1
            return monitor.check_model_latency(url, {"features": [row]})

        self._load_began = wall.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        from urllib.parse import urlencode

        answer = _get_json(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?{urlencode({'query': query})}")
        result = answer.get("data", {}).get("result", [])
        if not result:
            return None
        return float(result[0]["value"][1])

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import time as wall

        import earlier_days

        began = self._load_began if self._load_began is not None else wall.time()
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        hours = max(wall.time() - began, 0.0) / 3600.0
        p95 = store.latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + float(self.args.wait_seconds)
            while True:
                try:
                    total = self._prometheus(total_q)
                except (OSError, ValueError, KeyError):
                    total = None
                if total is not None and total >= load.sent:
                    errors = self._prometheus(errors_q) or 0.0
                    error_ratio = errors / total if total else float("nan")
                    break
                now = self.clock()
                if now >= deadline:
                    return Verdict(False, f"5xx ratio unknown: Prometheus counted {total} of the {load.sent} "
                                          f"requests within {self.args.wait_seconds:g} s")
                self.sleep(min(0.5, deadline - now))
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            return _get_json(f"{self._model_url()}/health").get("model_version")
        except Exception:  # noqa: BLE001
            return None


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
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _int_at_least(low: int, high: int | None = None):
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an int: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"out of range: {text!r}")
        return value
    return check


def _label(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty key: {text!r}")
    return text


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {sorted(earlier_days.CANDIDATES)}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    p = argparse.ArgumentParser(prog="capstone.py", description="The course in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=Path(__file__).resolve().parent / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_int_at_least(1, 65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=_non_negative, default=0.05)
    p.add_argument("--requests", type=_int_at_least(1), default=100)
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
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report.to_dict(), handle, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
