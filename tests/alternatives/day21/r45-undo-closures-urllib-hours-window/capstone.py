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
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {error}")
        self.name, self.error = name, error


def _one_line(text) -> str:
    return " | ".join(str(text).splitlines())


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list[Callable[[], None]] = []

    def stage(name, call, *args):
        began = clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - began, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return value, began

    def unwind() -> list[str]:
        began = clock()
        errors = []
        while undos:
            undo = undos.pop()
            try:
                undo()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{getattr(undo, 'label', 'undo')}: {type(exc).__name__}: {exc}")
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return errors

    try:
        candidate, began = stage("train", steps.train)
        report.stages.append(Stage("train", True, clock() - began, str(candidate)))
        gate_report, began = stage("gate", steps.gate, candidate)
        ended = clock()
        report.previous = gate_report.champion
        previous = gate_report.champion
        if not gate_report.passed:
            failed = [c for c in gate_report.checks if not c.passed]
            detail = "failed checks: " + "; ".join(f"{c.name}: {c.message}" for c in failed)
            report.stages.append(Stage("gate", False, ended - began, detail))
            report.outcome, report.reason = "rejected", detail
            return report
        report.stages.append(Stage("gate", True, ended - began, f"passed against champion {previous}"))
        version, began = stage("register", steps.register, gate_report)
        report.stages.append(Stage("register", True, clock() - began, f"version {version}"))
        report.version = version

        def undo_register():
            steps.set_champion(previous)
        undo_register.label = "set_champion"
        undos.append(undo_register)
        image, began = stage("package", steps.package, version)
        report.stages.append(Stage("package", True, clock() - began, str(image)))

        def undo_package():
            steps.remove_image(version)
        undo_package.label = "remove_image"
        undos.append(undo_package)

        def undo_deploy():
            if previous is None:
                steps.undeploy()
            else:
                steps.deploy(previous)
        undo_deploy.label = "redeploy"
        undos.append(undo_deploy)
        url, began = stage("deploy", steps.deploy, version)
        report.stages.append(Stage("deploy", True, clock() - began, str(url)))
        load, began = stage("load", steps.load, url)
        report.stages.append(Stage("load", True, clock() - began, f"sent {load.sent}, ok {load.ok}, failed {load.failed}"))
        verdict, began = stage("monitor", steps.monitor, url, load)
        ended = clock()
        report.stages.append(Stage("monitor", bool(verdict.healthy), ended - began, verdict.reason or "healthy"))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
        else:
            errors = unwind()
            report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
            if errors:
                report.outcome = "failed"
                report.reason += "; rollback failed: " + "; ".join(errors)
    except _StageFailed as failure:
        report.outcome, report.reason = "failed", f"{failure.name} failed: {failure.error}"
        if undos:
            errors = unwind()
            if errors:
                report.reason += "; rollback failed: " + "; ".join(errors)
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name} {'ok' if s.ok else 'FAILED'} {s.seconds:.2f}s {_one_line(s.detail)}" for s in report.stages]
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version {report.version} previous {report.previous} " \
           f"serving {report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(value, what: str) -> float:
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} should be a positive finite number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} should be a positive finite number, got {value!r}")
    return value


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import numbers

    if isinstance(requests, bool) or not isinstance(requests, numbers.Integral) or requests < 1:
        raise ValueError(f"requests should be an int >= 1, got {requests!r}")
    rps = _positive_finite(rps, "rps")
    deadline_s = _positive_finite(deadline_s, "deadline_s")
    start = clock()
    end = start + deadline_s
    sent = ok = 0
    for i in range(int(requests)):
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
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, "every signal within its limit")


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


