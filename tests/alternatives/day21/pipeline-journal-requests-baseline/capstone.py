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


class _Pipeline:
    """One run: records stages, keeps the undo journal, decides the outcome."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="promoted")
        self.journal: list[tuple[str, Callable, tuple]] = []

    def attempt(self, name: str, fn: Callable, *args):
        """(True, value, seconds) or (False, error, seconds): never raises."""
        t0 = self.clock()
        try:
            value = fn(*args)
        except Exception as error:  # noqa: BLE001 - any step error is a failed stage
            return False, error, self.clock() - t0
        return True, value, self.clock() - t0

    def record(self, name: str, ok: bool, seconds: float, detail: str) -> None:
        self.report.stages.append(Stage(name, ok, seconds, detail))

    def fail(self, name: str, error: BaseException, seconds: float) -> None:
        message = f"{type(error).__name__}: {error}"
        self.record(name, False, seconds, message)
        self.report.outcome = "failed"
        self.report.reason = f"{name} failed: {message}"

    def remember(self, what: str, fn: Callable, *args) -> None:
        self.journal.append((what, fn, args))

    def rollback(self) -> None:
        if not self.journal:
            return
        t0 = self.clock()
        lines, errors = [], []
        for what, fn, args in reversed(self.journal):
            try:
                fn(*args)
                lines.append(f"{what}: done")
            except Exception as error:  # noqa: BLE001
                errors.append(f"{what}: {type(error).__name__}: {error}")
        self.journal = []
        self.record("rollback", not errors, self.clock() - t0, "; ".join(lines + errors))
        if errors:
            self.report.outcome = "failed"
            self.report.reason += " | rollback incomplete: " + "; ".join(errors)

    def go(self) -> Report:
        steps, rep = self.steps, self.report
        ok, candidate, s = self.attempt("train", steps.train)
        if not ok:
            return self.fail("train", candidate, s)
        self.record("train", True, s, str(candidate))
        ok, gate, s = self.attempt("gate", steps.gate, candidate)
        if not ok:
            return self.fail("gate", gate, s)
        rep.previous = gate.champion
        if not gate.passed:
            bad = "; ".join(f"{c.name} ({c.message})" for c in gate.checks if not c.passed)
            self.record("gate", False, s, bad)
            rep.outcome, rep.reason = "rejected", f"the gate refused the candidate: {bad}"
            return
        self.record("gate", True, s, "every check passed")
        ok, version, s = self.attempt("register", steps.register, gate)
        if not ok:
            return self.fail("register", version, s)
        rep.version = version
        self.record("register", True, s, f"version {version}")
        self.remember("champion alias", steps.set_champion, rep.previous)
        ok, image, s = self.attempt("package", steps.package, version)
        if not ok:
            return self.fail("package", image, s)
        self.record("package", True, s, str(image))
        self.remember("image", steps.remove_image, version)
        if rep.previous is None:
            self.remember("model service", steps.undeploy)
        else:
            self.remember("model service", steps.deploy, rep.previous)
        ok, url, s = self.attempt("deploy", steps.deploy, version)
        if not ok:
            return self.fail("deploy", url, s)
        self.record("deploy", True, s, str(url))
        ok, load, s = self.attempt("load", steps.load, url)
        if not ok:
            return self.fail("load", load, s)
        self.record("load", True, s, f"{load.sent} sent, {load.ok} ok, {load.failed} failed")
        ok, verdict, s = self.attempt("monitor", steps.monitor, url, load)
        if not ok:
            return self.fail("monitor", verdict, s)
        self.record("monitor", verdict.healthy, s, verdict.reason)
        if verdict.healthy:
            self.journal = []
            rep.outcome, rep.reason = "promoted", ""
        else:
            rep.outcome, rep.reason = "rolled_back", verdict.reason


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    pipeline = _Pipeline(steps, clock)
    pipeline.go()
    pipeline.rollback()
    try:
        pipeline.report.serving = steps.serving()
    except Exception:  # noqa: BLE001
        pipeline.report.serving = None
    return pipeline.report


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    def flat(text: str) -> str:
        return str(text).replace("\r", "").replace("\n", "\\n")

    out = []
    for stage in report.stages:
        out.append("%s: %s in %.3fs %s" % (stage.name, "ok" if stage.ok else "FAILED", stage.seconds,
                                           flat(stage.detail)))
    out.append("outcome: %s, exit %d%s" % (report.outcome, report.exit_code,
                                           f" ({flat(report.reason)})" if report.reason else ""))
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _is_number(value) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import math

    if type(requests) is not int or requests < 1:
        raise ValueError(f"requests must be an int of at least 1, got {requests!r}")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not _is_number(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    t0 = clock()
    answered = started = 0
    while started < requests:
        offset = started / rps
        if offset >= deadline_s:
            break
        wait = offset - (clock() - t0)
        if wait > 0:
            sleep(wait)
        if clock() - t0 >= deadline_s:
            break
        latency = probe()
        started += 1
        answered += latency is not None
    return LoadResult(sent=started, ok=answered, failed=started - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    if sent <= 0:
        return Verdict(False, "availability: no request was sent, nothing to judge")
    signals = [("availability", ok / sent, lambda v: v >= min_availability, f">= {min_availability}")]
    if p95_ms is not None:
        signals.append(("p95 latency (ms)", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms}"))
    if error_ratio is not None:
        signals.append(("5xx ratio", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}"))
    failing = [f"{name} {value:g} is not {limit}" for name, value, within, limit in signals if not within(value)]
    if failing:
        return Verdict(False, "; ".join(failing))
    return Verdict(True, "; ".join(f"{name} {value:g} ok" for name, value, _, _ in signals))


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


PROBE_TIMEOUT = (2.0, 4.0)  # connect, read: no HTTP call may hang the run


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus.
    Images are tagged `<image_repo>:v<version>` and serve MODEL_VERSION `v<version>`. Every `docker`
    and `docker-compose` command goes through `runner(argv, env=..., timeout=...)`; every wait reads
    `clock` and pauses with `sleep` (the tests pass fakes of all three)."""

    COMPOSE_TIMEOUT = 240.0
    BUILD_TIMEOUT = 900.0

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.baseline = (0.0, 0.0)
        self.load_wall_start = None

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.args.model_port}"

    def tag(self, version) -> str:
        return "{}:v{}".format(self.args.image_repo, version)

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def compose(self, args: list[str], **variables: str):
        import os

        env = dict(os.environ)
        env.update(MODEL_PORT=str(self.args.model_port), **variables)
        return self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project] + args,
                           env=env, timeout=self.COMPOSE_TIMEOUT)

    def train(self) -> str:
        import mlflow
        from earlier_days import CANDIDATES, make_data
        from mlflow.models import infer_signature

        mlflow.set_tracking_uri(self.args.tracking_uri)
        X_train, _, y_train, _ = make_data()
        estimator = CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            logged = mlflow.sklearn.log_model(
                estimator, name="model",
                signature=infer_signature(X_train.astype("float64"), estimator.predict(X_train)))
        return logged.model_uri

    def gate(self, candidate: str):
        from earlier_days import gate, make_data

        data = make_data()
        return gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, data[1], data[3],
                             slice_by="segment", metric="roc_auc", margin=self.args.margin,
                             slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import mlflow
        from earlier_days import gate

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        return str(gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        from earlier_days import gate

        if version is not None:
            self.client().set_registered_model_alias(self.args.model_name, gate.CHAMPION, version)
        else:
            self.client().delete_registered_model_alias(self.args.model_name, gate.CHAMPION)

    def package(self, version: str) -> str:
        import json
        import shutil
        import tempfile
        from pathlib import Path

        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        fitted = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        workdir = Path(tempfile.mkdtemp(prefix="capstone-package-"))
        try:
            skops.io.dump(fitted, str(workdir / "model.skops"))
            lines = [f"FROM {self.args.server_image}",
                     "COPY model.skops /srv/model/model.skops",
                     "ENV MODEL_PATH=/srv/model/model.skops",
                     f"ENV MODEL_VERSION=v{version}"]
            (workdir / "Containerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.runner(["docker", "build", "-f", str(workdir / "Containerfile"), "-t", self.tag(version),
                         *(f"--label={label}" for label in self.args.label), str(workdir)],
                        env=None, timeout=self.BUILD_TIMEOUT)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return self.tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self.tag(version)], env=None, timeout=120)

    def _health(self) -> tuple[str | None, bool]:
        import requests

        try:
            health = requests.get(self.base_url + "/health", timeout=PROBE_TIMEOUT)
            version = health.json().get("model_version") if health.status_code == 200 else None
            if version is None:
                return None, False
            ready = requests.get(self.base_url + "/ready", timeout=PROBE_TIMEOUT).status_code == 200
            return version, ready
        except (requests.RequestException, ValueError, AttributeError):
            return None, False

    def deploy(self, version: str) -> str:
        self.compose(["up", "--detach", "--no-deps", "model"], MODEL_IMAGE=self.tag(version))
        give_up_at = self.clock() + self.args.wait_seconds
        want = "v" + str(version)
        while True:
            seen, ready = self._health()
            if seen == want and ready:
                return self.base_url
            if self.clock() >= give_up_at:
                raise TimeoutError(f"{want} not serving and ready after {self.args.wait_seconds}s "
                                   f"(last: {seen}, ready={ready})")
            self.sleep(max(0.0, min(0.25, give_up_at - self.clock())))

    def undeploy(self) -> None:
        self.compose(["stop", "model"])
        self.compose(["rm", "-f", "model"])

    def serving(self) -> str | None:
        import requests

        try:
            answer = requests.get(self.base_url + "/health", timeout=PROBE_TIMEOUT)
            return answer.json().get("model_version") if answer.ok else None
        except (requests.RequestException, ValueError, AttributeError):
            return None

    def _prom(self) -> tuple[float, float] | None:
        """(all /predict answers, 5xx ones) as Prometheus shows them now; None when it does not answer."""
        import requests

        values = []
        for query in ('sum(model_requests_total{endpoint="/predict"})',
                      'sum(model_requests_total{endpoint="/predict",status=~"5.."}) or vector(0)'):
            try:
                answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                                      params={"query": query}, timeout=PROBE_TIMEOUT)
                answer.raise_for_status()
                result = answer.json()["data"]["result"]
            except (requests.RequestException, ValueError, KeyError):
                return None
            values.append(float(result[0]["value"][1]) if result else 0.0)
        return values[0], values[1]

    def load(self, url: str) -> LoadResult:
        import time as wall

        from earlier_days import make_data, monitoring

        if self.args.prometheus_url:
            self.baseline = self._prom() or (0.0, 0.0)
        rows = make_data()[1].to_numpy(dtype=float).tolist()
        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        position = [0]

        def probe():
            row = rows[position[0] % len(rows)]
            position[0] += 1
            return store.check_model_latency(url, {"features": [row]})

        self.load_wall_start = wall.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import time as wall

        from earlier_days import monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        started = self.load_wall_start or wall.time()
        p95 = store.latency_percentile(95, hours=(wall.time() - started + 0.5) / 3600)
        ratio = None
        if self.args.prometheus_url:
            give_up_at = self.clock() + self.args.wait_seconds
            while True:
                counts = self._prom()
                if counts is not None and counts[0] - self.baseline[0] >= load.sent:
                    total, errors = counts[0] - self.baseline[0], counts[1] - self.baseline[1]
                    ratio = errors / total if total else float("nan")
                    break
                if self.clock() >= give_up_at:
                    return Verdict(False, f"5xx unknown: Prometheus did not count the load's {load.sent} requests "
                                          f"within {self.args.wait_seconds}s")
                self.sleep(0.5)
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import math
    import os

    import earlier_days

    parser = argparse.ArgumentParser(description="Train, gate, ship, watch and maybe roll back one model.")
    add = parser.add_argument
    add("--tracking-uri", required=True)
    add("--server-image", required=True)
    add("--model-name", default="capstone")
    add("--candidate", default="interactions", choices=sorted(earlier_days.CANDIDATES))
    add("--image-repo", default="katas/capstone-model")
    add("--compose-file", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml"))
    add("--project", default="capstone")
    add("--model-port", type=int, default=8000)
    add("--prometheus-url", default="")
    add("--margin", type=float, default=0.01)
    add("--slice-tolerance", type=float, default=0.05)
    add("--requests", type=int, default=100)
    add("--rps", type=float, default=20.0)
    add("--load-seconds", type=float, default=30.0)
    add("--min-availability", type=float, default=0.99)
    add("--max-error-ratio", type=float, default=0.01)
    add("--max-p95-ms", type=float, default=500.0)
    add("--wait-seconds", type=float, default=60.0)
    add("--store", default="capstone-metrics.db")
    add("--label", action="append", default=[], metavar="KEY=VALUE")
    add("--report-json", default=None)
    args = parser.parse_args(argv)

    rules = {
        "--model-port": (lambda v: 1 <= v <= 65535, "must be 1-65535"),
        "--requests": (lambda v: v >= 1, "must be at least 1"),
        "--margin": (lambda v: math.isfinite(v) and v >= 0, "must be finite and >= 0"),
        "--slice-tolerance": (lambda v: math.isfinite(v) and v >= 0, "must be finite and >= 0"),
        "--rps": (lambda v: math.isfinite(v) and v > 0, "must be positive and finite"),
        "--load-seconds": (lambda v: math.isfinite(v) and v > 0, "must be positive and finite"),
        "--max-p95-ms": (lambda v: math.isfinite(v) and v > 0, "must be positive and finite"),
        "--wait-seconds": (lambda v: math.isfinite(v) and v > 0, "must be positive and finite"),
        "--min-availability": (lambda v: 0 <= v <= 1, "must be between 0 and 1"),
        "--max-error-ratio": (lambda v: 0 <= v <= 1, "must be between 0 and 1"),
    }
    for flag, (fine, why) in rules.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if not fine(value):
            parser.error(f"argument {flag}: {value!r} {why}")
    for label in args.label:
        if "=" not in label or label.startswith("="):
            parser.error(f"argument --label: {label!r} should be KEY=VALUE with a non-empty KEY")
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    options = parse_args(argv)
    outcome = run(make_steps(options), clock=clock)
    sys.stdout.write(format_report(outcome) + "\n")
    if options.report_json:
        with open(options.report_json, "w", encoding="utf-8") as handle:
            json.dump(outcome.to_dict(), handle)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
