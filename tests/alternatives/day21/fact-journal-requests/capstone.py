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
import os
import sys
import tempfile
import time
from pathlib import Path
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


class _Timer:
    """`with _Timer(clock) as t:` ... `t.seconds` afterwards (also when the block raised)."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.seconds = 0.0

    def __enter__(self) -> "_Timer":
        self.started = self.clock()
        return self

    def __exit__(self, *exc) -> bool:
        self.seconds = self.clock() - self.started
        return False


class _Run:
    """One pipeline run: the report being filled and a journal of the changes made to the world."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="promoted")
        self.journal: list[tuple[str, str | None]] = []  # ("alias"|"image"|"service", version)
        self.broken: tuple[str, BaseException] | None = None

    def call(self, name: str, method, *args, verdict=lambda result: (True, "")):
        """Time one step; on an exception remember it and return None (the caller stops)."""
        timer = _Timer(self.clock)
        try:
            with timer:
                result = method(*args)
        except Exception as exc:  # noqa: BLE001
            self.report.stages.append(Stage(name, False, timer.seconds, f"{type(exc).__name__}: {exc}"))
            self.broken = (name, exc)
            return None
        ok, detail = verdict(result)
        self.report.stages.append(Stage(name, ok, timer.seconds, detail))
        return result

    def undo_one(self, kind: str, version: str | None) -> None:
        if kind == "alias":
            self.steps.set_champion(version)
        elif kind == "image":
            self.steps.remove_image(version)
        elif version is None:
            self.steps.undeploy()
        else:
            self.steps.deploy(version)

    def unwind(self) -> str:
        """Undo the journal newest first; '' when all went well, else the errors."""
        if not self.journal:
            return ""
        errors = []
        with _Timer(self.clock) as timer:
            while self.journal:
                kind, version = self.journal.pop()
                try:
                    self.undo_one(kind, version)
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"undo {kind} ({version}): {type(exc).__name__}: {exc}")
        detail = "; ".join(errors) or "restored the previous state"
        self.report.stages.append(Stage("rollback", not errors, timer.seconds, detail))
        return detail if errors else ""


