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

    def stage(name, call, *args):
        before = clock()
        try:
            result = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - before, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return result, before

    def unwind() -> str:
        before = clock()
        errors = []
        while undo:
            what, action = undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{what}: {type(exc).__name__}: {exc}")
        detail = "; ".join(errors) if errors else "undone: everything this run changed"
        report.stages.append(Stage("rollback", not errors, clock() - before, detail))
        return "; ".join(errors)

    try:
        candidate, t = stage("train", steps.train)
        report.stages.append(Stage("train", True, clock() - t, candidate))
        gate_report, t = stage("gate", steps.gate, candidate)
        report.previous = gate_report.champion
        if not gate_report.passed:
            failed = ", ".join(f"{c.name} ({c.message})" for c in gate_report.checks if not c.passed)
            report.stages.append(Stage("gate", False, clock() - t, f"failed checks: {failed}"))
            report.outcome, report.reason = "rejected", f"the gate rejected the candidate: {failed}"
            return report
        report.stages.append(Stage("gate", True, clock() - t, "every check passed"))
        previous = report.previous
        version, t = stage("register", steps.register, gate_report)
        report.stages.append(Stage("register", True, clock() - t, f"version {version}"))
        report.version = version
        undo.append(("set_champion", lambda: steps.set_champion(previous)))
        image, t = stage("package", steps.package, version)
        report.stages.append(Stage("package", True, clock() - t, str(image)))
        undo.append(("remove_image", lambda: steps.remove_image(version)))
        if previous is None:
            undo.append(("undeploy", steps.undeploy))
        else:
            undo.append(("deploy", lambda: steps.deploy(previous)))
        url, t = stage("deploy", steps.deploy, version)
        report.stages.append(Stage("deploy", True, clock() - t, str(url)))
        load, t = stage("load", steps.load, url)
        report.stages.append(Stage("load", True, clock() - t, f"{load.ok} of {load.sent} answered"))
        verdict, t = stage("monitor", steps.monitor, url, load)
        report.stages.append(Stage("monitor", bool(verdict.healthy), clock() - t, verdict.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
        else:
            errors = unwind()
            report.outcome = "failed" if errors else "rolled_back"
            report.reason = f"regression: {verdict.reason}" + (f"; rollback failed: {errors}" if errors else "")
    except _StageFailed as failure:
        report.outcome, report.reason = "failed", str(failure)
        if undo:
            errors = unwind()
            if errors:
                report.reason += f"; rollback failed: {errors}"
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _one_line(text) -> str:
    """A detail or reason on one line: an error's output (docker's) may span several."""
    return " ".join(str(text).split())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}" for s in report.stages]
    lines.append(f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} "
                 f"previous={report.previous} serving={report.serving}" + (f" reason: {_one_line(report.reason)}" if report.reason else ""))
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
    if sent <= 0:
        return Verdict(False, "availability unknown: no request was sent")
    problems, fine = [], []
    availability = ok / sent
    text = f"availability {availability:.3f} ({ok} of {sent})"
    (fine if availability >= min_availability else problems).append(
        text + ("" if availability >= min_availability else f" below {min_availability}"))
    if p95_ms is not None:
        good = p95_ms <= max_p95_ms
        (fine if good else problems).append(f"p95 {p95_ms:.1f} ms" + ("" if good else f" above {max_p95_ms} ms"))
    if error_ratio is not None:
        good = error_ratio <= max_error_ratio
        (fine if good else problems).append(f"5xx ratio {error_ratio:.4f}" + ("" if good else f" above {max_error_ratio}"))
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, ", ".join(fine))


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

    def _compose(self, *sub: str, image: str | None = None) -> None:
        import os

        env = dict(os.environ)
        env["MODEL_PORT"] = str(self.args.model_port)
        if image is not None:
            env["MODEL_IMAGE"] = image
        self.runner(["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project,
                     *sub], env=env, timeout=300)

    def _get(self, path: str):
        import urllib.request

        with urllib.request.urlopen(self._url + path, timeout=2) as answer:
            return answer.status, json.load(answer)

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
        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate) as active:
            mlflow.log_param("candidate", self.args.candidate)
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)))
        return info.model_uri or f"runs:/{active.info.run_id}/model"

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
        import mlflow
        import earlier_days

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    # docker
    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory() as context:
            skops.io.dump(model, Path(context) / "model.skops")
            (Path(context) / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /app/model.skops\n"
                f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            labels = [part for label in self.args.label for part in ("--label", label)]
            self.runner(["docker", "build", "--tag", tag, *labels, context], env=None, timeout=600)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self._image(version)], env=None, timeout=120)

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", "model", image=self._image(version))
        deadline = self.clock() + self.args.wait_seconds
        wanted = f"v{version}"
        seen = None
        while True:
            try:
                status, health = self._get("/health")
                seen = health.get("model_version")
                if status == 200 and seen == wanted and self._get("/ready")[0] == 200:
                    return self._url
            except (OSError, ValueError):
                pass
            if self.clock() >= deadline:
                raise RuntimeError(f"{wanted} was not serving and ready within {self.args.wait_seconds:g} s "
                                   f"(last seen {seen!r})")
            self.sleep(min(0.5, max(0.0, deadline - self.clock())) or 0.1)

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", "model")

    # load and monitor
    def load(self, url: str) -> LoadResult:
        import earlier_days

        _, X_test, _, _ = self._data()
        rows = X_test.astype("float64").values.tolist()
        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        counter = iter(range(10**9))

        def probe():
            row = rows[next(counter) % len(rows)]
            return monitor.check_model_latency(url, {"features": [row]})

        self._load_began = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float:
        import urllib.parse
        import urllib.request

        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query={urllib.parse.quote(query)}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            data = json.load(answer)
        result = data["data"]["result"]
        return sum(float(item["value"][1]) for item in result)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        began = self._load_began if self._load_began is not None else time.time()
        hours = (time.time() - began + 1.0) / 3600.0
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        p95 = store.latency_percentile(95, hours=hours)
        ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + self.args.wait_seconds
            while True:
                total = self._prometheus(total_q)
                if total >= load.sent:
                    break
                if self.clock() >= deadline:
                    raise RuntimeError(f"Prometheus counted {total:g} of the {load.sent} requests sent "
                                       f"within {self.args.wait_seconds:g} s")
                self.sleep(0.5)
            ratio = self._prometheus(errors_q) / total if total else None
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            return self._get("/health")[1].get("model_version")
        except (OSError, ValueError, AttributeError):
            return None


# --- task 3: the command line -------------------------------------------------------------


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _positive(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _float(text)
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
            raise argparse.ArgumentTypeError(f"must be in {low}..{high if high is not None else ''}, got {value}")
        return value
    return parse


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"a label is KEY=VALUE with a non-empty key, got {text!r}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    import earlier_days

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="the course in one command")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", default="interactions", choices=sorted(earlier_days.CANDIDATES))
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
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
