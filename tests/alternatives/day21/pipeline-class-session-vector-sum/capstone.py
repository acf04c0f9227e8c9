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


class StageError(Exception):
    """Raised inside the pipeline when a step failed; carries the stage's name."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.stage = stage
        self.cause = cause


class Pipeline:
    """One run of the capstone: a journal of undo actions kept like a transaction's log."""

    def __init__(self, steps, clock: Callable[[], float]) -> None:
        self.steps = steps
        self.clock = clock
        self.stages: list[Stage] = []
        self.journal: list[tuple[str, Callable[[], object]]] = []

    def timed(self, name: str, action: Callable[[], object]) -> tuple[object, float]:
        t0 = self.clock()
        try:
            value = action()
        except Exception as exc:  # noqa: BLE001
            self.stages.append(Stage(name, False, self.clock() - t0, f"{type(exc).__name__}: {exc}"))
            raise StageError(name, exc) from exc
        return value, self.clock() - t0

    def step(self, name: str, action: Callable[[], object]) -> object:
        value, took = self.timed(name, action)
        self.stages.append(Stage(name, True, took, repr(value)))
        return value

    def remember(self, what: str, undo: Callable[[], object]) -> None:
        self.journal.append((what, undo))

    def roll_back(self) -> list[str]:
        """Every undo, newest first; the errors of those that failed."""
        if not self.journal:
            return []
        t0 = self.clock()
        errors: list[str] = []
        done: list[str] = []
        while self.journal:
            what, undo = self.journal.pop()
            try:
                undo()
                done.append(what)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{what} raised {type(exc).__name__}: {exc}")
        text = "; ".join(done + errors)
        self.stages.append(Stage("rollback", not errors, self.clock() - t0, text))
        return errors


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    p = Pipeline(steps, clock)
    outcome, reason, version, previous = "failed", "", None, None
    try:
        candidate = p.step("train", steps.train)
        gate, took = p.timed("gate", lambda: steps.gate(candidate))
        previous = gate.champion
        if not gate.passed:
            names = ", ".join(c.name for c in gate.checks if not c.passed)
            p.stages.append(Stage("gate", False, took, f"rejected by: {names}"))
            outcome, reason = "rejected", f"rejected by the gate: {names}"
        else:
            p.stages.append(Stage("gate", True, took, "passed"))
            version = p.step("register", lambda: steps.register(gate))
            p.remember("set_champion", lambda: steps.set_champion(previous))
            p.step("package", lambda: steps.package(version))
            p.remember("remove_image", lambda: steps.remove_image(version))
            p.remember("redeploy", (lambda: steps.deploy(previous)) if previous is not None else steps.undeploy)
            url = p.step("deploy", lambda: steps.deploy(version))
            result = p.step("load", lambda: steps.load(url))
            verdict, took = p.timed("monitor", lambda: steps.monitor(url, result))
            p.stages.append(Stage("monitor", bool(verdict.healthy), took, verdict.reason or "healthy"))
            if verdict.healthy:
                outcome, reason = "promoted", ""
                p.journal.clear()
            else:
                outcome, reason = "rolled_back", verdict.reason
                errors = p.roll_back()
                if errors:
                    outcome, reason = "failed", f"{verdict.reason}; the rollback failed: {'; '.join(errors)}"
    except StageError as exc:
        outcome, reason = "failed", f"{exc.stage} failed: {exc.cause}"
        errors = p.roll_back()
        if errors:
            reason += f"; the rollback failed: {'; '.join(errors)}"
    try:
        serving = steps.serving()
    except Exception:  # noqa: BLE001
        serving = None
    return Report(outcome, version, previous, serving, reason, p.stages)


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    flat = lambda text: " ".join(str(text).split())  # noqa: E731
    out = []
    for s in report.stages:
        out.append("%s %s %.2fs %s" % (s.name, "ok" if s.ok else "FAILED", s.seconds, flat(s.detail)))
    out.append("outcome: %s, version %s (previous %s), serving %s%s" % (
        report.outcome, report.version, report.previous, report.serving,
        ", reason: " + flat(report.reason) if report.reason else ""))
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _check_positive(**values) -> None:
    import math

    for name, value in values.items():
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)) and math.isfinite(value) and value > 0
        if not ok:
            raise ValueError(f"{name}={value!r}: a positive finite number is required")


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError(f"requests={requests!r}: an int >= 1 is required")
    _check_positive(rps=rps, deadline_s=deadline_s)
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    start = clock()
    stop = start + deadline_s
    answered = failed = 0
    i = 0
    while i < requests:
        due = start + i / rps
        if due >= stop:
            break
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        if clock() >= stop:
            break
        latency = probe()
        if latency is None:
            failed += 1
        else:
            answered += 1
        i += 1
    return LoadResult(answered + failed, answered, failed)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    within = lambda value, limit: value <= limit  # noqa: E731 - False for NaN
    failures = []
    if sent <= 0:
        failures.append("availability: nothing was sent")
    elif not within(min_availability, ok / sent):
        failures.append(f"availability {ok}/{sent} < {min_availability}")
    if p95_ms is not None and not within(p95_ms, max_p95_ms):
        failures.append(f"p95 {p95_ms} ms > {max_p95_ms} ms")
    if error_ratio is not None and not within(error_ratio, max_error_ratio):
        failures.append(f"5xx share {error_ratio} > {max_error_ratio}")
    return Verdict(not failures, ", ".join(failures))


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

    HTTP_TIMEOUT = 2.5
    PAUSE = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        import requests

        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.http = requests.Session()
        self.load_started_at = None

    def base_url(self) -> str:
        return "http://127.0.0.1:%d" % self.args.model_port

    def tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def environment(self, **extra) -> dict:
        import os

        env = dict(os.environ)
        env.update(extra)
        return env

    def compose(self, *argv, **env):
        cmd = ["docker-compose", "-f", str(self.args.compose_file), "-p", str(self.args.project), *argv]
        return self.runner(cmd, env=self.environment(MODEL_PORT=str(self.args.model_port), **env), timeout=120)

    def wait_until(self, what: str, check: Callable[[], bool]) -> None:
        limit = self.clock() + self.args.wait_seconds
        while not check():
            if self.clock() >= limit:
                raise TimeoutError(f"gave up after {self.args.wait_seconds} s waiting for {what}")
            self.sleep(self.PAUSE)

    def train(self) -> str:
        import mlflow
        from mlflow.models.signature import infer_signature

        from earlier_days import CANDIDATES, make_data

        X_train, _, y_train, _ = make_data()
        estimator = CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.log_param("candidate", self.args.candidate)
            logged = mlflow.sklearn.log_model(estimator, name="model",
                                              signature=infer_signature(X_train, estimator.predict_proba(X_train)))
        return logged.model_uri

    def gate(self, candidate: str):
        import mlflow

        from earlier_days import gate, make_data

        mlflow.set_tracking_uri(self.args.tracking_uri)
        _, X_test, _, y_test = make_data()
        return gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                             slice_by="segment", metric="roc_auc", margin=self.args.margin,
                             slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import mlflow

        from earlier_days import gate

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return str(gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        from earlier_days import gate

        if version is None:
            self.client().delete_registered_model_alias(self.args.model_name, gate.CHAMPION)
        else:
            self.client().set_registered_model_alias(self.args.model_name, gate.CHAMPION, version)

    def package(self, version: str) -> str:
        import json
        import shutil
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        build_dir = Path(tempfile.mkdtemp(prefix="capstone-"))
        try:
            skops.io.dump(model, str(build_dir / "model.skops"))
            lines = ["FROM " + self.args.server_image,
                     "COPY model.skops /srv/model/model.skops",
                     "ENV MODEL_PATH=/srv/model/model.skops",
                     "ENV MODEL_VERSION=v%s" % version]
            (build_dir / "Dockerfile").write_text("\n".join(lines) + "\n")
            label_options = []
            for label in self.args.label:
                label_options += ["--label", label]  # taken as given, no Dockerfile quoting
            self.runner(["docker", "build", "-t", self.tag(version), *label_options, str(build_dir)],
                        env=self.environment(), timeout=1200)
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        return self.tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self.tag(version)], env=self.environment(), timeout=120)

    def _get(self, path: str):
        return self.http.get(self.base_url() + path, timeout=self.HTTP_TIMEOUT)

    def _serves(self, wanted: str) -> bool:
        import requests

        try:
            health = self._get("/health")
            if health.status_code != 200 or health.json().get("model_version") != wanted:
                return False
            return self._get("/ready").status_code == 200
        except (requests.RequestException, ValueError):
            return False

    def deploy(self, version: str) -> str:
        self.compose("up", "--detach", "--no-deps", "model", MODEL_IMAGE=self.tag(version))
        self.wait_until("v%s to serve" % version, lambda: self._serves("v%s" % version))
        return self.base_url()

    def undeploy(self) -> None:
        self.compose("stop", "model")
        self.compose("rm", "-f", "model")

    def serving(self) -> str | None:
        try:
            return self._get("/health").json().get("model_version")
        except Exception:  # noqa: BLE001
            return None

    def load(self, url: str) -> LoadResult:
        from earlier_days import make_data, monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        held_out = make_data()[1].to_numpy(dtype=float).tolist()
        counter = {"i": 0}

        def probe():
            row = held_out[counter["i"] % len(held_out)]
            counter["i"] += 1
            return store.check_model_latency(url, {"features": [row]})

        self.load_started_at = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _predict_counts(self) -> tuple[float, float]:
        """(all /predict answers, 5xx /predict answers) the serving container counted, per Prometheus."""
        reply = self.http.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                              params={"query": 'model_requests_total{endpoint="/predict"}'},
                              timeout=self.HTTP_TIMEOUT)
        reply.raise_for_status()
        total = errors = 0.0
        for series in reply.json()["data"]["result"]:
            value = float(series["value"][1])
            total += value
            if 500 <= int(series["metric"].get("status", "0")) <= 599:
                errors += value
        return total, errors

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        from earlier_days import monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        since = self.load_started_at or time.time()
        samples = [m["value"] for m in store.get_recent_metrics("latency_ms", hours=1.0) if m["timestamp"] >= since]
        p95 = None
        if samples:
            import numpy

            p95 = float(numpy.percentile(samples, 95))
        ratio = None
        if self.args.prometheus_url:
            counts = {}

            def counted() -> bool:
                try:
                    counts["total"], counts["errors"] = self._predict_counts()
                except Exception:  # noqa: BLE001 - Prometheus not answering yet
                    return False
                return counts["total"] >= load.sent

            self.wait_until("Prometheus to count the load", counted)
            ratio = counts["errors"] / counts["total"] if counts["total"] else 0.0
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


