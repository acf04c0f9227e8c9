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
import contextlib
import math
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


class _Stop(Exception):
    """A stage raised; its Stage is already recorded."""


class _Pipeline:
    """One run's state: the report being written and an ExitStack of undo callbacks."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="failed")
        self.undos = contextlib.ExitStack()
        self.undo_errors: list[str] = []
        self.failure = ""

    def call(self, name, fn, *args, accept=None):
        """Time `fn(*args)`; record its Stage (ok unless it raised or `accept` says no)."""
        t0 = self.clock()
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - any failing step fails its stage
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            self.failure = f"{name} failed: {exc}"
            raise _Stop from exc
        ok, detail = accept(value) if accept else (True, "done")
        self.report.stages.append(Stage(name, ok, self.clock() - t0, detail))
        return value

    def on_rollback(self, what: str, fn, *args) -> None:
        def guarded():
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - one undo failing must not stop the others
                self.undo_errors.append(f"undo {what} failed: {exc}")
        self.undos.callback(guarded)

    def roll_back(self) -> None:
        rolled = self.undos.pop_all()
        if not rolled._exit_callbacks:  # nothing was started
            return
        t0 = self.clock()
        rolled.close()
        ok = not self.undo_errors
        detail = "; ".join(self.undo_errors) or "every change undone"
        self.report.stages.append(Stage("rollback", ok, self.clock() - t0, detail))
        if not ok:
            self.report.outcome = "failed"
            self.report.reason = "; ".join(filter(None, [self.report.reason, detail]))


def _gate_accept(gate_report):
    bad = [check.name for check in gate_report.checks if not check.passed]
    return (not bad), ("failed: " + ", ".join(bad) if bad else "passed")


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    pipe = _Pipeline(steps, clock)
    rep = pipe.report
    try:
        cand = pipe.call("train", steps.train)
        g = pipe.call("gate", steps.gate, cand, accept=_gate_accept)
        rep.previous = g.champion
        if not g.passed:
            rep.outcome = "rejected"
            rep.reason = "gate " + rep.stages[-1].detail
        else:
            rep.version = pipe.call("register", steps.register, g)
            pipe.on_rollback("set_champion", steps.set_champion, rep.previous)
            pipe.call("package", steps.package, rep.version)
            pipe.on_rollback("remove_image", steps.remove_image, rep.version)
            if rep.previous is None:
                pipe.on_rollback("undeploy", steps.undeploy)
            else:
                pipe.on_rollback("deploy", steps.deploy, rep.previous)
            url = pipe.call("deploy", steps.deploy, rep.version)
            result = pipe.call("load", steps.load, url)
            verdict = pipe.call("monitor", steps.monitor, url, result,
                                accept=lambda v: (bool(v.healthy), v.reason))
            if verdict.healthy:
                rep.outcome, rep.reason = "promoted", ""
                pipe.undos.pop_all()
            else:
                rep.outcome, rep.reason = "rolled_back", "monitor: " + verdict.reason
                pipe.roll_back()
    except _Stop:
        rep.outcome, rep.reason = "failed", pipe.failure
        pipe.roll_back()
    try:
        rep.serving = steps.serving()
    except Exception:  # noqa: BLE001
        rep.serving = None
    return rep


def _one_line(text) -> str:
    """A detail or reason on one line: an error's output (docker's) may span several."""
    return " ".join(str(text).split())


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    out = []
    for s in report.stages:
        out.append("{} [{}] {:.2f}s {}".format(s.name, "ok" if s.ok else "FAILED", s.seconds, _one_line(s.detail)))
    out.append("outcome: {} | version={} previous={} serving={} exit={}{}".format(
        report.outcome, report.version, report.previous, report.serving, report.exit_code,
        f" | {_one_line(report.reason)}" if report.reason else ""))
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _is_real(x) -> bool:
    return (isinstance(x, numbers.Real) and not isinstance(x, bool)) and math.isfinite(x)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError("requests must be an int of at least 1")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not (_is_real(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    t0 = clock()
    stop_at = t0 + deadline_s
    outcomes: list[bool] = []
    while len(outcomes) < requests:
        due = t0 + len(outcomes) / rps
        if due >= stop_at:
            break
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        if clock() >= stop_at:
            break
        outcomes.append(probe() is not None)
    good = sum(outcomes)
    return LoadResult(sent=len(outcomes), ok=good, failed=len(outcomes) - good)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    availability = ok / sent if sent > 0 else math.nan
    signals = [
        ("availability", availability, lambda v: v >= min_availability, f">= {min_availability}"),
        ("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"),
        ("5xx", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}"),
    ]
    failing = [f"{word} {value} (wanted {limit})" for word, value, within, limit in signals
               if value is not None and not within(value)]
    if failing:
        return Verdict(healthy=False, reason=", ".join(failing))
    return Verdict(healthy=True, reason="all signals within their limits")


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


def _dockerfile_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus.
    Images are tagged `<image_repo>:v<version>` and serve MODEL_VERSION `v<version>`. Every `docker`
    and `docker-compose` command goes through `runner(argv, env=..., timeout=...)`; every wait reads
    `clock` and pauses with `sleep` (the tests pass fakes of all three)."""

    TIMEOUTS = {"build": 900, "compose": 180, "docker": 60}
    POLL_S = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began_at = None  # epoch seconds, the store's clock

    # helpers
    def _tag(self, version) -> str:
        return "{}:v{}".format(self.args.image_repo, version)

    def _env(self, **extra) -> dict:
        import os

        env = dict(os.environ)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def _compose(self, *words, **variables) -> None:
        env = self._env(COMPOSE_FILE=str(self.args.compose_file), COMPOSE_PROJECT_NAME=self.args.project,
                        MODEL_PORT=self.args.model_port, **variables)
        self.runner(["docker-compose", *words], env=env, timeout=self.TIMEOUTS["compose"])

    def _http(self):
        import requests

        return requests

    def _base(self) -> str:
        return "http://localhost:{}".format(self.args.model_port)

    def _split(self):
        from earlier_days import make_data

        return make_data()

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.args.tracking_uri, self.args.tracking_uri)

    # MLflow
    def train(self) -> str:
        import mlflow
        from earlier_days import CANDIDATES

        X_train, _, y_train, _ = self._split()
        estimator = CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        client = self._client()
        found = client.get_experiment_by_name(self.args.model_name)
        experiment_id = found.experiment_id if found else client.create_experiment(self.args.model_name)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id):
            logged = mlflow.sklearn.log_model(estimator, name="candidate", input_example=X_train.head(5))
        return logged.model_uri

    def gate(self, candidate: str):
        from earlier_days import gate

        _, X_test, _, y_test = self._split()
        return gate.run_gate(tracking_uri=self.args.tracking_uri, model_name=self.args.model_name,
                             candidate_uri=candidate, X=X_test, y=y_test, slice_by="segment", metric="roc_auc",
                             margin=self.args.margin, slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        from earlier_days import gate

        return str(gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        from earlier_days import gate

        if version is not None:
            self._client().set_registered_model_alias(self.args.model_name, gate.CHAMPION, str(version))
        else:
            self._client().delete_registered_model_alias(self.args.model_name, gate.CHAMPION)

    # images
    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import mlflow.sklearn
        import skops.io

        source = self._client().get_model_version_download_uri(self.args.model_name, str(version))
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model(source)
        tag = self._tag(version)
        with tempfile.TemporaryDirectory() as folder:
            ctx = Path(folder)
            skops.io.dump(model, str(ctx / "model.skops"))
            lines = ["FROM " + self.args.server_image,
                     "COPY model.skops /srv/model/model.skops",
                     "ENV MODEL_PATH=/srv/model/model.skops",
                     "ENV MODEL_VERSION=v{}".format(version)]
            for item in self.args.label:
                key, _, value = item.partition("=")
                lines.append("LABEL {}={}".format(_dockerfile_quote(key), _dockerfile_quote(value)))
            (ctx / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.runner(["docker", "image", "build", "-t", tag, "-f", str(ctx / "Dockerfile"), str(ctx)],
                        env=self._env(), timeout=self.TIMEOUTS["build"])
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self._tag(version)], env=self._env(), timeout=self.TIMEOUTS["docker"])

    # the service
    def _ask(self, path: str):
        try:
            return self._http().get(self._base() + path, timeout=2)
        except Exception:  # noqa: BLE001 - nothing answering is an answer too
            return None

    def deploy(self, version: str) -> str:
        self._compose("up", "--detach", "--no-deps", SERVICE, MODEL_IMAGE=self._tag(version))
        give_up_at = self.clock() + self.args.wait_seconds
        want = "v" + str(version)
        seen = None
        while self.clock() < give_up_at:
            seen = self.serving()
            if seen == want:
                ready = self._ask("/ready")
                if ready is not None and ready.status_code == 200:
                    return self._base()
            self.sleep(max(0.0, min(self.POLL_S, give_up_at - self.clock())))
        raise TimeoutError(f"{want} not ready after {self.args.wait_seconds} s (last seen serving {seen!r})")

    def undeploy(self) -> None:
        self._compose("stop", SERVICE)
        self._compose("rm", "-f", SERVICE)

    def serving(self) -> str | None:
        answer = self._ask("/health")
        if answer is None or answer.status_code != 200:
            return None
        try:
            return answer.json().get("model_version")
        except ValueError:
            return None

    # load and monitor
    def _store(self):
        from earlier_days import monitoring

        return monitoring.ModelPerformanceMonitor(str(self.args.store))

    def load(self, url: str) -> LoadResult:
        import itertools

        X_test = self._split()[1]
        rows = itertools.cycle([[float(v) for v in row] for row in X_test.itertuples(index=False)])
        store = self._store()
        self._load_began_at = store.clock()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _p95(self):
        import numpy as np

        store = self._store()
        since = self._load_began_at
        samples = store.get_recent_metrics("latency_ms", hours=24)
        values = [s["value"] for s in samples if since is None or s["timestamp"] >= since]
        return float(np.percentile(values, 95)) if values else None

    def _promql(self, query: str):
        answer = self._http().get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": query},
                                  timeout=3)
        answer.raise_for_status()
        return answer.json()["data"]["result"]

    def _server_error_ratio(self, sent: int) -> float:
        predicts = 'model_requests_total{endpoint="/predict"}'
        give_up_at = self.clock() + self.args.wait_seconds
        counted = None
        while True:
            try:
                total = self._promql(f"sum({predicts})")
                counted = float(total[0]["value"][1]) if total else 0.0
            except Exception:  # noqa: BLE001 - Prometheus not answering is waited for too
                counted = None
            if counted is not None and counted >= sent:
                ratio = self._promql(f'sum({predicts[:-1]},status=~"5.."}}) or vector(0)')
                return float(ratio[0]["value"][1]) / counted
            if self.clock() >= give_up_at:
                raise TimeoutError(f"Prometheus counted {counted} of the {sent} requests sent "
                                   f"within {self.args.wait_seconds} s")
            self.sleep(max(0.0, min(self.POLL_S, give_up_at - self.clock())))

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        ratio = self._server_error_ratio(load.sent) if self.args.prometheus_url else None
        return judge(sent=load.sent, ok=load.ok, p95_ms=self._p95(), error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _checked(convert, ok, what):
    def parse(text):
        try:
            value = convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    parse.__name__ = what
    return parse


_finite = math.isfinite
POSITIVE = _checked(float, lambda v: _finite(v) and v > 0, "a positive finite number")
NON_NEGATIVE = _checked(float, lambda v: _finite(v) and v >= 0, "a finite number >= 0")
UNIT = _checked(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1")
AT_LEAST_ONE = _checked(int, lambda v: v >= 1, "an integer >= 1")
PORT = _checked(int, lambda v: 0 < v < 65536, "a TCP port (1-65535)")
LABEL = _checked(str, lambda v: v.partition("=")[1] == "=" and v.partition("=")[0] != "", "KEY=VALUE")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import pathlib

    from earlier_days import CANDIDATES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    table = [
        ("--tracking-uri", dict(required=True, help="MLflow tracking and registry URI")),
        ("--server-image", dict(required=True, help="the day-03 image to build FROM")),
        ("--model-name", dict(default="capstone")),
        ("--candidate", dict(default="interactions", choices=sorted(CANDIDATES))),
        ("--image-repo", dict(default="katas/capstone-model")),
        ("--compose-file", dict(type=pathlib.Path,
                                default=pathlib.Path(__file__).resolve().with_name("docker-compose.yml"))),
        ("--project", dict(default="capstone")),
        ("--model-port", dict(type=PORT, default=8000)),
        ("--prometheus-url", dict(default="")),
        ("--margin", dict(type=NON_NEGATIVE, default=0.01)),
        ("--slice-tolerance", dict(type=NON_NEGATIVE, default=0.05)),
        ("--requests", dict(type=AT_LEAST_ONE, default=100)),
        ("--rps", dict(type=POSITIVE, default=20.0)),
        ("--load-seconds", dict(type=POSITIVE, default=30.0)),
        ("--min-availability", dict(type=UNIT, default=0.99)),
        ("--max-error-ratio", dict(type=UNIT, default=0.01)),
        ("--max-p95-ms", dict(type=POSITIVE, default=500.0)),
        ("--wait-seconds", dict(type=POSITIVE, default=60.0)),
        ("--store", dict(type=pathlib.Path, default=pathlib.Path("capstone-metrics.db"))),
        ("--label", dict(type=LABEL, action="append", default=[], metavar="KEY=VALUE")),
        ("--report-json", dict(type=pathlib.Path, default=None)),
    ]
    for flag, options in table:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report) + "\n")
    sys.stdout.flush()
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report.to_dict(), handle, indent=1)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
