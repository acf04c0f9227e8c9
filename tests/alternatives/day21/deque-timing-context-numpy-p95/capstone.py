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
import collections
import contextlib
import io
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


class _Abort(Exception):
    """A stage raised; its Stage is recorded already."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


class _Run:
    """One run's state: the report being written and the world's changes to take back."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="promoted")
        self.changes = collections.deque()  # newest on the left

    @contextlib.contextmanager
    def timing(self, name: str):
        box = {"ok": True, "detail": ""}
        t0 = self.clock()
        try:
            yield box
        except Exception as exc:  # noqa: BLE001 - every error of a step is a failed stage
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            raise _Abort(name, exc) from exc
        self.report.stages.append(Stage(name, box["ok"], self.clock() - t0, box["detail"]))

    def call(self, name: str, fn, *args):
        with self.timing(name) as box:
            value = fn(*args)
            box["detail"] = f"-> {value!r}"
        return value

    def changed(self, what: str, fn, *args) -> None:
        self.changes.appendleft((what, fn, args))

    def take_back(self) -> str | None:
        """Undo every change, newest first; None when all went well, else what failed."""
        if not self.changes:
            return None
        failures = []
        t0 = self.clock()
        for what, fn, args in self.changes:
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{what} raised {exc!r}")
        self.changes.clear()
        detail = " | ".join(failures) or "all changes taken back"
        self.report.stages.append(Stage("rollback", not failures, self.clock() - t0, detail))
        return detail if failures else None


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    r = _Run(steps, clock)
    report = r.report
    try:
        candidate = r.call("train", steps.train)
        with r.timing("gate") as box:
            gated = steps.gate(candidate)
            report.previous = gated.champion
            bad = [check.name for check in gated.checks if not check.passed]
            box["ok"] = bool(gated.passed)
            box["detail"] = "checks failed: " + " ".join(bad) if not gated.passed else "all checks passed"
        if not gated.passed:
            report.outcome = "rejected"
            report.reason = "the gate refused the candidate; checks failed: " + " ".join(bad)
            return report
        previous = report.previous
        report.version = r.call("register", steps.register, gated)
        version = report.version
        r.changed("set_champion", steps.set_champion, previous)
        r.call("package", steps.package, version)
        r.changed("remove_image", steps.remove_image, version)
        if previous is None:
            r.changed("undeploy", steps.undeploy)
        else:
            r.changed("deploy previous", steps.deploy, previous)
        url = r.call("deploy", steps.deploy, version)
        result = r.call("load", steps.load, url)
        with r.timing("monitor") as box:
            verdict = steps.monitor(url, result)
            box["ok"], box["detail"] = bool(verdict.healthy), verdict.reason
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
        else:
            trouble = r.take_back()
            report.outcome = "rolled_back" if trouble is None else "failed"
            report.reason = verdict.reason if trouble is None else f"{verdict.reason}; rollback: {trouble}"
    except _Abort as abort:
        report.outcome = "failed"
        report.reason = f"{abort.stage} failed: {abort.error}"
        trouble = r.take_back()
        if trouble is not None:
            report.reason += f"; rollback: {trouble}"
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
    out = io.StringIO()
    for s in report.stages:
        out.write("%s %s %.2fs %s\n" % (s.name, "ok" if s.ok else "FAILED", s.seconds, _one_line(s.detail)))
    out.write("== outcome: %s, exit %d, v%s over %s, serving %s%s" % (
        report.outcome, report.exit_code, report.version, report.previous, report.serving,
        f" ({_one_line(report.reason)})" if report.reason else ""))
    return out.getvalue()


# --- task 2: the load and the decision ---------------------------------------------------


