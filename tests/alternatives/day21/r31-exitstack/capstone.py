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

import contextlib
import math
import numbers
import re


class _Timeline:
    """Records stages on a clock."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.stages: list[Stage] = []

    def timed(self, name: str, fn, *args):
        """(result, error, seconds); never raises for an ordinary exception."""
        t0 = self.clock()
        try:
            out = fn(*args)
        except Exception as exc:  # noqa: BLE001
            return None, exc, self.clock() - t0
        return out, None, self.clock() - t0

    def add(self, name, ok, seconds, detail) -> None:
        self.stages.append(Stage(name, ok, seconds, detail))


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    timeline = _Timeline(clock)
    report = Report("failed", stages=timeline.stages)
    undo_errors: list[str] = []
    undos = contextlib.ExitStack()
    pushed = [0]

    def push(label, fn, *args):
        pushed[0] += 1
        def safe():
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - the others still run
                undo_errors.append(f"undo {label}: {exc}")
        undos.callback(safe)

    def roll_back() -> bool:
        """True when there was something to undo."""
        if not pushed[0]:
            return False
        pushed[0] = 0
        t0 = clock()
        undos.close()
        timeline.add("rollback", not undo_errors, clock() - t0,
                     "; ".join(undo_errors) if undo_errors else "every change undone")
        return True

    def fail(name, error, seconds):
        timeline.add(name, False, seconds, repr(error))
        report.outcome = "failed"
        report.reason = f"{name} failed: {error}"
        roll_back()
        if undo_errors:
            report.reason += " (and " + "; ".join(undo_errors) + ")"

    try:
        candidate, err, secs = timeline.timed("train", steps.train)
        if err:
            fail("train", err, secs)
            return report
        timeline.add("train", True, secs, str(candidate))

        gate_report, err, secs = timeline.timed("gate", steps.gate, candidate)
        if err:
            fail("gate", err, secs)
            return report
        report.previous = gate_report.champion
        failed_checks = [check.name for check in gate_report.checks if not check.passed]
        if not gate_report.passed:
            why = "rejected by " + ", ".join(failed_checks or ["(no checks)"])
            timeline.add("gate", False, secs, why)
            report.outcome, report.reason = "rejected", why
            return report
        timeline.add("gate", True, secs, f"{len(gate_report.checks)} checks passed")

        version, err, secs = timeline.timed("register", steps.register, gate_report)
        if err:
            fail("register", err, secs)
            return report
        report.version = version
        timeline.add("register", True, secs, f"version {version}")
        push("champion", steps.set_champion, report.previous)

        image, err, secs = timeline.timed("package", steps.package, version)
        if err:
            fail("package", err, secs)
            return report
        timeline.add("package", True, secs, str(image))
        push("image", steps.remove_image, version)

        if report.previous is None:
            push("service", steps.undeploy)
        else:
            push("service", steps.deploy, report.previous)
        url, err, secs = timeline.timed("deploy", steps.deploy, version)
        if err:
            fail("deploy", err, secs)
            return report
        timeline.add("deploy", True, secs, str(url))

        result, err, secs = timeline.timed("load", steps.load, url)
        if err:
            fail("load", err, secs)
            return report
        timeline.add("load", True, secs, f"{result.ok}/{result.sent} answered")

        verdict, err, secs = timeline.timed("monitor", steps.monitor, url, result)
        if err:
            fail("monitor", err, secs)
            return report
        timeline.add("monitor", bool(verdict.healthy), secs, verdict.reason)
        if verdict.healthy:
            undos.pop_all()
            report.outcome, report.reason = "promoted", ""
            return report
        report.outcome, report.reason = "rolled_back", verdict.reason
        roll_back()
        if undo_errors:
            report.outcome = "failed"
            report.reason = f"{verdict.reason}; rollback incomplete: " + "; ".join(undo_errors)
        return report
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None


_NEWLINES = re.compile(r"\r\n|\r|\n")


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    flat = lambda text: " / ".join(p.strip() for p in _NEWLINES.split(str(text or "")) if p.strip())  # noqa: E731
    out = []
    for s in report.stages:
        out.append("{} [{}] {:.3f}s {}".format(s.name, "ok" if s.ok else "FAILED", s.seconds, flat(s.detail)))
    out.append(f"version={report.version} previous={report.previous} serving={report.serving} "
               f"outcome: {report.outcome} exit={report.exit_code} {flat(report.reason)}".rstrip())
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError("requests: an int >= 1")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)) or not (0 < value < math.inf):
            raise ValueError(f"{name}: a positive finite number")
    t0 = clock()
    answered = 0
    sent = 0
    for i in range(requests):
        offset = i / rps
        if offset >= deadline_s:
            break
        wait = t0 + offset - clock()
        if wait > 0:
            sleep(wait)
        if clock() - t0 >= deadline_s:
            break
        sent += 1
        answered += probe() is not None
    return LoadResult(sent=sent, ok=answered, failed=sent - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    if sent <= 0:
        return Verdict(False, "availability: no request sent, no evidence")
    signals = [("availability", ok / sent, lambda v: v >= min_availability, f">= {min_availability}")]
    if p95_ms is not None:
        signals.append(("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"))
    if error_ratio is not None:
        signals.append(("5xx", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}"))
    bad = [f"{name} {value!r} (wanted {want})" for name, value, fine, want in signals if not fine(value)]
    good = [f"{name} {value!r}" for name, value, fine, want in signals if fine(value)]
    return Verdict(not bad, "; ".join(bad) if bad else "healthy: " + ", ".join(good))


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


REQUEST_TIMEOUT = (2.0, 4.0)


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus.
    Images are tagged `<image_repo>:v<version>` and serve MODEL_VERSION `v<version>`. Every `docker`
    and `docker-compose` command goes through `runner(argv, env=..., timeout=...)`; every wait reads
    `clock` and pauses with `sleep` (the tests pass fakes of all three)."""

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        import requests

        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.http = requests
        self.load_window: tuple[float, float] | None = None

    def _base(self) -> str:
        return "http://127.0.0.1:%d" % self.args.model_port

    def _tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def train(self) -> str:
        import earlier_days
        from mlflow.models.signature import infer_signature

        mlflow = self._mlflow()
        X_train, _X_test, y_train, _y_test = earlier_days.make_data()
        fitted = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        experiment = mlflow.get_experiment_by_name(self.args.model_name)
        experiment_id = experiment.experiment_id if experiment else mlflow.create_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment_id) as active:
            mlflow.log_param("candidate", self.args.candidate)
            mlflow.sklearn.log_model(fitted, name="model",
                                     signature=infer_signature(X_train.astype(float), fitted.predict_proba(X_train)))
            run_id = active.info.run_id
        logged = mlflow.last_logged_model()
        return logged.model_uri if logged is not None else f"runs:/{run_id}/model"

    def gate(self, candidate: str):
        import earlier_days

        data = earlier_days.make_data()
        return earlier_days.gate.run_gate(
            tracking_uri=self.args.tracking_uri, model_name=self.args.model_name, candidate_uri=candidate,
            X=data[1], y=data[3], slice_by="segment", metric="roc_auc", margin=self.args.margin,
            slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        mlflow = self._mlflow()
        client = mlflow.tracking.MlflowClient()
        if version is None:
            try:
                client.delete_registered_model_alias(self.args.model_name, "champion")
            except mlflow.exceptions.MlflowException:
                pass
            return
        client.set_registered_model_alias(self.args.model_name, "champion", version)

    def package(self, version: str) -> str:
        import os
        import shutil
        import tempfile

        import skops.io

        model = self._mlflow().sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        folder = tempfile.mkdtemp(prefix="package-")
        try:
            os.chmod(folder, 0o755)
            skops.io.dump(model, os.path.join(folder, "model.skops"))
            os.chmod(os.path.join(folder, "model.skops"), 0o644)
            dockerfile = "\n".join([
                "FROM " + self.args.server_image,
                "COPY model.skops /srv/model/model.skops",
                'ENV MODEL_PATH="/srv/model/model.skops"',
                'ENV MODEL_VERSION="v%s"' % version,
                ""])
            with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as handle:
                handle.write(dockerfile)
            command = ["docker", "build", "-t", self._tag(version)]
            command += ["--label=" + label for label in self.args.label]
            self.runner(command + [folder], env=dict(os.environ), timeout=900)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self._tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self._tag(version)], env=None, timeout=60)

    def _compose(self, args: list[str], image: str | None = None) -> None:
        import os

        env = dict(os.environ, MODEL_PORT=str(self.args.model_port))
        if image:
            env["MODEL_IMAGE"] = image
        self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project] + args,
                    env=env, timeout=180)

    def _get(self, path: str):
        return self.http.get(self._base() + path, timeout=REQUEST_TIMEOUT)

    def deploy(self, version: str) -> str:
        self._compose(["up", "--detach", "--no-deps", SERVICE], image=self._tag(version))
        give_up = self.clock() + self.args.wait_seconds
        last = "nothing yet"
        while self.clock() < give_up:
            try:
                health = self._get("/health")
                seen = health.json().get("model_version") if health.status_code == 200 else None
                if seen == "v%s" % version:
                    ready = self._get("/ready")
                    if ready.status_code == 200:
                        return self._base()
                    last = f"/ready answered {ready.status_code}"
                else:
                    last = f"/health reports {seen!r}"
            except (self.http.RequestException, ValueError) as exc:
                last = str(exc)
            self.sleep(0.5)
        raise TimeoutError(f"v{version} not ready after {self.args.wait_seconds} s: {last}")

    def undeploy(self) -> None:
        self._compose(["rm", "-s", "-f", SERVICE])

    def load(self, url: str) -> LoadResult:
        import earlier_days

        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        counter = {"n": 0}

        def probe():
            row = rows[counter["n"] % len(rows)]
            counter["n"] += 1
            return store.check_model_latency(url, {"features": [row]})

        began = time.time()
        result = put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                          clock=self.clock, sleep=self.sleep)
        self.load_window = (began, time.time())
        return result

    def _p95(self) -> float | None:
        import earlier_days
        import numpy as np

        if self.load_window is None:
            return None
        began, ended = self.load_window
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        samples = [row["value"] for row in store.get_recent_metrics("latency_ms", hours=24 * 365)
                   if began <= row["timestamp"] <= ended]
        return float(np.percentile(samples, 95)) if samples else None

    def _predict_counts(self) -> tuple[float, float]:
        """(all /predict answers, 5xx ones) as Prometheus has them now."""
        answer = self.http.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                               params={"query": 'model_requests_total{endpoint="/predict"}'}, timeout=REQUEST_TIMEOUT)
        answer.raise_for_status()
        total = errors = 0.0
        for series in answer.json()["data"]["result"]:
            value = float(series["value"][1])
            total += value
            status = series["metric"].get("status", "")
            if status.isdigit() and 500 <= int(status) <= 599:
                errors += value
        return total, errors

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        ratio = None
        if self.args.prometheus_url:
            stop = self.clock() + self.args.wait_seconds
            while True:
                try:
                    total, errors = self._predict_counts()
                except (self.http.RequestException, ValueError, KeyError):
                    total, errors = -1.0, 0.0
                if total >= load.sent and total > 0:
                    ratio = errors / total
                    break
                if self.clock() >= stop:
                    return Verdict(False, f"5xx unknown: Prometheus had not counted the {load.sent} requests")
                self.sleep(0.5)
        return judge(sent=load.sent, ok=load.ok, p95_ms=self._p95(), error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            answer = self._get("/health")
            return answer.json().get("model_version") if answer.ok else None
        except (self.http.RequestException, ValueError):
            return None


# --- task 3: the command line -------------------------------------------------------------

_CHECKS = {
    # dest: (kind, check, words)
    "model_port": (int, lambda v: 1 <= v <= 65535, "an int 1-65535"),
    "requests": (int, lambda v: v >= 1, "an int >= 1"),
    "margin": (float, lambda v: math.isfinite(v) and v >= 0, "finite and >= 0"),
    "slice_tolerance": (float, lambda v: math.isfinite(v) and v >= 0, "finite and >= 0"),
    "rps": (float, lambda v: math.isfinite(v) and v > 0, "positive and finite"),
    "load_seconds": (float, lambda v: math.isfinite(v) and v > 0, "positive and finite"),
    "max_p95_ms": (float, lambda v: math.isfinite(v) and v > 0, "positive and finite"),
    "wait_seconds": (float, lambda v: math.isfinite(v) and v > 0, "positive and finite"),
    "min_availability": (float, lambda v: 0 <= v <= 1, "between 0 and 1"),
    "max_error_ratio": (float, lambda v: 0 <= v <= 1, "between 0 and 1"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os

    import earlier_days

    parser = argparse.ArgumentParser(prog="capstone.py", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--tracking-uri", required=True)
    add("--server-image", required=True)
    add("--model-name", default="capstone")
    add("--candidate", default="interactions")
    add("--image-repo", default="katas/capstone-model")
    add("--compose-file", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml"))
    add("--project", default="capstone")
    add("--prometheus-url", default="")
    defaults = {"model_port": "8000", "margin": "0.01", "slice_tolerance": "0.05", "requests": "100", "rps": "20",
                "load_seconds": "30", "min_availability": "0.99", "max_error_ratio": "0.01", "max_p95_ms": "500",
                "wait_seconds": "60"}
    for dest, text in defaults.items():
        add("--" + dest.replace("_", "-"), dest=dest, default=text)
    add("--store", default="capstone-metrics.db")
    add("--label", action="append", default=[])
    add("--report-json", default=None)
    args = parser.parse_args(argv)
    for dest, (kind, ok, words) in _CHECKS.items():
        flag = "--" + dest.replace("_", "-")
        text = getattr(args, dest)
        try:
            value = kind(text)
        except ValueError:
            parser.error(f"argument {flag}: {text!r} is not {words}")
        if not ok(value):
            parser.error(f"argument {flag}: {text!r} is not {words}")
        setattr(args, dest, value)
    if args.candidate not in earlier_days.CANDIDATES:
        parser.error(f"argument --candidate: {args.candidate!r} is not one of {', '.join(earlier_days.CANDIDATES)}")
    for label in args.label:
        if "=" not in label or label.startswith("="):
            parser.error(f"argument --label: {label!r} is not KEY=VALUE")
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report) + "\n")
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report.to_dict(), handle)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
