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


class _Abort(Exception):
    """Raised once a stage has failed and been recorded."""


class _Pipeline:
    """A journal of undo records plus a clock; one instance per run."""

    def __init__(self, steps, clock) -> None:
        self.steps = steps
        self.clock = clock
        self.report = Report(outcome="failed")
        self.journal: list[tuple[str, object]] = []   # (kind, argument), newest last

    def call(self, name: str, method, *args, judge=None):
        t0 = self.clock()
        try:
            value = method(*args)
        except Exception as exc:  # noqa: BLE001
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            self.report.reason = f"{name} failed: {exc}"
            raise _Abort() from exc
        elapsed = self.clock() - t0
        ok, detail = judge(value) if judge else (True, str(value))
        self.report.stages.append(Stage(name, ok, elapsed, detail))
        return value

    def undo_one(self, kind: str, argument) -> None:
        if kind == "alias":
            self.steps.set_champion(argument)
        elif kind == "image":
            self.steps.remove_image(argument)
        elif kind == "service":
            if argument is None:
                self.steps.undeploy()
            else:
                self.steps.deploy(argument)

    def rollback(self) -> None:
        if not self.journal:
            return
        t0 = self.clock()
        notes, broken = [], []
        for kind, argument in reversed(self.journal):
            try:
                self.undo_one(kind, argument)
                notes.append(f"{kind}<-{argument}")
            except Exception as exc:  # noqa: BLE001
                broken.append(f"undo {kind} ({argument}) raised {exc!r}")
        self.journal = []
        self.report.stages.append(Stage("rollback", not broken, self.clock() - t0,
                                        ", ".join(notes + broken) or "nothing"))
        if broken:
            self.report.outcome = "failed"
            self.report.reason = " / ".join([self.report.reason, *broken]) if self.report.reason else " / ".join(broken)


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    pipe = _Pipeline(steps, clock)
    report = pipe.report

    def gate_judge(g):
        bad = [c.name for c in g.checks if not c.passed]
        return (bool(g.passed), "passed" if g.passed else "rejected by " + " + ".join(bad))

    try:
        candidate = pipe.call("train", steps.train)
        gate_report = pipe.call("gate", steps.gate, candidate, judge=gate_judge)
        previous = report.previous = gate_report.champion
        if not gate_report.passed:
            report.outcome = "rejected"
            report.reason = report.stages[-1].detail
        else:
            report.version = pipe.call("register", steps.register, gate_report)
            pipe.journal.append(("alias", previous))
            pipe.call("package", steps.package, report.version)
            pipe.journal.append(("image", report.version))
            pipe.journal.append(("service", previous))
            url = pipe.call("deploy", steps.deploy, report.version)
            result = pipe.call("load", steps.load, url)
            verdict = pipe.call("monitor", steps.monitor, url, result,
                                judge=lambda v: (bool(v.healthy), v.reason or "healthy"))
            if verdict.healthy:
                report.outcome, report.reason = "promoted", ""
                pipe.journal = []
            else:
                report.outcome, report.reason = "rolled_back", f"monitor: {verdict.reason}"
                pipe.rollback()
    except _Abort:
        report.outcome = "failed"
        pipe.rollback()
    try:
        report.serving = steps.serving()
    except Exception:  # noqa: BLE001
        report.serving = None
    return report


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    import re

    def flat(text) -> str:
        return re.sub(r"\s*(?:\r\n|\r|\n)\s*", " / ", str(text)).strip()

    out = []
    for s in report.stages:
        out.append("{:<9}{:>7} {:>9.3f}s  {}".format(s.name, "ok" if s.ok else "FAILED", s.seconds, flat(s.detail)))
    out.append(f"outcome: {report.outcome}  exit={report.exit_code}  version={report.version}  "
               f"previous={report.previous}  serving={report.serving}  {flat(report.reason)}".rstrip())
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _finite_positive(name: str, value) -> float:
    import math

    if isinstance(value, (bool, str, bytes)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return number


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import operator

    if isinstance(requests, bool):
        raise ValueError("requests must be an int, not a bool")
    try:
        budget = operator.index(requests)
    except TypeError:
        raise ValueError(f"requests must be an int, got {requests!r}") from None
    if budget < 1:
        raise ValueError(f"requests must be >= 1, got {budget}")
    rate = _finite_positive("rps", rps)
    window = _finite_positive("deadline_s", deadline_s)

    start = clock()
    stop_at = start + window
    sent = answered = 0
    while sent < budget:
        due = start + sent / rate
        if due >= stop_at:
            break
        now = clock()
        wait = due - now
        if wait > 0:
            sleep(wait)
            now = clock()
        if now >= stop_at:
            break
        sent += 1
        if probe() is not None:
            answered += 1
    return LoadResult(sent=sent, ok=answered, failed=sent - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    past = {}
    if sent > 0:
        availability = ok / sent
        if not availability >= min_availability:
            past["availability"] = f"availability {availability} below {min_availability}"
    else:
        past["availability"] = "availability: no request sent, no evidence"
    for word, value, limit in (("p95", p95_ms, max_p95_ms), ("5xx", error_ratio, max_error_ratio)):
        if value is not None and not value <= limit:
            past[word] = f"{word} {value} above {limit}"
    return Verdict(healthy=len(past) == 0, reason=", ".join(past.values()))


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


def _http(method: str, port: int, path: str, timeout: float = 2.5, host: str = "127.0.0.1"):
    """(status, body bytes) or (None, b"") when nothing answered in time."""
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    except (OSError, http.client.HTTPException):
        return None, b""
    finally:
        conn.close()


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus.
    Images are tagged `<image_repo>:v<version>` and serve MODEL_VERSION `v<version>`. Every `docker`
    and `docker-compose` command goes through `runner(argv, env=..., timeout=...)`; every wait reads
    `clock` and pauses with `sleep` (the tests pass fakes of all three)."""

    POLL_S = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._since_epoch = None
        self._baseline = (0.0, 0.0)

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _tag(self, version) -> str:
        return "{}:v{}".format(self.args.image_repo, version)

    def _compose(self, args: list[str], **env_over):
        import os

        env = dict(os.environ)
        env.update(env_over)
        return self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", str(self.args.project), *args],
                           env=env, timeout=240)

    def _health(self):
        import json

        status, body = _http("GET", self.args.model_port, "/health")
        if status != 200:
            return None
        try:
            return json.loads(body).get("model_version")
        except (ValueError, AttributeError):
            return None

    def train(self) -> str:
        import mlflow
        import mlflow.sklearn
        from mlflow.models.signature import infer_signature

        from earlier_days import CANDIDATES, make_data

        X_train, _X_test, y_train, _y_test = make_data()
        estimator = CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id) as active:
            signature = infer_signature(X_train.astype(float), estimator.predict_proba(X_train)[:, 1])
            mlflow.sklearn.log_model(estimator, name="model", signature=signature)
            run_id = active.info.run_id
        return f"runs:/{run_id}/model"

    def gate(self, candidate: str):
        from earlier_days import gate, make_data

        split = make_data()
        return gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, split[1], split[3],
                             slice_by="segment", metric="roc_auc", margin=self.args.margin,
                             slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        from earlier_days import gate

        return str(gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        from earlier_days import gate

        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, gate.CHAMPION, str(version))
            return
        client.delete_registered_model_alias(self.args.model_name, gate.CHAMPION)

    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import mlflow.sklearn
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        estimator = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._tag(version)
        with tempfile.TemporaryDirectory(prefix="capstone-ctx-") as context:
            root = Path(context)
            skops.io.dump(estimator, str(root / "model.skops"))
            (root / "Dockerfile").write_text("\n".join([
                "ARG BASE",
                "FROM ${BASE}",
                "COPY model.skops /srv/capstone/model.skops",
                "ENV MODEL_PATH=/srv/capstone/model.skops",
                f'ENV MODEL_VERSION="v{version}"',
                ""]), encoding="utf-8")
            argv = ["docker", "build", f"--tag={tag}", f"--build-arg=BASE={self.args.server_image}"]
            argv += [f"--label={label}" for label in self.args.label]
            self.runner([*argv, context], env=None, timeout=900)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", "-f", self._tag(version)], env=None, timeout=120)

    def deploy(self, version: str) -> str:
        self._compose(["up", "--detach", "--no-deps", SERVICE],
                      MODEL_IMAGE=self._tag(version), MODEL_PORT=str(self.args.model_port))
        target = f"v{version}"
        give_up = self.clock() + self.args.wait_seconds
        last = None
        while self.clock() < give_up:
            last = self._health()
            if last == target and _http("GET", self.args.model_port, "/ready")[0] == 200:
                return f"http://127.0.0.1:{self.args.model_port}"
            remaining = give_up - self.clock()
            if remaining > 0:
                self.sleep(min(self.POLL_S, remaining))
        raise TimeoutError(f"{target} did not become ready on port {self.args.model_port} within "
                           f"{self.args.wait_seconds} s; /health last said {last!r}")

    def undeploy(self) -> None:
        self._compose(["stop", SERVICE])
        self._compose(["rm", "-f", SERVICE])

    def _counts(self) -> tuple[float, float]:
        """(all /predict answers, 5xx /predict answers) as Prometheus shows them now."""
        import json
        from urllib.parse import quote, urlsplit

        split = urlsplit(self.args.prometheus_url)
        values = []
        for query in ('sum(model_requests_total{endpoint="/predict"}) or vector(0)',
                      'sum(model_requests_total{endpoint="/predict",status=~"5[0-9][0-9]"}) or vector(0)'):
            path = (split.path.rstrip("/") or "") + "/api/v1/query?query=" + quote(query)
            status, body = _http("GET", split.port or 80, path, timeout=3.0, host=split.hostname)
            if status != 200:
                raise ConnectionError(f"Prometheus answered {status}")
            values.append(float(json.loads(body)["data"]["result"][0]["value"][1]))
        return values[0], values[1]

    def load(self, url: str) -> LoadResult:
        import itertools

        from earlier_days import make_data, monitoring

        if self.args.prometheus_url:
            try:
                self._baseline = self._counts()
            except (ConnectionError, OSError, ValueError, KeyError, IndexError):
                self._baseline = (0.0, 0.0)
        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        table = make_data()[1].to_numpy(dtype=float)
        order = itertools.cycle(range(len(table)))
        self._since_epoch = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [table[next(order)].tolist()]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        from earlier_days import monitoring

        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        since = self._since_epoch if self._since_epoch is not None else time.time()
        rows = store.get_recent_metrics("latency_ms", hours=(time.time() - since) / 3600)
        values = [float(r["value"]) for r in rows]
        p95 = float(np.percentile(values, 95)) if values else None
        ratio = None
        if self.args.prometheus_url:
            base_total, base_errors = self._baseline
            stop = self.clock() + self.args.wait_seconds
            while True:
                try:
                    total, errors = self._counts()
                except (ConnectionError, OSError, ValueError, KeyError, IndexError):
                    total = errors = None
                if total is not None and total - base_total >= load.sent:
                    counted = total - base_total
                    ratio = (errors - base_errors) / counted if counted else float("nan")
                    break
                if self.clock() >= stop:
                    raise TimeoutError(f"Prometheus did not count the load's {load.sent} requests within "
                                       f"{self.args.wait_seconds} s")
                self.sleep(max(0.0, min(self.POLL_S, stop - self.clock())))
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        return self._health()


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind, *, low=None, high=None, low_open=False):
    """An argparse type: `kind` parses, then finite and within [low, high] (low excluded when low_open)."""
    import math

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low}: {text!r}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}: {text!r}")
        return value

    return parse


def _one_of(choices):
    def parse(text: str) -> str:
        if text in choices:
            return text
        raise argparse.ArgumentTypeError(f"choose from {', '.join(sorted(choices))}")
    return parse


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os

    from earlier_days import CANDIDATES

    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--tracking-uri", required=True, help="MLflow tracking and registry URI")
    add("--server-image", required=True, help="the day-03 image to build FROM")
    add("--model-name", default="capstone")
    add("--candidate", default="interactions", type=_one_of(CANDIDATES))
    add("--image-repo", default="katas/capstone-model")
    add("--compose-file", default=os.path.join(here, "docker-compose.yml"))
    add("--project", default="capstone")
    add("--model-port", default=8000, type=_checked(int, low=1, high=65535))
    add("--prometheus-url", default="")
    add("--margin", default=0.01, type=_checked(float, low=0.0))
    add("--slice-tolerance", default=0.05, type=_checked(float, low=0.0))
    add("--requests", default=100, type=_checked(int, low=1))
    add("--rps", default=20.0, type=_checked(float, low=0.0, low_open=True))
    add("--load-seconds", default=30.0, type=_checked(float, low=0.0, low_open=True))
    add("--min-availability", default=0.99, type=_checked(float, low=0.0, high=1.0))
    add("--max-error-ratio", default=0.01, type=_checked(float, low=0.0, high=1.0))
    add("--max-p95-ms", default=500.0, type=_checked(float, low=0.0, low_open=True))
    add("--wait-seconds", default=60.0, type=_checked(float, low=0.0, low_open=True))
    add("--store", default=os.path.join(os.getcwd(), "capstone-metrics.db"))
    add("--label", default=[], action="append", type=_key_value, metavar="KEY=VALUE")
    add("--report-json", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json
    from pathlib import Path

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report))
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