def _finite_positive(x) -> bool:
    return (isinstance(x, numbers.Real) and not isinstance(x, bool)) and math.isfinite(x) and x > 0


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError("requests: an int of at least 1")
    if not _finite_positive(rps) or not _finite_positive(deadline_s):
        raise ValueError("rps and deadline_s: positive finite numbers")
    t0 = clock()
    answered = []
    while len(answered) < requests:
        offset = len(answered) / rps
        if offset >= deadline_s:
            break
        wait = offset - (clock() - t0)
        if wait > 0:
            sleep(wait)
        if clock() - t0 >= deadline_s:
            break
        answered.append(probe() is not None)
    return LoadResult(len(answered), sum(answered), answered.count(False))


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    availability = ok / sent if sent > 0 else float("nan")
    table = [("availability", availability, availability >= min_availability, f">= {min_availability}")]
    if p95_ms is not None:
        table.append(("p95 ms", p95_ms, p95_ms <= max_p95_ms, f"<= {max_p95_ms}"))
    if error_ratio is not None:
        table.append(("5xx share", error_ratio, error_ratio <= max_error_ratio, f"<= {max_error_ratio}"))
    bad = [f"{name} {value:.4g} (wanted {limit})" for name, value, fine, limit in table if not fine]
    if bad:
        return Verdict(False, "regression: " + ", ".join(bad))
    return Verdict(True, "within limits: " + ", ".join(f"{name} {value:.4g}" for name, value, _, _ in table))


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

    TIMEOUTS = {"build": 900.0, "compose": 240.0, "docker": 120.0}

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.since = None   # wall-clock start of the last load
        self.before = {}    # Prometheus' /predict counts by status when the last load began

    # small pieces
    def _base(self) -> str:
        return "http://127.0.0.1:%d" % self.args.model_port

    def _tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _compose(self, argv, **variables):
        env = dict(os.environ, MODEL_PORT=str(self.args.model_port), **variables)
        return self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project, *argv],
                           env=env, timeout=self.TIMEOUTS["compose"])

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _until(self, check, what: str):
        stop_at = self.clock() + self.args.wait_seconds
        while not check():
            remaining = stop_at - self.clock()
            if remaining <= 0:
                raise TimeoutError(f"gave up after {self.args.wait_seconds:g} s: {what}")
            self.sleep(min(0.25, remaining))

    def train(self) -> str:
        import earlier_days
        import mlflow
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = earlier_days.make_data()
        fitted = earlier_days.CANDIDATES[self.args.candidate]()
        fitted.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            logged = mlflow.sklearn.log_model(fitted, name="candidate",
                                              signature=infer_signature(X_train, fitted.predict_proba(X_train)[:, 1]))
        return logged.model_uri

    def gate(self, candidate: str):
        import earlier_days

        data = earlier_days.make_data()
        return earlier_days.gate.run_gate(
            self.args.tracking_uri, self.args.model_name, candidate, data[1], data[3], slice_by="segment",
            metric="roc_auc", margin=self.args.margin, slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, "champion", version)
        else:
            client.delete_registered_model_alias(self.args.model_name, "champion")

    def package(self, version: str) -> str:
        import shutil
        import tempfile

        import mlflow
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        fitted = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        folder = tempfile.mkdtemp(prefix="capstone-build-")
        try:
            with open(os.path.join(folder, "model.skops"), "wb") as handle:
                handle.write(skops.io.dumps(fitted))
            with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as handle:
                handle.write(f"FROM {self.args.server_image}\n"
                             f"COPY model.skops /srv/model/model.skops\n"
                             f"ENV MODEL_PATH=/srv/model/model.skops\n"
                             f"ENV MODEL_VERSION=v{version}\n")
            argv = ["docker", "build", "-t", self._tag(version)]
            for label in self.args.label:
                argv += ["--label", label]
            self.runner(argv + [folder], env=dict(os.environ), timeout=self.TIMEOUTS["build"])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self._tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self._tag(version)], env=dict(os.environ), timeout=self.TIMEOUTS["docker"])

    def _health(self):
        import requests

        try:
            answer = requests.get(self._base() + "/health", timeout=2)
            return answer.json().get("model_version") if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return None

    def _ready(self) -> bool:
        import requests

        try:
            return requests.get(self._base() + "/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def deploy(self, version: str) -> str:
        self._compose(["up", "--detach", "--no-deps", "model"], MODEL_IMAGE=self._tag(version))
        want = "v%s" % version
        self._until(lambda: self._health() == want and self._ready(), f"{want} serving and ready on {self._base()}")
        return self._base()

    def undeploy(self) -> None:
        self._compose(["stop", "model"])
        self._compose(["rm", "-f", "model"])

    def serving(self) -> str | None:
        return self._health()

    def _monitor_store(self):
        import earlier_days

        return earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))

    def _counts(self) -> dict:
        import requests

        query = 'sum by (status) (model_requests_total{endpoint="/predict"})'
        answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": query},
                              timeout=5)
        answer.raise_for_status()
        return {item["metric"].get("status", ""): float(item["value"][1]) for item in answer.json()["data"]["result"]}

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        held_out = itertools.cycle(earlier_days.make_data()[1].astype(float).values.tolist())
        store = self._monitor_store()
        self.before = {}
        if self.args.prometheus_url:
            with contextlib.suppress(Exception):
                self.before = self._counts()
        self.since = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(held_out)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        since = self.since if self.since is not None else time.time()
        samples = [m["value"] for m in self._monitor_store().get_recent_metrics("latency_ms", 24)
                   if m["timestamp"] >= since]
        p95 = float(np.percentile(samples, 95)) if samples else None
        ratio = None
        if self.args.prometheus_url:
            seen = {}

            def counted() -> bool:
                try:
                    now = self._counts()
                except Exception:  # noqa: BLE001 - not answering yet is not counted yet
                    return False
                base = self.before if sum(now.values()) >= sum(self.before.values()) else {}
                seen["delta"] = {k: v - base.get(k, 0.0) for k, v in now.items()}
                return sum(seen["delta"].values()) >= load.sent

            self._until(counted, f"Prometheus counting the {load.sent} requests of the load")
            delta = seen["delta"]
            total = sum(delta.values())
            ratio = sum(v for k, v in delta.items() if k.startswith("5")) / total if total else float("nan")
        a = self.args
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio, min_availability=a.min_availability,
                     max_p95_ms=a.max_p95_ms, max_error_ratio=a.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind, test, words):
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not finite")
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r}: {words}")
        return value
    return convert


