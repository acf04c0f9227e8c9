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
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import earlier_days

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

NEWLINES = re.compile(r"\r\n|\r|\n")


class _Timer:
    """`with _Timer(clock) as t:` ... `t.seconds`."""

    def __init__(self, clock):
        self.clock = clock
        self.seconds = 0.0

    def __enter__(self):
        self.t0 = self.clock()
        return self

    def __exit__(self, *exc):
        self.seconds = self.clock() - self.t0
        return False


class _Run:
    def __init__(self, steps, clock):
        self.steps, self.clock = steps, clock
        self.stages: list[Stage] = []
        self.journal: list[tuple[str, object]] = []  # what was changed, oldest first

    def call(self, name, method, *args):
        """(ok, value or error, seconds)"""
        with _Timer(self.clock) as timer:
            try:
                value, ok = method(*args), True
            except Exception as exc:  # noqa: BLE001
                value, ok = exc, False
        return ok, value, timer.seconds

    def revert(self, entry):
        kind, arg = entry
        if kind == "alias":
            self.steps.set_champion(arg)
        elif kind == "image":
            self.steps.remove_image(arg)
        elif arg is None:
            self.steps.undeploy()
        else:
            self.steps.deploy(arg)

    def rollback(self) -> list[str]:
        if not self.journal:
            return []
        errors = []
        with _Timer(self.clock) as timer:
            while self.journal:
                entry = self.journal.pop()
                try:
                    self.revert(entry)
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"undo {entry[0]} {entry[1]!r}: {exc}")
        self.stages.append(Stage("rollback", not errors, timer.seconds, " / ".join(errors) or "all undone"))
        return errors


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    r = _Run(steps, clock)
    version = previous = None
    outcome, reason = "failed", ""
    arg = None
    gate_report = None
    for name in ("train", "gate", "register", "package", "deploy", "load", "monitor"):
        method = getattr(steps, name)
        args = {"train": (), "gate": (arg,), "register": (arg,), "package": (version,), "deploy": (version,),
                "load": (arg,), "monitor": (arg, None)}[name]
        if name == "monitor":
            args = (url, arg)
        if name == "deploy":
            r.journal.append(("service", previous))
        ok, value, seconds = r.call(name, method, *args)
        if not ok:
            r.stages.append(Stage(name, False, seconds, repr(value)))
            outcome, reason = "failed", f"{name} failed: {value}"
            break
        if name == "gate":
            gate_report = value
            previous = gate_report.champion
            bad = [check.name for check in gate_report.checks if not check.passed]
            if not gate_report.passed:
                text = "rejected by " + ", ".join(bad)
                r.stages.append(Stage(name, False, seconds, text))
                outcome, reason = "rejected", text
                break
            r.stages.append(Stage(name, True, seconds, "every check passed"))
        elif name == "monitor":
            r.stages.append(Stage(name, bool(value.healthy), seconds, value.reason))
            if value.healthy:
                outcome, reason = "promoted", ""
                r.journal.clear()
            else:
                outcome, reason = "rolled_back", value.reason
            break
        else:
            r.stages.append(Stage(name, True, seconds, f"{value}"))
        if name == "register":
            version = value
            r.journal.append(("alias", previous))
        elif name == "package":
            r.journal.append(("image", version))
        elif name == "deploy":
            url = value
        arg = value
    errors = r.rollback() if outcome != "promoted" else []
    if errors:
        outcome = "failed"
        reason = f"{reason}; rollback: {'; '.join(errors)}" if reason else f"rollback: {'; '.join(errors)}"
    try:
        serving = steps.serving()
    except Exception:  # noqa: BLE001
        serving = None
    return Report(outcome, version, previous, serving, reason, r.stages)


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    flat = lambda text: NEWLINES.sub(" // ", text or "")  # noqa: E731
    out = []
    for s in report.stages:
        out.append("{} [{}] {:.2f}s {}".format(s.name, "ok" if s.ok else "FAILED", s.seconds, flat(s.detail)))
    out.append("outcome: {} exit={} version={} serving={} {}".format(
        report.outcome, report.exit_code, report.version, report.serving, flat(report.reason)))
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _is_number(value) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if not (isinstance(requests, (int, np.integer)) and not isinstance(requests, (bool, np.bool_)) and requests >= 1):
        raise ValueError(f"requests: an int >= 1, not {requests!r}")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not (_is_number(value) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name}: a positive finite number, not {value!r}")
    answers = []
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    t0 = clock()
    stop = t0 + deadline_s
    for i in itertools.count():
        if i >= requests:
            break
        due = t0 + i / rps
        if due >= stop:
            break
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        if clock() >= stop:
            break
        answers.append(probe() is not None)
    sent, ok = len(answers), sum(answers)
    return LoadResult(sent=sent, ok=ok, failed=sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    checks = []
    if sent > 0:
        checks.append(("availability", ok / sent, min_availability, lambda v, lim: v >= lim, "at least"))
    else:
        checks.append(("availability", math.nan, min_availability, lambda v, lim: False, "(nothing sent) at least"))
    if p95_ms is not None:
        checks.append(("p95 latency ms", p95_ms, max_p95_ms, lambda v, lim: v <= lim, "at most"))
    if error_ratio is not None:
        checks.append(("5xx ratio", error_ratio, max_error_ratio, lambda v, lim: v <= lim, "at most"))
    failed = [f"{word} {float(value):g} should be {how} {limit:g}" for word, value, limit, within, how in checks
              if not within(value, limit)]
    if failed:
        return Verdict(False, "; ".join(failed))
    return Verdict(True, "; ".join(f"{word} {float(value):g}" for word, value, *_ in checks))


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


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus.
    Images are tagged `<image_repo>:v<version>` and serve MODEL_VERSION `v<version>`. Every `docker`
    and `docker-compose` command goes through `runner(argv, env=..., timeout=...)`; every wait reads
    `clock` and pauses with `sleep` (the tests pass fakes of all three)."""

    TIMEOUT = 4.0
    POLL = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.load_started_at = None

    @property
    def base(self) -> str:
        return "http://127.0.0.1:%d" % self.args.model_port

    def tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def compose(self, extra_env: dict, *words: str) -> None:
        env = {**os.environ, "MODEL_PORT": str(self.args.model_port), **extra_env}
        self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project, *words],
                    env=env, timeout=240)

    def wait_until(self, what: str, check) -> None:
        limit = self.clock() + self.args.wait_seconds
        while not check():
            remaining = limit - self.clock()
            if remaining <= 0:
                raise TimeoutError(f"gave up waiting for {what} after {self.args.wait_seconds} s")
            self.sleep(min(self.POLL, remaining))

    def train(self) -> str:
        import mlflow
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]()
        model.fit(X_train, y_train)
        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri)
        experiment = client.get_experiment_by_name(self.args.model_name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(self.args.model_name)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id) as active:
            mlflow.sklearn.log_model(model, name="model",
                                     signature=infer_signature(X_train, model.predict(X_train)))
            return f"runs:/{active.info.run_id}/model"

    def gate(self, candidate: str):
        data = earlier_days.make_data()
        return earlier_days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, data[1], data[3],
                                          slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                          slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, "champion", version)
            return
        client.delete_registered_model_alias(self.args.model_name, "champion")

    def package(self, version: str) -> str:
        import mlflow
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        folder = Path(tempfile.mkdtemp())
        try:
            (folder / "model.skops").write_bytes(skops.io.dumps(model))
            lines = [f"FROM {self.args.server_image}", "COPY model.skops /srv/model/model.skops",
                     f'ENV MODEL_PATH="/srv/model/model.skops" MODEL_VERSION="v{version}"']
            for label in self.args.label:
                key, _, value = label.partition("=")
                lines.append(f"LABEL {_quoted(key)}={_quoted(value)}")
            (folder / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.runner(["docker", "build", "-t", self.tag(version), str(folder)], env=None, timeout=900)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self.tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", "-f", self.tag(version)], env=None, timeout=60)

    def _answer(self, path: str):
        import requests as http

        return http.get(self.base + path, timeout=self.TIMEOUT)

    def deploy(self, version: str) -> str:
        import requests as http

        self.compose({"MODEL_IMAGE": self.tag(version)}, "up", "--detach", "--no-deps", "model")

        def ready() -> bool:
            try:
                health = self._answer("/health")
                if health.status_code != 200 or health.json().get("model_version") != f"v{version}":
                    return False
                return self._answer("/ready").status_code == 200
            except (http.RequestException, ValueError, AttributeError):
                return False

        self.wait_until(f"v{version} to be ready", ready)
        return self.base

    def undeploy(self) -> None:
        self.compose({}, "rm", "-sf", "model")

    def load(self, url: str) -> LoadResult:
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = itertools.cycle(earlier_days.make_data()[1].astype(float).values.tolist())
        self.load_started_at = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _predict_counts(self) -> dict[str, float]:
        import requests as http

        answer = http.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                          params={"query": 'sum by (status) (model_requests_total{endpoint="/predict"})'},
                          timeout=self.TIMEOUT)
        answer.raise_for_status()
        return {item["metric"].get("status", ""): float(item["value"][1]) for item in answer.json()["data"]["result"]}

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import requests as http

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        since = self.load_started_at if self.load_started_at is not None else time.time()
        samples = [row["value"] for row in store.get_recent_metrics("latency_ms", hours=1e6)
                   if row["timestamp"] >= since]
        p95 = float(np.percentile(samples, 95)) if samples else None
        ratio = None
        if self.args.prometheus_url:
            seen: dict[str, float] = {}

            def counted() -> bool:
                nonlocal seen
                try:
                    seen = self._predict_counts()
                except (http.RequestException, ValueError, KeyError):
                    return False
                return sum(seen.values()) >= load.sent

            self.wait_until("Prometheus to count the load", counted)
            total = sum(seen.values())
            errors = sum(n for status, n in seen.items() if status.startswith("5") and len(status) == 3)
            ratio = errors / total if total else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            answer = self._answer("/health")
            return answer.json().get("model_version") if answer.status_code == 200 else None
        except Exception:  # noqa: BLE001
            return None


# --- task 3: the command line -------------------------------------------------------------

CHECKS = {
    "model_port": ("int", lambda v: 1 <= v <= 65535, "an int from 1 to 65535"),
    "requests": ("int", lambda v: v >= 1, "an int >= 1"),
    "margin": ("float", lambda v: v >= 0, "a finite number >= 0"),
    "slice_tolerance": ("float", lambda v: v >= 0, "a finite number >= 0"),
    "rps": ("float", lambda v: v > 0, "a positive finite number"),
    "load_seconds": ("float", lambda v: v > 0, "a positive finite number"),
    "max_p95_ms": ("float", lambda v: v > 0, "a positive finite number"),
    "wait_seconds": ("float", lambda v: v > 0, "a positive finite number"),
    "min_availability": ("float", lambda v: 0 <= v <= 1, "a number between 0 and 1"),
    "max_error_ratio": ("float", lambda v: 0 <= v <= 1, "a number between 0 and 1"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    parser = argparse.ArgumentParser(prog="capstone.py", description=__doc__.splitlines()[0])
    defaults = {"model-name": "capstone", "candidate": "interactions", "image-repo": "katas/capstone-model",
                "compose-file": str(Path(__file__).resolve().with_name("docker-compose.yml")), "project": "capstone",
                "model-port": "8000", "prometheus-url": "", "margin": "0.01", "slice-tolerance": "0.05",
                "requests": "100", "rps": "20", "load-seconds": "30", "min-availability": "0.99",
                "max-error-ratio": "0.01", "max-p95-ms": "500", "wait-seconds": "60", "store": "capstone-metrics.db"}
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--server-image", required=True)
    for flag, default in defaults.items():
        parser.add_argument(f"--{flag}", default=default)
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--report-json", default=None)
    args = parser.parse_args(argv)
    for name, (kind, ok, words) in CHECKS.items():
        text = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        try:
            value = int(text) if kind == "int" else float(text)
        except ValueError:
            parser.error(f"argument {flag}: {words}, not {text!r}")
        if (kind == "float" and not math.isfinite(value)) or not ok(value):
            parser.error(f"argument {flag}: {words}, not {text!r}")
        setattr(args, name, value)
    if args.candidate not in earlier_days.CANDIDATES:
        parser.error(f"argument --candidate: one of {', '.join(earlier_days.CANDIDATES)}, not {args.candidate!r}")
    for label in args.label:
        if "=" not in label or label.startswith("="):
            parser.error(f"argument --label: KEY=VALUE with a non-empty key, not {label!r}")
    args.compose_file, args.store = Path(args.compose_file), Path(args.store)
    if args.report_json is not None:
        args.report_json = Path(args.report_json)
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report) + "\n")
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report.to_dict(), handle, indent=1)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