class _Checked:
    """An argparse type: convert, then check; the message names the problem."""

    def __init__(self, convert, check, what: str) -> None:
        self.convert, self.check, self.what = convert, check, what
        self.__name__ = what

    def __call__(self, text: str):
        try:
            value = self.convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.what}") from None
        if not self.check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.what}")
        return value


def _finite(v: float) -> bool:
    import math

    return math.isfinite(v)


POSITIVE = _Checked(float, lambda v: _finite(v) and v > 0, "a positive finite number")
NON_NEGATIVE = _Checked(float, lambda v: _finite(v) and v >= 0, "a finite number >= 0")
RATIO = _Checked(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1")
PORT = _Checked(int, lambda v: 1 <= v <= 65535, "a port (1-65535)")
COUNT = _Checked(int, lambda v: v >= 1, "an int >= 1")
LABEL = _Checked(str, lambda v: "=" in v and not v.startswith("="), "KEY=VALUE with a non-empty key")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os

    import earlier_days

    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    table = [
        ("--tracking-uri", dict(required=True)),
        ("--server-image", dict(required=True)),
        ("--model-name", dict(default="capstone")),
        ("--candidate", dict(default="interactions", choices=sorted(earlier_days.CANDIDATES))),
        ("--image-repo", dict(default="katas/capstone-model")),
        ("--compose-file", dict(default=beside)),
        ("--project", dict(default="capstone")),
        ("--model-port", dict(type=PORT, default=8000)),
        ("--prometheus-url", dict(default="")),
        ("--margin", dict(type=NON_NEGATIVE, default=0.01)),
        ("--slice-tolerance", dict(type=NON_NEGATIVE, default=0.05)),
        ("--requests", dict(type=COUNT, default=100)),
        ("--rps", dict(type=POSITIVE, default=20.0)),
        ("--load-seconds", dict(type=POSITIVE, default=30.0)),
        ("--min-availability", dict(type=RATIO, default=0.99)),
        ("--max-error-ratio", dict(type=RATIO, default=0.01)),
        ("--max-p95-ms", dict(type=POSITIVE, default=500.0)),
        ("--wait-seconds", dict(type=POSITIVE, default=60.0)),
        ("--store", dict(default="capstone-metrics.db")),
        ("--label", dict(type=LABEL, action="append", default=[])),
        ("--report-json", dict(default=None)),
    ]
    for flag, options in table:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report))
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
