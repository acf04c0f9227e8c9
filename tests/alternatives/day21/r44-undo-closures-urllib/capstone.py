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
        self.name = name
        self.error = error


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], None]]] = []

    def stage(name, call, *args, judge_result=None):
        began = clock()
        try:
            result = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - began, _err(exc)))
            raise _StageFailed(name, exc) from exc
        seconds = clock() - began
        ok, detail = (True, "ok") if judge_result is None else judge_result(result)
        report.stages.append(Stage(name, ok, seconds, detail))
        return result

    def unwind() -> list[str]:
        if not undo:
            return []
        began = clock()
        errors = []
        while undo:
            what, action = undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{what}: {_err(exc)}")
        detail = "undone" if not errors else "undo failed: " + "; ".join(errors)
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return errors

    try:
        candidate = stage("train", steps.train)

        def gate_result(g):
            failed = [c.name for c in g.checks if not c.passed]
            if g.passed:
                return True, "passed"
            return False, "failed checks: " + ", ".join(failed)

        g = stage("gate", steps.gate, candidate, judge_result=gate_result)
        report.previous = g.champion
        previous = g.champion
        if not g.passed:
            report.outcome = "rejected"
            report.reason = report.stages[-1].detail
            return report
        version = stage("register", steps.register, g)
        report.version = version
        undo.append(("set_champion", lambda: steps.set_champion(previous)))
        stage("package", steps.package, version)
        undo.append(("remove_image", lambda: steps.remove_image(version)))
        if previous is None:
            undo.append(("undeploy", steps.undeploy))
        else:
            undo.append(("deploy", lambda: steps.deploy(previous)))
        url = stage("deploy", steps.deploy, version)
        load = stage("load", steps.load, url)
        verdict = stage("monitor", steps.monitor, url, load,
                        judge_result=lambda v: (bool(v.healthy), v.reason or ("healthy" if v.healthy else "unhealthy")))
        if verdict.healthy:
            report.outcome = "promoted"
            report.reason = ""
        else:
            errors = unwind()
            report.outcome = "failed" if errors else "rolled_back"
            report.reason = f"regression: {verdict.reason}"
            if errors:
                report.reason += "; rollback failed: " + "; ".join(errors)
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = f"{failure.name} failed: {failure.error}"
        errors = unwind()
        if errors:
            report.reason += "; rollback failed: " + "; ".join(errors)
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _one_line(text: str) -> str:
    return " | ".join(part for part in str(text).splitlines())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}"
             for s in report.stages]
    last = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} previous={report.previous} " \
           f"serving={report.serving}"
    if report.reason:
        last += f" reason: {_one_line(report.reason)}"
    lines.append(last)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(value) -> bool:
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value)) and value > 0


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import numbers

    if isinstance(requests, bool) or not isinstance(requests, numbers.Integral) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    if not _positive_finite(rps):
        raise ValueError(f"rps must be a positive finite number, got {rps!r}")
    if not _positive_finite(deadline_s):
        raise ValueError(f"deadline_s must be a positive finite number, got {deadline_s!r}")
    rps, deadline_s = float(rps), float(deadline_s)
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
            problems.append(f"availability {float(availability):.4f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None and not p95_ms <= max_p95_ms:
        problems.append(f"p95 latency {float(p95_ms):.1f} ms above {max_p95_ms} ms")
    if error_ratio is not None and not error_ratio <= max_error_ratio:
        problems.append(f"5xx ratio {float(error_ratio):.4f} above {max_error_ratio}")
    if problems:
        return Verdict(False, "; ".join(problems))
    parts = [f"availability {float(ok / sent):.4f}"]
    if p95_ms is not None:
        parts.append(f"p95 {float(p95_ms):.1f} ms")
    if error_ratio is not None:
        parts.append(f"5xx {float(error_ratio):.4f}")
    return Verdict(True, ", ".join(parts))


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


def _get_json(url: str, timeout: float = HTTP_TIMEOUT_S):
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.status, json.load(answer)


def _get_status(url: str, timeout: float = HTTP_TIMEOUT_S) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


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
        self._baseline: tuple[float, float] | None = None
        self._load_began_wall: float | None = None

    # registry ------------------------------------------------------------
    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def train(self) -> str:
        import earlier_days
        from mlflow.models import infer_signature

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]()
        model.fit(X_train, y_train)
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

        self._mlflow()
        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import earlier_days

        client = self._client()
        alias = earlier_days.gate.CHAMPION
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, alias)
        else:
            client.set_registered_model_alias(self.args.model_name, alias, str(version))

    # images --------------------------------------------------------------
    def _image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            context = Path(folder)
            skops.io.dump(model, context / "model.skops")
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /opt/capstone/model.skops\n"
                f"ENV MODEL_PATH=/opt/capstone/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(str(context))
            self.runner(argv, env=None, timeout=DOCKER_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self._image(version)], env=None, timeout=120.0)

    # service -------------------------------------------------------------
    def _compose(self, *args: str, env: dict | None = None, timeout: float = 300.0):
        import os

        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *args]
        return self.runner(argv, env={**os.environ, **(env or {})}, timeout=timeout)

    def _url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", "model",
                      env={"MODEL_IMAGE": self._image(version), "MODEL_PORT": str(self.args.model_port)})
        wanted = f"v{version}"
        url = self._url()
        deadline = self.clock() + float(self.args.wait_seconds)
        last = "no answer yet"
        while True:
            try:
                _, health = _get_json(f"{url}/health")
                seen = health.get("model_version") if isinstance(health, dict) else None
                if seen == wanted:
                    status = _get_status(f"{url}/ready")
                    if status == 200:
                        return url
                    last = f"{wanted} answers /health, /ready says {status}"
                else:
                    last = f"/health reports {seen!r}"
            except Exception as exc:  # noqa: BLE001
                last = _err(exc)
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} was not ready within {self.args.wait_seconds} s: {last}")
            self.sleep(min(0.5, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", "model")

    def serving(self) -> str | None:
        try:
            _, health = _get_json(f"{self._url()}/health")
        except Exception:  # noqa: BLE001
            return None
        return health.get("model_version") if isinstance(health, dict) else None

    # load and monitor ----------------------------------------------------
    def _prom_sum(self, query: str) -> float:
        import urllib.parse

        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query={urllib.parse.quote(query)}"
        _, body = _get_json(url)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus answered {body}")
        return sum(float(r["value"][1]) for r in body["data"]["result"])

    def _prom_counts(self) -> tuple[float, float]:
        total = self._prom_sum('sum(model_requests_total{endpoint="/predict"})')
        errors = self._prom_sum('sum(model_requests_total{endpoint="/predict",status=~"5.."})')
        return total, errors

    def load(self, url: str) -> LoadResult:
        import earlier_days

        monitor = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        position = [0]

        def probe():
            row = rows[position[0] % len(rows)]
            position[0] += 1
            return monitor.check_model_latency(url, {"features": [row]})

        self._baseline = None
        if self.args.prometheus_url:
            try:
                self._baseline = self._prom_counts()
            except Exception:  # noqa: BLE001
                self._baseline = None
        self._load_began_wall = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _error_ratio(self, sent: int) -> float | None:
        base_total, base_errors = self._baseline or (0.0, 0.0)
        deadline = self.clock() + float(self.args.wait_seconds)
        while True:
            try:
                total, errors = self._prom_counts()
                if total < base_total:  # the counters restarted: a new container counts from zero
                    base_total, base_errors = 0.0, 0.0
                counted = total - base_total
                if counted >= sent:
                    return (errors - base_errors) / counted if counted > 0 else float("nan")
            except Exception:  # noqa: BLE001
                pass
            now = self.clock()
            if now >= deadline:
                return None
            self.sleep(min(0.5, deadline - now))

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        began = self._load_began_wall if self._load_began_wall is not None else time.time() - 3600
        hours = (time.time() - began + 1.0) / 3600.0
        p95 = store.latency_percentile(95, hours=hours)
        ratio = None
        if self.args.prometheus_url:
            ratio = self._error_ratio(load.sent)
            if ratio is None:
                return Verdict(False, f"5xx ratio unknown: Prometheus did not count the {load.sent} requests of the "
                                      f"load within {self.args.wait_seconds} s")
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
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def _int_at_least(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"out of range: {text!r}")
        return value
    return parse


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {sorted(earlier_days.CANDIDATES)}")
    return text


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty key, got {text!r}")
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
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
