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
import functools
import io
import itertools
import json
import math
import numbers
import os
import pathlib
import re
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
    """A stage raised; its Stage is already recorded."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


class _Pipeline:
    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="promoted")
        self.undo = collections.deque()  # newest first

    def timed(self, name, fn, *args, judge_ok=lambda value: (True, "")):
        t0 = self.clock()
        try:
            value = fn(*args)
        except Exception as error:  # noqa: BLE001 - any error fails the stage
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(error)))
            raise _Abort(name, error) from error
        ok, detail = judge_ok(value)
        self.report.stages.append(Stage(name, ok, self.clock() - t0, detail or repr(value)))
        return value

    def roll_back(self) -> list[str]:
        if not self.undo:
            return []
        t0 = self.clock()
        problems = []
        while self.undo:
            label, fn = self.undo.popleft()
            try:
                fn()
            except Exception as error:  # noqa: BLE001
                problems.append(f"{label} -> {error!r}")
        self.report.stages.append(Stage("rollback", not problems, self.clock() - t0,
                                        "; ".join(problems) or "everything undone"))
        return problems

    def go(self) -> Report:
        s, r = self.steps, self.report
        candidate = self.timed("train", s.train)
        g = self.timed("gate", s.gate, candidate, judge_ok=lambda g: (
            g.passed, "failed checks: " + ", ".join(c.name for c in g.checks if not c.passed) if not g.passed
            else "all checks passed"))
        r.previous = g.champion
        if not g.passed:
            r.outcome, r.reason = "rejected", r.stages[-1].detail
            return r
        prev = g.champion
        r.version = self.timed("register", s.register, g)
        self.undo.appendleft(("champion", functools.partial(s.set_champion, prev)))
        self.timed("package", s.package, r.version)
        self.undo.appendleft(("image", functools.partial(s.remove_image, r.version)))
        self.undo.appendleft(("service", s.undeploy if prev is None else functools.partial(s.deploy, prev)))
        url = self.timed("deploy", s.deploy, r.version)
        result = self.timed("load", s.load, url)
        verdict = self.timed("monitor", s.monitor, url, result, judge_ok=lambda v: (v.healthy, v.reason))
        if verdict.healthy:
            self.undo.clear()
            return r
        problems = self.roll_back()
        r.outcome = "failed" if problems else "rolled_back"
        r.reason = verdict.reason + "".join(f"; undo failed: {p}" for p in problems)
        return r


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    pipeline = _Pipeline(steps, clock)
    try:
        report = pipeline.go()
    except _Abort as abort:
        report = pipeline.report
        report.outcome = "failed"
        report.reason = f"{abort.stage} failed: {abort.error}"
        for problem in pipeline.roll_back():
            report.reason += f"; undo failed: {problem}"
    try:
        report.serving = steps.serving()
    except Exception:  # noqa: BLE001
        report.serving = None
    return report


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    flat = lambda text: re.sub(r"[\r\n]+", " / ", text)  # noqa: E731
    out = io.StringIO()
    for s in report.stages:
        out.write("%s %s %.3fs %s\n" % (s.name, "ok" if s.ok else "FAILED", s.seconds, flat(s.detail)))
    out.write("outcome: %s exit=%d %s" % (report.outcome, report.exit_code, flat(report.reason)))
    return out.getvalue()


# --- task 2: the load and the decision ---------------------------------------------------


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError("requests: an int >= 1")
    if not (_is_real(rps) and _is_real(deadline_s)):
        raise ValueError("rps and deadline_s: positive finite numbers")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    t0 = clock()
    stop_at = t0 + deadline_s
    answers = []
    for i in itertools.count():
        if i == requests:
            break
        due = t0 + i / rps
        if due >= stop_at:
            break
        gap = due - clock()
        if gap > 0:
            sleep(gap)
        if clock() - t0 >= deadline_s:
            break
        answers.append(probe() is not None)
    return LoadResult(len(answers), sum(answers), answers.count(False))


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    availability = ok / sent if sent > 0 else float("nan")
    table = [("availability", availability, lambda v: v >= min_availability, f">= {min_availability}"),
             ("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"),
             ("5xx", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}")]
    bad = [f"{name} {value} not {limit}" for name, value, within, limit in table
           if value is not None and not within(value)]
    if bad:
        return Verdict(False, "; ".join(bad))
    return Verdict(True, "; ".join(f"{name} {value}" for name, value, _, _ in table if value is not None))


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
    """The README's steps with real tools (the `requests` library for HTTP)."""

    TIMEOUT = (2.0, 4.0)  # connect, read
    CMD_TIMEOUT = 900

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.load_window: tuple[float, float] | None = None

    def _tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _url(self, path: str = "") -> str:
        return "http://localhost:%d%s" % (self.args.model_port, path)

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def train(self) -> str:
        import earlier_days
        import mlflow

        X_train, _, y_train, _ = earlier_days.make_data()
        estimator = earlier_days.CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        client = self._client()
        found = client.get_experiment_by_name(self.args.model_name)
        experiment_id = found.experiment_id if found else client.create_experiment(self.args.model_name)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id) as active:
            mlflow.sklearn.log_model(estimator, name="model", input_example=X_train.head(3))
            run_id = active.info.run_id
        return f"runs:/{run_id}/model"

    def gate(self, candidate: str):
        from earlier_days import gate, make_data

        data = make_data()
        return gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, data[1], data[3],
                             slice_by="segment", metric="roc_auc", margin=self.args.margin,
                             slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        from earlier_days import gate

        return str(gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        from earlier_days import gate

        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, gate.CHAMPION, version)
            return
        from mlflow.exceptions import MlflowException

        try:
            client.delete_registered_model_alias(self.args.model_name, gate.CHAMPION)
        except MlflowException:
            pass  # no alias: nothing to remove

    def package(self, version: str) -> str:
        import shutil
        import tempfile

        import mlflow
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        folder = tempfile.mkdtemp(prefix="capstone-")
        try:
            with open(os.path.join(folder, "model.skops"), "wb") as out:
                out.write(skops.io.dumps(model))
            os.chmod(os.path.join(folder, "model.skops"), 0o644)
            labels = "".join("LABEL %s=%s\n" % (json.dumps(k, ensure_ascii=False).replace("$", "\\$"),
                                                  json.dumps(v, ensure_ascii=False).replace("$", "\\$"))
                             for k, _, v in (text.partition("=") for text in self.args.label))
            dockerfile = ("FROM %s\nCOPY model.skops /models/model.skops\nENV MODEL_PATH=/models/model.skops\n"
                          "ENV MODEL_VERSION=v%s\n%s" % (self.args.server_image, version, labels))
            with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as out:
                out.write(dockerfile)
            self.runner(["docker", "build", "-t", self._tag(version), folder], env=dict(os.environ),
                        timeout=self.CMD_TIMEOUT)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self._tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", "-f", self._tag(version)], env=dict(os.environ), timeout=120)

    def _compose(self, *words, extra=None):
        env = dict(os.environ, COMPOSE_PROJECT_NAME=self.args.project, MODEL_PORT=str(self.args.model_port))
        env.update(extra or {})
        return self.runner(["docker-compose", "-f", str(self.args.compose_file), *words], env=env,
                           timeout=self.CMD_TIMEOUT)

    def deploy(self, version: str) -> str:
        import requests

        self._compose("up", "--detach", "--no-deps", "model", extra={"MODEL_IMAGE": self._tag(version)})
        give_up = self.clock() + self.args.wait_seconds
        want = "v%s" % version
        while self.clock() < give_up:
            if self.serving() == want:
                try:
                    if requests.get(self._url("/ready"), timeout=self.TIMEOUT).status_code == 200:
                        return self._url()
                except requests.RequestException:
                    pass
            self.sleep(0.25)
        raise TimeoutError("%s did not serve and become ready within %ss" % (want, self.args.wait_seconds))

    def undeploy(self) -> None:
        self._compose("stop", "model")
        self._compose("rm", "-f", "model")

    def serving(self) -> str | None:
        import requests

        try:
            answer = requests.get(self._url("/health"), timeout=self.TIMEOUT)
            return answer.json().get("model_version")
        except (requests.RequestException, ValueError, AttributeError):
            return None

    def load(self, url: str) -> LoadResult:
        import earlier_days

        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        counter = itertools.count()

        def probe():
            row = rows[next(counter) % len(rows)]
            return store.check_model_latency(url, {"features": [row]})

        began = time.time()
        result = put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                          clock=self.clock, sleep=self.sleep)
        self.load_window = (began, time.time())
        return result

    def _p95(self) -> float | None:
        import earlier_days

        began = self.load_window[0] if self.load_window else time.time()
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        values = sorted(row["value"] for row in store.get_recent_metrics("latency_ms", hours=24 * 366)
                        if row["timestamp"] >= began)
        if not values:
            return None
        return values[math.ceil(0.95 * len(values)) - 1]  # nearest rank

    def _predict_counts(self) -> dict[str, float]:
        import requests

        answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                              params={"query": 'sum by (status) (model_requests_total{endpoint="/predict"})'},
                              timeout=self.TIMEOUT)
        answer.raise_for_status()
        return {item["metric"].get("status", ""): float(item["value"][1]) for item in answer.json()["data"]["result"]}

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        p95 = self._p95()
        ratio = None
        if self.args.prometheus_url:
            give_up = self.clock() + self.args.wait_seconds
            counts: dict[str, float] = {}
            while True:
                try:
                    counts = self._predict_counts()
                except Exception:  # noqa: BLE001 - a Prometheus that does not answer is waited for
                    counts = {}
                if counts and sum(counts.values()) >= load.sent:
                    break
                if self.clock() >= give_up:
                    raise RuntimeError("Prometheus did not count the load's %d requests within %ss"
                                       % (load.sent, self.args.wait_seconds))
                self.sleep(0.5)
            total = sum(counts.values())
            ratio = sum(n for status, n in counts.items() if status.startswith("5") and len(status) == 3) / total
        a = self.args
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio, min_availability=a.min_availability,
                     max_p95_ms=a.max_p95_ms, max_error_ratio=a.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------