POSITIVE = _checked(float, lambda v: v > 0, "must be > 0")
AT_LEAST_ZERO = _checked(float, lambda v: v >= 0, "must be >= 0")
SHARE = _checked(float, lambda v: 0 <= v <= 1, "must be between 0 and 1")
COUNT = _checked(int, lambda v: v >= 1, "must be at least 1")
PORT = _checked(int, lambda v: 1 <= v <= 65535, "must be 1-65535")


def _label_arg(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import earlier_days

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--tracking-uri", required=True)
    add("--server-image", required=True)
    add("--model-name", default="capstone")
    add("--candidate", choices=sorted(earlier_days.CANDIDATES), default="interactions")
    add("--image-repo", default="katas/capstone-model")
    add("--compose-file", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml"))
    add("--project", default="capstone")
    add("--model-port", type=PORT, default=8000)
    add("--prometheus-url", default="")
    add("--margin", type=AT_LEAST_ZERO, default=0.01)
    add("--slice-tolerance", type=AT_LEAST_ZERO, default=0.05)
    add("--requests", type=COUNT, default=100)
    add("--rps", type=POSITIVE, default=20.0)
    add("--load-seconds", type=POSITIVE, default=30.0)
    add("--min-availability", type=SHARE, default=0.99)
    add("--max-error-ratio", type=SHARE, default=0.01)
    add("--max-p95-ms", type=POSITIVE, default=500.0)
    add("--wait-seconds", type=POSITIVE, default=60.0)
    add("--store", default="capstone-metrics.db")
    add("--label", type=_label_arg, action="append", default=[])
    add("--report-json", default=None)
    return parser.parse_args(argv)


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