def _gate_verdict(gate_report):
    failed = [check for check in gate_report.checks if not check.passed]
    if gate_report.passed:
        return True, f"passed against champion {gate_report.champion}"
    return False, "failed: " + ", ".join(check.name for check in failed)


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    r = _Run(steps, clock)
    report = r.report
    regression = None
    candidate = r.call("train", steps.train, verdict=lambda uri: (True, str(uri)))
    gate_report = None if r.broken else r.call("gate", steps.gate, candidate, verdict=_gate_verdict)
    if gate_report is not None:
        report.previous = gate_report.champion
        if not gate_report.passed:
            report.outcome, report.reason = "rejected", "the gate " + report.stages[-1].detail
    if r.broken is None and report.outcome != "rejected":
        previous = report.previous
        version = r.call("register", steps.register, gate_report, verdict=lambda v: (True, f"version {v}"))
        if r.broken is None:
            report.version = version
            r.journal.append(("alias", previous))
            r.call("package", steps.package, version, verdict=lambda image: (True, str(image)))
        if r.broken is None:
            r.journal.append(("image", version))
            r.journal.append(("service", previous))
            url = r.call("deploy", steps.deploy, version, verdict=lambda u: (True, f"v{version} at {u}"))
        if r.broken is None:
            load = r.call("load", steps.load, url, verdict=lambda res: (True, f"{res.ok}/{res.sent} answered"))
        if r.broken is None:
            verdict = r.call("monitor", steps.monitor, url, load, verdict=lambda v: (bool(v.healthy), v.reason))
            if r.broken is None and not verdict.healthy:
                regression = verdict.reason
    if r.broken is not None:
        name, exc = r.broken
        report.outcome, report.reason = "failed", f"{name} failed: {exc}"
    elif regression is not None:
        report.outcome, report.reason = "rolled_back", f"rolled back: {regression}"
    if report.outcome in ("failed", "rolled_back"):
        undo_errors = r.unwind()
        if undo_errors:
            report.outcome = "failed"
            report.reason += f" (rollback failed: {undo_errors})"
    elif report.outcome == "promoted":
        report.reason = ""
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
    out = []
    for stage in report.stages:
        out.append(f"{stage.name}: {'ok' if stage.ok else 'FAILED'} after {stage.seconds:.3f}s | {_one_line(stage.detail)}")
    summary = f"=> outcome: {report.outcome}, exit {report.exit_code}, serving {report.serving or 'nothing'}"
    out.append(summary + (f" ({_one_line(report.reason)})" if report.reason else ""))
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError(f"requests: an int >= 1, not {requests!r}")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not _is_number(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name}: a positive finite number, not {value!r}")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    start = clock()
    stop_at = start + deadline_s
    answered = sent = 0
    while sent < requests:
        due = start + sent / rps
        if due >= stop_at:
            break
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        if clock() >= stop_at:
            break
        latency = probe()
        sent += 1
        answered += latency is not None
    return LoadResult(sent=sent, ok=answered, failed=sent - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    availability = ok / sent if sent > 0 else math.nan
    # (name, measured value or None, is it within its limit?)
    signals = [
        ("availability", availability, availability >= min_availability),
        ("p95", p95_ms, p95_ms is not None and p95_ms <= max_p95_ms),
        ("5xx", error_ratio, error_ratio is not None and error_ratio <= max_error_ratio),
    ]
    limits = {"availability": f">= {min_availability}", "p95": f"<= {max_p95_ms} ms", "5xx": f"<= {max_error_ratio}"}
    bad = [f"{name} {value} (want {limits[name]})" for name, value, fine in signals
           if value is not None and not fine]
    if bad:
        return Verdict(False, "; ".join(bad))
    return Verdict(True, ", ".join(f"{name} {value}" for name, value, _ in signals if value is not None))


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

    BUILD_TIMEOUT = 900
    COMPOSE_TIMEOUT = 240
    MODEL_DIR = "/srv/model"

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        import requests

        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.http = requests.Session()
        self.load_window: tuple[float, float] | None = None  # wall-clock start and end of the last load

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _tag(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _docker_compose(self, *args: str, **variables: str) -> None:
        env = dict(os.environ)
        env.update(MODEL_PORT=str(self.args.model_port), **variables)
        self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", str(self.args.project), *args],
                    env=env, timeout=self.COMPOSE_TIMEOUT)

    def train(self) -> str:
        import mlflow
        import sklearn
        from mlflow.models import infer_signature

        from earlier_days import CANDIDATES, make_data

        X_train, _, y_train, _ = make_data()
        estimator = CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id) as active:
            mlflow.log_param("candidate", self.args.candidate)
            mlflow.sklearn.log_model(estimator, name="model",
                                     signature=infer_signature(X_train, estimator.predict_proba(X_train)),
                                     pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        return f"runs:/{active.info.run_id}/model"

    def gate(self, candidate: str):
        from earlier_days import gate, make_data

        _, X_test, _, y_test = make_data()
        return gate.run_gate(tracking_uri=self.args.tracking_uri, model_name=self.args.model_name,
                             candidate_uri=candidate, X=X_test, y=y_test, slice_by="segment", metric="roc_auc",
                             margin=self.args.margin, slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        from earlier_days import gate

        return str(gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))
            return
        client.delete_registered_model_alias(self.args.model_name, "champion")

    def package(self, version: str) -> str:
        import mlflow
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        fitted = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._tag(version)
        lines = [f"FROM {self.args.server_image}",
                 f"COPY model.skops {self.MODEL_DIR}/model.skops",
                 f"ENV MODEL_PATH={self.MODEL_DIR}/model.skops",
                 f"ENV MODEL_VERSION=v{version}"]
        with tempfile.TemporaryDirectory() as folder:
            context = Path(folder)
            skops.io.dump(fitted, context / "model.skops")
            (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            labels = [part for label in self.args.label for part in ("--label", label)]  # docker takes them as given
            self.runner(["docker", "image", "build", "-t", tag, *labels, str(context)], env=dict(os.environ),
                        timeout=self.BUILD_TIMEOUT)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", "--force", self._tag(version)], env=dict(os.environ),
                    timeout=self.COMPOSE_TIMEOUT)

    def _status(self, path: str) -> tuple[int, dict]:
        try:
            answer = self.http.get(self.service_url + path, timeout=2)
            return answer.status_code, answer.json()
        except Exception:  # noqa: BLE001 - not answering yet
            return 0, {}

    def deploy(self, version: str) -> str:
        self._docker_compose("up", "--detach", "--no-deps", SERVICE, MODEL_IMAGE=self._tag(version))
        give_up = self.clock() + self.args.wait_seconds
        want = f"v{version}"
        last = None
        while self.clock() < give_up:
            status, body = self._status("/health")
            last = body.get("model_version") if status == 200 else None
            if last == want and self._status("/ready")[0] == 200:
                return self.service_url
            self.sleep(max(0.0, min(0.25, give_up - self.clock())))
        raise TimeoutError(f"{want} not ready within {self.args.wait_seconds} s on {self.service_url} "
                           f"(last /health said {last!r})")

    def undeploy(self) -> None:
        self._docker_compose("stop", SERVICE)
        self._docker_compose("rm", "-f", SERVICE)

    def load(self, url: str) -> LoadResult:
        from itertools import cycle

        from earlier_days import make_data, monitoring

        rows = cycle(make_data()[1].astype(float).values.tolist())
        store = monitoring.ModelPerformanceMonitor(os.fspath(self.args.store))
        began = time.time()
        result = put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                          requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                          clock=self.clock, sleep=self.sleep)
        self.load_window = (began, time.time())
        return result

    def _p95(self) -> float | None:
        import numpy as np

        from earlier_days import monitoring

        if self.load_window is None:
            return None
        began, _ = self.load_window
        store = monitoring.ModelPerformanceMonitor(os.fspath(self.args.store))
        samples = store.get_recent_metrics("latency_ms", hours=(time.time() - began) / 3600 + 1e-6)
        values = [s["value"] for s in samples if s["timestamp"] >= began]
        return float(np.percentile(values, 95)) if values else None

    def _predict_counts(self) -> dict[str, float] | None:
        """{status: count} of /predict answers as Prometheus sees them now; None when it does not answer."""
        query = 'sum by (status) (model_requests_total{endpoint="/predict"})'
        try:
            answer = self.http.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": query},
                                   timeout=5)
            answer.raise_for_status()
            result = answer.json()["data"]["result"]
        except Exception:  # noqa: BLE001
            return None
        return {item["metric"].get("status", ""): float(item["value"][1]) for item in result}

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        ratio = None
        if self.args.prometheus_url:
            give_up = self.clock() + self.args.wait_seconds
            counts = self._predict_counts()
            while counts is None or sum(counts.values()) < load.sent:
                if self.clock() >= give_up:
                    return Verdict(False, f"5xx ratio unknown: Prometheus did not count the {load.sent} requests "
                                          f"within {self.args.wait_seconds} s")
                self.sleep(max(0.0, min(0.5, give_up - self.clock())))
                counts = self._predict_counts()
            total = sum(counts.values())
            errors = sum(n for status, n in counts.items() if status.startswith("5"))
            ratio = errors / total if total else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=self._p95(), error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        status, body = self._status("/health")
        return body.get("model_version") if status == 200 else None


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind, *, low=None, high=None, low_open=False, what=""):
    """A `type=` function: `kind(text)`, finite, within [low, high] (or (low, high] with low_open)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not finite")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from earlier_days import CANDIDATES

    positive = _checked(float, low=0, low_open=True, what="a positive number")
    fraction = _checked(float, low=0, high=1, what="between 0 and 1")
    non_negative = _checked(float, low=0, what="a number >= 0")
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    flags = [
        ("--tracking-uri", dict(required=True)),
        ("--server-image", dict(required=True)),
        ("--model-name", dict(default="capstone")),
        ("--candidate", dict(default="interactions", choices=sorted(CANDIDATES))),
        ("--image-repo", dict(default="katas/capstone-model")),
        ("--compose-file", dict(default=here / "docker-compose.yml", type=Path)),
        ("--project", dict(default="capstone")),
        ("--model-port", dict(default=8000, type=_checked(int, low=1, high=65535, what="a port 1-65535"))),
        ("--prometheus-url", dict(default="")),
        ("--margin", dict(default=0.01, type=non_negative)),
        ("--slice-tolerance", dict(default=0.05, type=non_negative)),
        ("--requests", dict(default=100, type=_checked(int, low=1, what="an int >= 1"))),
        ("--rps", dict(default=20.0, type=positive)),
        ("--load-seconds", dict(default=30.0, type=positive)),
        ("--min-availability", dict(default=0.99, type=fraction)),
        ("--max-error-ratio", dict(default=0.01, type=fraction)),
        ("--max-p95-ms", dict(default=500.0, type=positive)),
        ("--wait-seconds", dict(default=60.0, type=positive)),
        ("--store", dict(default=Path("capstone-metrics.db"), type=Path)),
        ("--label", dict(default=[], action="append", type=_key_value, metavar="KEY=VALUE")),
        ("--report-json", dict(default=None, type=Path)),
    ]
    for flag, options in flags:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report))
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