_CHECKS = {
    # dest: (converter, predicate, what)
    "model_port": (int, lambda v: 1 <= v <= 65535, "an int from 1 to 65535"),
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
_DEFAULTS = {"model_port": "8000", "requests": "100", "margin": "0.01", "slice_tolerance": "0.05", "rps": "20",
             "load_seconds": "30", "max_p95_ms": "500", "wait_seconds": "60", "min_availability": "0.99",
             "max_error_ratio": "0.01"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import earlier_days

    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    parser.add_argument("--model-name", default="capstone")
    parser.add_argument("--candidate", default="interactions", choices=sorted(earlier_days.CANDIDATES))
    parser.add_argument("--image-repo", default="katas/capstone-model")
    parser.add_argument("--compose-file", default=str(here / "docker-compose.yml"))
    parser.add_argument("--project", default="capstone")
    parser.add_argument("--prometheus-url", default="")
    for dest, text in _DEFAULTS.items():
        parser.add_argument("--" + dest.replace("_", "-"), default=text)
    parser.add_argument("--store", default="capstone-metrics.db")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--report-json", default=None)
    args = parser.parse_args(argv)
    for dest, (convert, ok, what) in _CHECKS.items():
        flag = "--" + dest.replace("_", "-")
        raw = getattr(args, dest)
        try:
            value = convert(raw)
        except (TypeError, ValueError):
            parser.error("argument %s: %r is not %s" % (flag, raw, what))
        if not ok(value):
            parser.error("argument %s: %r is not %s" % (flag, raw, what))
        setattr(args, dest, value)
    for text in args.label:
        if not text.partition("=")[0] or "=" not in text:
            parser.error("argument --label: %r is not KEY=VALUE" % text)
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report) + "\n")
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
