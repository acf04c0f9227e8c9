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
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(name)
        self.name = name
        self.error = error


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    undos: list[Callable[[], None]] = []

    def timed(name, fn, *args):
        before = clock()
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - before, f"{type(exc).__name__}: {exc}"))
            raise _StageFailed(name, exc) from exc
        return result, clock() - before

    def unwind() -> list[str]:
        errors = []
        before = clock()
        ran = 0
        while undos:
            undo = undos.pop()
            ran += 1
            try:
                undo()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}")
        if ran:
            detail = f"{ran} undo(s) ran" + ("; errors: " + "; ".join(errors) if errors else "")
            report.stages.append(Stage("rollback", not errors, clock() - before, detail))
        return errors

    try:
        candidate, secs = timed("train", steps.train)
        report.stages.append(Stage("train", True, secs, str(candidate)))
        gate_report, secs = timed("gate", steps.gate, candidate)
        previous = gate_report.champion
        report.previous = previous
        if not gate_report.passed:
            failed = [c for c in gate_report.checks if not c.passed]
            text = "failed checks: " + ", ".join(c.name for c in failed)
            report.stages.append(Stage("gate", False, secs, text))
            report.outcome = "rejected"
            report.reason = text
            return report
        report.stages.append(Stage("gate", True, secs, f"passed against champion {previous}"))
        version, secs = timed("register", steps.register, gate_report)
        report.version = version
        report.stages.append(Stage("register", True, secs, f"version {version}"))
        undos.append(lambda: steps.set_champion(previous))
        image, secs = timed("package", steps.package, version)
        report.stages.append(Stage("package", True, secs, str(image)))
        undos.append(lambda: steps.remove_image(version))
        if previous is None:
            undos.append(steps.undeploy)
        else:
            undos.append(lambda: steps.deploy(previous))
        url, secs = timed("deploy", steps.deploy, version)
        report.stages.append(Stage("deploy", True, secs, str(url)))
        load, secs = timed("load", steps.load, url)
        report.stages.append(Stage("load", True, secs, str(load)))
        verdict, secs = timed("monitor", steps.monitor, url, load)
        if verdict.healthy:
            report.stages.append(Stage("monitor", True, secs, verdict.reason or "healthy"))
            report.outcome = "promoted"
            report.reason = ""
            undos.clear()
        else:
            report.stages.append(Stage("monitor", False, secs, verdict.reason))
            errors = unwind()
            report.outcome = "failed" if errors else "rolled_back"
            report.reason = f"regression: {verdict.reason}" + ("; rollback failed: " + "; ".join(errors) if errors else "")
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
    return " | ".join(str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}"
             for s in report.stages]
    lines.append(f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} "
                 f"previous={report.previous} serving={report.serving} {_one_line(report.reason)}".rstrip())
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _is_number(x) -> bool:
    import numbers
    return isinstance(x, numbers.Real) and not isinstance(x, (bool,)) and type(x).__name__ != "bool_"


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import math
    import numbers

    if isinstance(requests, bool) or not isinstance(requests, numbers.Integral) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not _is_number(value) or not math.isfinite(float(value)) or not float(value) > 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    requests, rps, deadline_s = int(requests), float(rps), float(deadline_s)
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
            now = clock()
        if now >= end:
            break
        sent += 1
        latency = probe()
        if latency is not None and _is_number(latency):
            ok += 1
    return LoadResult(sent, ok, sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    problems = []
    if not sent > 0:
        problems.append(f"availability unknown: {sent} requests sent")
    else:
        availability = ok / sent
        if not availability >= min_availability:
            problems.append(f"availability {availability:.4f} < {min_availability}")
    if p95_ms is not None and not p95_ms <= max_p95_ms:
        problems.append(f"p95 {p95_ms} ms > {max_p95_ms} ms")
    if error_ratio is not None and not error_ratio <= max_error_ratio:
        problems.append(f"5xx ratio {error_ratio} > {max_error_ratio}")
    return Verdict(bool(not problems), "; ".join(problems) if problems else "healthy")


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


def _http_get(url: str, timeout: float = 3.0):
    """(status, body bytes) of a GET; raises OSError-like errors on no answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus."""

    HTTP_TIMEOUT = 3.0
    DOCKER_TIMEOUT = 600.0

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began: float | None = None

    # --- MLflow ---
    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def train(self) -> str:
        ed = _earlier()
        mlflow = self._mlflow()
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = ed.make_data()
        model = ed.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)))
        return info.model_uri

    def gate(self, candidate: str):
        ed = _earlier()
        _, X_test, _, y_test = ed.make_data()
        return ed.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        return str(_earlier().gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        else:
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))

    # --- images ---
    def image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            context = Path(folder)
            skops.io.dump(model, context / "model.skops")
            (context / "model.skops").chmod(0o644)
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /opt/model/model.skops\n"
                f"ENV MODEL_PATH=/opt/model/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(str(context))
            self.runner(argv, env=dict(os.environ), timeout=self.DOCKER_TIMEOUT)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self.image(version)], env=dict(os.environ), timeout=120.0)

    # --- compose ---
    def _compose(self, *command: str, image: str | None = None) -> None:
        env = dict(os.environ)
        env["MODEL_PORT"] = str(self.args.model_port)
        if image is not None:
            env["MODEL_IMAGE"] = image
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *command]
        self.runner(argv, env=env, timeout=self.DOCKER_TIMEOUT)

    def _base_url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE, image=self.image(version))
        deadline = self.clock() + float(self.args.wait_seconds)
        url = self._base_url()
        wanted = f"v{version}"
        last = "no answer"
        while True:
            try:
                status, body = _http_get(f"{url}/health", self.HTTP_TIMEOUT)
                seen = json.loads(body or b"{}").get("model_version") if status == 200 else None
                if seen == wanted:
                    ready, _ = _http_get(f"{url}/ready", self.HTTP_TIMEOUT)
                    if ready == 200:
                        return url
                    last = f"{wanted} not ready ({ready})"
                else:
                    last = f"/health reports {seen!r}"
            except Exception as exc:  # noqa: BLE001
                last = f"{type(exc).__name__}: {exc}"
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} did not become ready within {self.args.wait_seconds:g} s: {last}")
            self.sleep(min(1.0, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def serving(self) -> str | None:
        try:
            status, body = _http_get(f"{self._base_url()}/health", self.HTTP_TIMEOUT)
            if status != 200:
                return None
            return json.loads(body).get("model_version")
        except Exception:  # noqa: BLE001
            return None

    # --- load and monitor ---
    def load(self, url: str) -> LoadResult:
        ed = _earlier()
        X_test = ed.make_data()[1]
        rows = X_test.to_numpy(dtype=float)
        monitor = ed.monitoring.ModelPerformanceMonitor(str(self.args.store))
        position = [0]

        def probe():
            row = rows[position[0] % len(rows)].tolist()
            position[0] += 1
            return monitor.check_model_latency(url, {"features": [row]})

        self._load_began = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prom(self, query: str) -> float:
        import urllib.parse

        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        status, body = _http_get(url, self.HTTP_TIMEOUT)
        if status != 200:
            raise RuntimeError(f"Prometheus answered {status}")
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        ed = _earlier()
        store = ed.monitoring.ModelPerformanceMonitor(str(self.args.store))
        began = self._load_began if self._load_began is not None else time.time()
        hours = max(0.0, time.time() - began) / 3600.0
        p95 = store.latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            bad_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + float(self.args.wait_seconds)
            while True:
                try:
                    total = self._prom(total_q)
                    if total >= load.sent:
                        error_ratio = self._prom(bad_q) / total if total else float("nan")
                        break
                except Exception:  # noqa: BLE001
                    pass
                now = self.clock()
                if now >= deadline:
                    return Verdict(False, f"5xx ratio unknown: Prometheus had not counted the load's {load.sent} "
                                          f"requests within {self.args.wait_seconds:g} s")
                self.sleep(min(0.5, deadline - now))
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _float_type(check, what):
    import math

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return convert


def _int_type(low: int, high: int | None = None):
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range")
        return value

    return convert


def _candidate(text: str) -> str:
    if text not in _earlier().CANDIDATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {sorted(_earlier().CANDIDATES)}")
    return text


def _label(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    positive = _float_type(lambda v: v > 0, "a positive finite number")
    non_negative = _float_type(lambda v: v >= 0, "a finite number >= 0")
    fraction = _float_type(lambda v: 0 <= v <= 1, "between 0 and 1")
    p = argparse.ArgumentParser(prog="capstone.py", description="The course in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=Path(__file__).resolve().parent / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_int_type(1, 65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=non_negative, default=0.05)
    p.add_argument("--requests", type=_int_type(1), default=100)
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
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
