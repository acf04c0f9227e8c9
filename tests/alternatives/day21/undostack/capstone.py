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
import os
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
    """A stage raised; its Stage is already recorded."""

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {type(error).__name__}: {error}")
        self.name = name
        self.error = error


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], object]]] = []

    def stage(name, call, *args, judge_ok=None, detail=None):
        started = clock()
        try:
            result = call(*args)
        except Exception as exc:  # noqa: BLE001 - a failed stage
            report.stages.append(Stage(name, False, clock() - started, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        seconds = clock() - started
        ok = True if judge_ok is None else bool(judge_ok(result))
        text = detail(result) if detail else "ok"
        report.stages.append(Stage(name, ok, seconds, text))
        return result

    def unwind() -> str | None:
        started = clock()
        errors = []
        while undo:
            what, action = undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every undo runs
                errors.append(f"{what}: {type(exc).__name__}: {exc}")
        detail = "; ".join(errors) if errors else "undone"
        report.stages.append(Stage("rollback", not errors, clock() - started, detail))
        return detail if errors else None

    def failed_checks(g) -> list[str]:
        return [check.name for check in g.checks if not check.passed]

    try:
        candidate = stage("train", steps.train, detail=lambda uri: str(uri))
        g = stage("gate", steps.gate, candidate, judge_ok=lambda r: r.passed,
                  detail=lambda r: ("passed" if r.passed else "failed: " + ", ".join(failed_checks(r))))
        report.previous = g.champion
        if not g.passed:
            report.outcome = "rejected"
            report.reason = "gate rejected the candidate: " + ", ".join(failed_checks(g))
        else:
            previous = g.champion
            version = stage("register", steps.register, g, detail=lambda v: f"version {v}")
            report.version = version
            undo.append(("set_champion", lambda: steps.set_champion(previous)))
            stage("package", steps.package, version, detail=str)
            undo.append(("remove_image", lambda: steps.remove_image(version)))
            if previous is None:
                undo.append(("undeploy", steps.undeploy))
            else:
                undo.append(("deploy", lambda: steps.deploy(previous)))
            url = stage("deploy", steps.deploy, version, detail=str)
            result = stage("load", steps.load, url, detail=lambda r: f"{r.ok}/{r.sent} answered")
            verdict = stage("monitor", steps.monitor, url, result, judge_ok=lambda v: v.healthy,
                            detail=lambda v: v.reason)
            if verdict.healthy:
                report.outcome, report.reason = "promoted", ""
            else:
                report.outcome = "rolled_back"
                report.reason = f"regression: {verdict.reason}"
                error = unwind()
                if error:
                    report.outcome = "failed"
                    report.reason += f"; rollback failed: {error}"
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = str(failure)
        if undo:
            error = unwind()
            if error:
                report.reason += f"; rollback failed: {error}"
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
                 f"previous={report.previous} serving={report.serving} {_one_line(report.reason)}".rstrip())
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
            sleep(min(due, end) - now)
        if clock() >= end:
            break
        sent += 1
        if probe() is not None:
            ok += 1
    return LoadResult(sent, ok, sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    problems, seen = [], []
    if sent <= 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        if availability >= min_availability:
            seen.append(f"availability {availability:.3f}")
        else:
            problems.append(f"availability {availability:.3f} below {min_availability} ({ok} of {sent} answered)")
    if p95_ms is not None:
        if p95_ms <= max_p95_ms:
            seen.append(f"p95 {p95_ms:.1f} ms")
        else:
            problems.append(f"p95 {p95_ms:.1f} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        if error_ratio <= max_error_ratio:
            seen.append(f"5xx {error_ratio:.4f}")
        else:
            problems.append(f"5xx ratio {error_ratio:.4f} above {max_error_ratio}")
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


def _earlier():
    import earlier_days

    return earlier_days


def _get_json(url: str, timeout: float = 2.0):
    """(status, parsed body or None); (None, None) when nothing answers."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return None, None


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
        self._load_started_wall: float | None = None

    # helpers
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _data(self):
        return _earlier().make_data()

    def _compose(self, *words: str, image: str | None = None):
        env = dict(os.environ)
        env["MODEL_PORT"] = str(self.args.model_port)
        if image is not None:
            env["MODEL_IMAGE"] = image
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", str(self.args.project),
                *words]
        return self.runner(argv, env=env, timeout=300)

    # MLflow
    def train(self) -> str:
        import mlflow
        from mlflow.models import infer_signature

        X_train, _X_test, y_train, _y_test = self._data()
        model = _earlier().CANDIDATES[self.args.candidate]()
        model.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=f"capstone-{self.args.candidate}"):
            mlflow.log_param("candidate", self.args.candidate)
            info = mlflow.sklearn.log_model(model, "model", signature=infer_signature(X_train, model.predict(X_train)))
        return info.model_uri

    def gate(self, candidate: str):
        _X_train, X_test, _y_train, y_test = self._data()
        return _earlier().gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                        slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                        slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        return str(_earlier().gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        alias = _earlier().gate.CHAMPION
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, alias)
        else:
            client.set_registered_model_alias(self.args.model_name, alias, str(version))

    # images
    def package(self, version: str) -> str:
        import tempfile

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory() as context:
            skops.io.dump(model, os.path.join(context, "model.skops"))
            with open(os.path.join(context, "Dockerfile"), "w", encoding="utf-8") as f:
                f.write(f"FROM {self.args.server_image}\n"
                        "COPY model.skops /app/model.skops\n"
                        f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            self.runner([*argv, context], env=dict(os.environ), timeout=600)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", "--force", self.image(version)], env=dict(os.environ), timeout=120)

    # the service
    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE, image=self.image(version))
        wanted = f"v{version}"
        deadline = self.clock() + float(self.args.wait_seconds)
        seen = None
        while True:
            status, body = _get_json(self.url + "/health")
            seen = body.get("model_version") if status == 200 and isinstance(body, dict) else None
            if seen == wanted and _get_json(self.url + "/ready")[0] == 200:
                return self.url
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} was not ready on {self.url} within {self.args.wait_seconds} s "
                                   f"(/health said {seen!r})")
            self.sleep(min(0.5, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def serving(self) -> str | None:
        status, body = _get_json(self.url + "/health")
        if status == 200 and isinstance(body, dict):
            return body.get("model_version")
        return None

    # load and monitor
    def _monitor_store(self):
        return _earlier().monitoring.ModelPerformanceMonitor(str(self.args.store))

    def load(self, url: str) -> LoadResult:
        _X_train, X_test, _y_train, _y_test = self._data()
        rows = [[float(v) for v in row] for row in X_test.itertuples(index=False)]
        store = self._monitor_store()
        counter = iter(range(10 ** 9))

        def probe():
            row = rows[next(counter) % len(rows)]
            return store.check_model_latency(url, {"features": [row]})

        self._load_started_wall = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        import json
        import urllib.parse
        import urllib.request

        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?query={urllib.parse.quote(query)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                result = json.load(answer)["data"]["result"]
        except (OSError, ValueError, KeyError):
            return None
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        since = self._load_started_wall if self._load_started_wall is not None else time.time() - 3600
        hours = (time.time() - since) / 3600 + 1 / 3600
        p95 = self._monitor_store().latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            deadline = self.clock() + float(self.args.wait_seconds)
            total = self._prometheus(total_q)
            while (total is None or total < load.sent) and self.clock() < deadline:
                self.sleep(min(1.0, max(0.0, deadline - self.clock())))
                total = self._prometheus(total_q)
            if total is None or total < load.sent:
                raise RuntimeError(f"Prometheus counted {total or 0:g} of the load's {load.sent} requests "
                                   f"within {self.args.wait_seconds} s: the 5xx ratio is unknown")
            errors = self._prometheus('sum(model_requests_total{endpoint="/predict",status=~"5.."})')
            if total and errors is not None:
                error_ratio = errors / total
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _number(text: str, *, lo=None, hi=None, lo_open=False, integer=False):
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if integer else 'a number'}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and value > hi:
        raise argparse.ArgumentTypeError(f"{text!r} must be <= {hi}")
    return value


def _typed(name, **limits):
    def convert(text):
        return _number(text, **limits)

    convert.__name__ = name
    return convert


def _label(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE with a non-empty key")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    positive = _typed("positive", lo=0, lo_open=True)
    non_negative = _typed("non-negative", lo=0)
    fraction = _typed("fraction", lo=0, hi=1)
    p = argparse.ArgumentParser(prog="capstone.py", description=__doc__.splitlines()[0])
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", default="interactions", choices=sorted(_earlier().CANDIDATES))
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=Path(__file__).resolve().parent / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_typed("port", lo=1, hi=65535, integer=True), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=non_negative, default=0.05)
    p.add_argument("--requests", type=_typed("count", lo=1, integer=True), default=100)
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

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report))
    if args.report_json is not None:
        with open(args.report_json, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