def _http_get(url: str, timeout: float = HTTP_TIMEOUT_S):
    """(status, body bytes) of a GET; raises OSError when nothing answers in time."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as answer:
        try:
            return answer.code, answer.read()
        finally:
            answer.close()


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

    # --- helpers
    def _image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _compose(self, *words: str, env: dict | None = None):
        import os

        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", str(self.args.project),
                *words]
        return self.runner(argv, env={**os.environ, **(env or {})}, timeout=COMMAND_TIMEOUT_S)

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    # --- the steps
    def train(self) -> str:
        import sklearn
        from mlflow.models import infer_signature

        import earlier_days

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
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
        import mlflow

        import earlier_days

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            folder = Path(folder)
            skops.io.dump(model, folder / "model.skops")
            (folder / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /opt/capstone/model.skops\n"
                f"ENV MODEL_PATH=/opt/capstone/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            self.runner(argv + [str(folder)], env=None, timeout=COMMAND_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self._image(version)], env=None, timeout=COMMAND_TIMEOUT_S)

    def deploy(self, version: str) -> str:
        wanted = f"v{version}"
        self._compose("up", "-d", "--no-deps", "model",
                      env={"MODEL_IMAGE": self._image(version), "MODEL_PORT": str(self.args.model_port)})
        deadline = self.clock() + float(self.args.wait_seconds)
        seen = None
        while True:
            seen = self.serving()
            if seen == wanted:
                try:
                    status, _ = _http_get(f"{self._url()}/ready")
                except OSError:
                    status = None
                if status == 200:
                    return self._url()
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} was not serving and ready within {self.args.wait_seconds} s "
                                   f"(last seen {seen!r})")
            self.sleep(min(0.5, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--force", "--stop", SERVICE)

    def load(self, url: str) -> LoadResult:
        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        counter = [0]

        def probe():
            row = rows[counter[0] % len(rows)]
            counter[0] += 1
            return store.check_model_latency(url, {"features": [row]})

        self._load_began_wall = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float:
        import json
        import urllib.parse

        status, body = _http_get(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?"
                                 f"query={urllib.parse.quote(query)}")
        if status != 200:
            raise OSError(f"Prometheus answered {status}")
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        p95 = None
        if self._load_began_wall is not None:
            store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
            hours = (time.time() - self._load_began_wall + 1.0) / 3600
            p95 = store.latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            predicts = 'sum(model_requests_total{endpoint="/predict"})'
            errors = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + float(self.args.wait_seconds)
            while True:
                try:
                    total = self._prometheus(predicts)
                except (OSError, ValueError, KeyError):
                    total = -1.0
                if total >= load.sent:
                    try:
                        bad = self._prometheus(errors)
                    except (OSError, ValueError, KeyError):
                        bad = float("nan")
                    error_ratio = bad / total if total > 0 else float("nan")
                    break
                now = self.clock()
                if now >= deadline:
                    return Verdict(False, f"5xx ratio unknown: Prometheus counted {total:g} of the {load.sent} "
                                          f"/predict requests within {self.args.wait_seconds} s")
                self.sleep(min(0.5, deadline - now))
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        import json

        try:
            status, body = _http_get(f"{self._url()}/health")
            if status != 200:
                return None
            return json.loads(body).get("model_version")
        except Exception:  # noqa: BLE001
            return None


# --- task 3: the command line -------------------------------------------------------------


def _type(check, message):
    def convert(text):
        try:
            value = check(text)
        except (TypeError, ValueError):
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{message}, got {text!r}")
        return value
    return convert


def _finite(text):
    import math

    value = float(text)
    return value if math.isfinite(value) else None


def _nonneg(text):
    v = _finite(text)
    return v if v is not None and v >= 0 else None


def _positive(text):
    v = _finite(text)
    return v if v is not None and v > 0 else None


def _fraction(text):
    v = _finite(text)
    return v if v is not None and 0 <= v <= 1 else None


def _count(text):
    v = int(text)
    return v if v >= 1 else None


def _port(text):
    v = int(text)
    return v if 1 <= v <= 65535 else None


def _label(text):
    key, equals, _ = text.partition("=")
    return text if equals and key else None


def _candidate(text):
    import earlier_days

    return text if text in earlier_days.CANDIDATES else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    p = argparse.ArgumentParser(prog="capstone.py", description="The course in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", default="interactions", type=_type(_candidate, "a key of earlier_days.CANDIDATES"))
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=Path(__file__).resolve().parent / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_type(_port, "an int 1-65535"), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_type(_nonneg, "a finite number >= 0"), default=0.01)
    p.add_argument("--slice-tolerance", type=_type(_nonneg, "a finite number >= 0"), default=0.05)
    p.add_argument("--requests", type=_type(_count, "an int >= 1"), default=100)
    p.add_argument("--rps", type=_type(_positive, "a positive finite number"), default=20.0)
    p.add_argument("--load-seconds", type=_type(_positive, "a positive finite number"), default=30.0)
    p.add_argument("--min-availability", type=_type(_fraction, "a number between 0 and 1"), default=0.99)
    p.add_argument("--max-error-ratio", type=_type(_fraction, "a number between 0 and 1"), default=0.01)
    p.add_argument("--max-p95-ms", type=_type(_positive, "a positive finite number"), default=500.0)
    p.add_argument("--wait-seconds", type=_type(_positive, "a positive finite number"), default=60.0)
    p.add_argument("--store", type=Path, default=Path.cwd() / "capstone-metrics.db")
    p.add_argument("--label", type=_type(_label, "KEY=VALUE with a non-empty key"), action="append", default=[])
    p.add_argument("--report-json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
