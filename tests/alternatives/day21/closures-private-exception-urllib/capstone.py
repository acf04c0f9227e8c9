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


def _one_line(text: str) -> str:
    return " | ".join(part.strip() for part in str(text).splitlines() if part.strip())


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undo: list[tuple[str, Callable[[], object]]] = []

    def timed(name, call, *args):
        began = clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - began, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return value, clock() - began

    def stage(name, call, *args, detail=""):
        value, seconds = timed(name, call, *args)
        report.stages.append(Stage(name, True, seconds, detail))
        return value

    def unwind() -> list[str]:
        errors = []
        began = clock()
        done = []
        while undo:
            label, action = undo.pop()
            try:
                action()
                done.append(label)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
        detail = "undid " + ", ".join(done) if done else "undid nothing"
        if errors:
            detail += "; failed: " + "; ".join(errors)
        report.stages.append(Stage("rollback", not errors, clock() - began, detail))
        return errors

    try:
        candidate = stage("train", steps.train)
        gate_report, seconds = timed("gate", steps.gate, candidate)
        previous = gate_report.champion
        report.previous = previous
        if not gate_report.passed:
            failed = [check.name for check in gate_report.checks if not check.passed]
            text = "failed checks: " + ", ".join(failed)
            report.stages.append(Stage("gate", False, seconds, text))
            report.outcome, report.reason = "rejected", f"gate rejected the candidate: {', '.join(failed)}"
            return report
        report.stages.append(Stage("gate", True, seconds, f"passed against champion {previous}"))
        version = stage("register", steps.register, gate_report)
        report.version = version
        undo.append((f"champion back to {previous}", lambda: steps.set_champion(previous)))
        image = stage("package", steps.package, version)
        undo.append((f"image of v{version} removed", lambda: steps.remove_image(version)))
        if previous is None:
            undo.append(("model service removed", steps.undeploy))
        else:
            undo.append((f"v{previous} redeployed", lambda: steps.deploy(previous)))
        url = stage("deploy", steps.deploy, version, detail=f"{image} at ")
        loaded = stage("load", steps.load, url)
        verdict, seconds = timed("monitor", steps.monitor, url, loaded)
        report.stages.append(Stage("monitor", verdict.healthy, seconds, verdict.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undo.clear()
        else:
            report.outcome, report.reason = "rolled_back", f"regression: {verdict.reason}"
    except _StageFailed as failure:
        report.outcome, report.reason = "failed", str(failure)
    finally:
        if undo and report.outcome != "promoted":
            errors = unwind()
            if errors:
                report.outcome = "failed"
                report.reason = f"{report.reason}; rollback failed: {'; '.join(errors)}"
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
    tail = f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} " \
           f"previous={report.previous} serving={report.serving}"
    if report.reason:
        tail += f" reason: {_one_line(report.reason)}"
    lines.append(tail)
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(name: str, value) -> None:
    import math

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
    problems, fine = [], []
    if sent <= 0:
        problems.append("availability unknown: no request was sent")
    else:
        availability = ok / sent
        text = f"availability {availability:.3f} ({ok} of {sent} answered)"
        if availability >= min_availability:
            fine.append(text)
        else:
            problems.append(f"{text} below {min_availability}")
    if p95_ms is not None:
        if p95_ms <= max_p95_ms:
            fine.append(f"p95 {p95_ms:.1f} ms")
        else:
            problems.append(f"p95 {p95_ms} ms above {max_p95_ms} ms")
    if error_ratio is not None:
        if error_ratio <= max_error_ratio:
            fine.append(f"5xx ratio {error_ratio:.4f}")
        else:
            problems.append(f"5xx ratio {error_ratio} above {max_error_ratio}")
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


HTTP_TIMEOUT_S = 5.0
POLL_S = 0.5


def _get(url: str):
    """(status, parsed JSON or None) of a GET with a finite timeout; HTTP errors give their status."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as exc:
        return exc.code, None
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
        self._load_began: float | None = None

    # helpers
    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _compose(self, *command: str, env: dict | None = None, timeout: float = 180.0):
        import os

        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project,
                *command]
        return self.runner(argv, env={**os.environ, "MODEL_PORT": str(self.args.model_port), **(env or {})},
                           timeout=timeout)

    # mlflow
    def train(self) -> str:
        import earlier_days
        from mlflow.models import infer_signature

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            mlflow.log_param("candidate", self.args.candidate)
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict_proba(X_train)))
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

        mlflow = self._mlflow()
        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    # images
    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as tmp:
            context = Path(tmp)
            skops.io.dump(model, context / "model.skops")
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /app/model.skops\n"
                f"ENV MODEL_PATH=/app/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            self.runner([*argv, str(context)], env=None, timeout=600.0)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self._image(version)], env=None, timeout=120.0)

    # the service
    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", "model", env={"MODEL_IMAGE": self._image(version)})
        deadline = self.clock() + self.args.wait_seconds
        wanted = f"v{version}"
        last = "no answer"
        while True:
            try:
                status, body = _get(f"{self._url()}/health")
                seen = (body or {}).get("model_version") if status == 200 else None
                if seen == wanted:
                    ready, _ = _get(f"{self._url()}/ready")
                    if ready == 200:
                        return self._url()
                    last = f"{wanted} answers but /ready said {ready}"
                else:
                    last = f"/health reported {seen!r}"
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise RuntimeError(f"{wanted} was not ready within {self.args.wait_seconds:g} s ({last})")
            self.sleep(min(POLL_S, remaining))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", "model")

    def serving(self) -> str | None:
        try:
            status, body = _get(f"{self._url()}/health")
        except (OSError, ValueError):
            return None
        if status != 200 or not isinstance(body, dict):
            return None
        return body.get("model_version")

    # load and monitor
    def _store(self):
        import earlier_days

        return earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        store = self._store()
        cycle = itertools.cycle(rows)
        self._load_began = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(cycle)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        import urllib.parse

        status, body = _get(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?"
                            + urllib.parse.urlencode({"query": query}))
        if status != 200 or not body or body.get("status") != "success":
            return None
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def _error_ratio(self, sent: int) -> float:
        total_q = 'sum(model_requests_total{endpoint="/predict"})'
        errors_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
        deadline = self.clock() + self.args.wait_seconds
        seen = None
        while True:
            try:
                seen = self._prometheus(total_q)
                if seen is not None and seen >= sent:
                    errors = self._prometheus(errors_q) or 0.0
                    return errors / seen
            except OSError:
                pass
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise RuntimeError(f"Prometheus counted {seen} of the load's {sent} requests within "
                                   f"{self.args.wait_seconds:g} s: the 5xx ratio is unknown")
            self.sleep(min(POLL_S, remaining))

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        began = self._load_began if self._load_began is not None else time.time() - self.args.load_seconds
        samples = self._store().get_recent_metrics("latency_ms", hours=(time.time() - began) / 3600 + 1 / 3600)
        latencies = [row["value"] for row in samples if row["timestamp"] >= began]
        p95 = float(np.percentile(latencies, 95)) if latencies else None
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
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def _int_between(low: int, high: int | None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high if high is not None else ''}")
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
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="capstone.py", description=__doc__.splitlines()[0])
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_int_between(1, 65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=_non_negative, default=0.05)
    p.add_argument("--requests", type=_int_between(1, None), default=100)
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
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
