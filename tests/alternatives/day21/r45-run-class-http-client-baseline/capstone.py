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


class _Stop(Exception):
    """A stage failed; the run stops."""


class _Run:
    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="promoted")
        self.undo_stack: list[tuple[str, Callable[[], None]]] = []

    @contextlib.contextmanager
    def timed(self, name: str):
        box = {"ok": True, "detail": ""}
        t0 = self.clock()
        try:
            yield box
        except Exception as exc:  # noqa: BLE001
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            self.report.outcome = "failed"
            self.report.reason = f"{name} failed: {exc}"
            raise _Stop from exc
        t1 = self.clock()
        self.report.stages.append(Stage(name, box["ok"], t1 - t0, box["detail"]))

    def rollback(self) -> None:
        if not self.undo_stack:
            return
        t0 = self.clock()
        problems = []
        for label, action in reversed(self.undo_stack):
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{label} failed: {exc}")
        self.undo_stack.clear()
        self.report.stages.append(Stage("rollback", not problems, self.clock() - t0,
                                        " / ".join(problems) or "every change undone"))
        if problems:
            self.report.outcome = "failed"
            self.report.reason = " / ".join(filter(None, [self.report.reason, *problems]))

    def go(self) -> Report:
        s, r = self.steps, self.report
        try:
            with self.timed("train") as box:
                candidate = s.train()
                box["detail"] = f"candidate {candidate}"
            with self.timed("gate") as box:
                verdict = s.gate(candidate)
                r.previous = verdict.champion
                if not verdict.passed:
                    names = [check.name for check in verdict.checks if not check.passed]
                    box["ok"], box["detail"] = False, "rejected by " + ", ".join(names)
                else:
                    box["detail"] = f"better than {verdict.champion}"
            if not verdict.passed:
                r.outcome, r.reason = "rejected", r.stages[-1].detail
                return r
            prev = r.previous
            with self.timed("register") as box:
                r.version = s.register(verdict)
                box["detail"] = f"v{r.version}"
            version = r.version
            self.undo_stack.append(("set_champion", lambda: s.set_champion(prev)))
            with self.timed("package") as box:
                box["detail"] = str(s.package(version))
            self.undo_stack.append(("remove_image", lambda: s.remove_image(version)))
            self.undo_stack.append(("deploy previous", (lambda: s.deploy(prev)) if prev is not None else s.undeploy))
            with self.timed("deploy") as box:
                url = s.deploy(version)
                box["detail"] = str(url)
            with self.timed("load") as box:
                result = s.load(url)
                box["detail"] = repr(result)
            with self.timed("monitor") as box:
                health = s.monitor(url, result)
                box["ok"], box["detail"] = bool(health.healthy), health.reason
            if health.healthy:
                r.outcome, r.reason = "promoted", ""
            else:
                r.outcome, r.reason = "rolled_back", f"unhealthy: {health.reason}"
                self.rollback()
        except _Stop:
            self.rollback()
        finally:
            try:
                r.serving = s.serving()
            except Exception:  # noqa: BLE001
                r.serving = None
        return r


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    return _Run(steps, clock).go()


_BREAKS = re.compile(r"\r\n|\r|\n|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    flat = lambda text: _BREAKS.sub(" \u23ce ", str(text))  # noqa: E731
    out = []
    for st in report.stages:
        out.append("{:<9}{:>7} {:>9.3f}s  {}".format(st.name, "ok" if st.ok else "FAILED", st.seconds, flat(st.detail)))
    out.append(f"outcome: {report.outcome}  exit={report.exit_code}  version={report.version}  "
               f"serving={report.serving}  {flat(report.reason)}")
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _number(x, name):
    if isinstance(x, (bool,)) or not isinstance(x, numbers.Real) or not math.isfinite(x) or not x > 0:
        raise ValueError(f"{name} must be a positive finite number, not {x!r}")
    return float(x)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is bool or not isinstance(requests, numbers.Integral) or not requests >= 1:
        raise ValueError(f"requests must be an int >= 1, not {requests!r}")
    interval = 1.0 / _number(rps, "rps")
    window = _number(deadline_s, "deadline_s")
    t0 = clock()
    stop_at = t0 + window
    answered = i = 0
    while i < requests:
        due = t0 + i * interval
        current = clock()
        if due >= stop_at or current >= stop_at:
            break
        pause = due - current
        if pause > 0:
            sleep(pause)
            if clock() >= stop_at:
                break
        i += 1
        answered += probe() is not None
    return LoadResult(sent=i, ok=answered, failed=i - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    table = [("availability", (ok / sent) if sent > 0 else math.nan, lambda v: v >= min_availability,
              f">= {min_availability}")]
    if p95_ms is not None:
        table.append(("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"))
    if error_ratio is not None:
        table.append(("5xx", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}"))
    broken = [f"{name} {value!r} not {want}" for name, value, ok_, want in table if not bool(ok_(value))]
    return Verdict(healthy=len(broken) == 0, reason="; ".join(broken) if broken else "all signals within limits")


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


class _Http:
    """Small GETs with a hard timeout (http.client)."""

    TIMEOUT = 4.0

    @staticmethod
    def get(url: str) -> tuple[int, bytes]:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=_Http.TIMEOUT)
        try:
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus."""

    DOCKER_TIMEOUT = 900

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.load_started_at = None   # wall time, to pick this load's samples from the store
        self.baseline = (0.0, 0.0)    # Prometheus' /predict counts (all, 5xx) just before the load

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:%d" % int(self.args.model_port)

    def tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _data(self):
        import earlier_days

        return earlier_days.make_data()

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _compose(self, words, extra_env=None):
        import os

        env = dict(os.environ)
        env.update(extra_env or {})
        return self.runner(["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project] + list(words),
                           env=env, timeout=self.DOCKER_TIMEOUT)

    def _wait(self, what: str, predicate) -> None:
        limit = float(self.args.wait_seconds)
        began = self.clock()
        while not predicate():
            spent = self.clock() - began
            if spent >= limit:
                raise TimeoutError(f"{what}: not within --wait-seconds {limit:g}")
            self.sleep(min(0.25, limit - spent))

    def train(self) -> str:
        import mlflow
        from mlflow.models.signature import infer_signature

        import earlier_days

        X_train, _, y_train, _ = self._data()
        fitted = earlier_days.CANDIDATES[self.args.candidate]()
        fitted.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            logged = mlflow.sklearn.log_model(fitted, name="candidate",
                                              signature=infer_signature(X_train, fitted.predict_proba(X_train)))
        return logged.model_uri

    def gate(self, candidate: str):
        import earlier_days

        _, X_test, _, y_test = self._data()
        return earlier_days.gate.run_gate(
            tracking_uri=self.args.tracking_uri, model_name=self.args.model_name, candidate_uri=candidate,
            X=X_test, y=y_test, slice_by="segment", metric="roc_auc", margin=self.args.margin,
            slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return f"{earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report)}"

    def set_champion(self, version: str | None) -> None:
        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, "champion", version)
            return
        client.delete_registered_model_alias(self.args.model_name, "champion")

    def package(self, version: str) -> str:
        import shutil
        import tempfile
        from pathlib import Path

        import mlflow.sklearn
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        where = Path(tempfile.mkdtemp(prefix="pkg-"))
        try:
            skops.io.dump(model, where / "model.skops")
            lines = [f"FROM {self.args.server_image}",
                     "COPY model.skops /srv/model/model.skops",
                     "ENV MODEL_PATH=/srv/model/model.skops",
                     f"ENV MODEL_VERSION=v{version}"]
            (where / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            command = ["docker", "build", "-t", self.tag(version)]
            command += [f"--label={label}" for label in self.args.label]
            command += ["-f", str(where / "Dockerfile"), str(where)]
            self.runner(command, env=None, timeout=self.DOCKER_TIMEOUT)
        finally:
            shutil.rmtree(where, ignore_errors=True)
        return self.tag(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self.tag(version)], env=None, timeout=self.DOCKER_TIMEOUT)

    def deploy(self, version: str) -> str:
        self._compose(["up", "--detach", "--no-deps", SERVICE],
                      {"MODEL_IMAGE": self.tag(version), "MODEL_PORT": f"{self.args.model_port}"})

        def ready() -> bool:
            if self.serving() != f"v{version}":
                return False
            try:
                return _Http.get(self.base_url + "/ready")[0] == 200
            except OSError:
                return False

        self._wait(f"v{version} serving and ready on {self.base_url}", ready)
        return self.base_url

    def undeploy(self) -> None:
        self._compose(["stop", SERVICE])
        self._compose(["rm", "-f", SERVICE])

    def _rows(self):
        X_test = self._data()[1]
        n = len(X_test)
        i = 0
        while True:
            yield [float(v) for v in X_test.iloc[i % n].tolist()]
            i += 1

    def load(self, url: str) -> LoadResult:
        import earlier_days

        if self.args.prometheus_url:
            try:
                self.baseline = self._counts()
            except Exception:  # noqa: BLE001
                self.baseline = (0.0, 0.0)
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = self._rows()
        self.load_started_at = time.time() - 0.5
        return put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _query(self, promql: str) -> float:
        import json
        from urllib.parse import urlencode

        status, body = _Http.get(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?{urlencode({'query': promql})}")
        if status != 200:
            raise OSError(f"Prometheus: HTTP {status}")
        data = json.loads(body)["data"]["result"]
        return sum(float(item["value"][1]) for item in data)

    def _counts(self) -> tuple[float, float]:
        every = self._query('model_requests_total{endpoint="/predict"}')
        server = self._query('model_requests_total{endpoint="/predict",status=~"5[0-9][0-9]"}')
        return every, server

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        import earlier_days

        p95 = None
        if self.load_started_at is not None:
            store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
            samples = [s["value"] for s in store.get_recent_metrics("latency_ms", hours=24)
                       if s["timestamp"] >= self.load_started_at]
            if samples:
                p95 = float(np.percentile(samples, 95))
        ratio = None
        if self.args.prometheus_url:
            seen = {}

            def counted() -> bool:
                try:
                    seen["counts"] = self._counts()
                except Exception:  # noqa: BLE001
                    return False
                return seen["counts"][0] - self.baseline[0] >= load.sent

            try:
                self._wait("Prometheus counting the load", counted)
            except TimeoutError as exc:
                return Verdict(False, f"5xx share unknown: {exc}")
            total = seen["counts"][0] - self.baseline[0]
            ratio = (seen["counts"][1] - self.baseline[1]) / total if total > 0 else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        import json

        try:
            status, body = _Http.get(self.base_url + "/health")
            return json.loads(body).get("model_version") if status == 200 else None
        except Exception:  # noqa: BLE001
            return None


# --- task 3: the command line -------------------------------------------------------------

_FLOAT_RULES = {  # dest -> (test, words)
    "margin": (lambda v: v >= 0, "finite and >= 0"),
    "slice_tolerance": (lambda v: v >= 0, "finite and >= 0"),
    "rps": (lambda v: v > 0, "positive and finite"),
    "load_seconds": (lambda v: v > 0, "positive and finite"),
    "max_p95_ms": (lambda v: v > 0, "positive and finite"),
    "wait_seconds": (lambda v: v > 0, "positive and finite"),
    "min_availability": (lambda v: 0 <= v <= 1, "between 0 and 1"),
    "max_error_ratio": (lambda v: 0 <= v <= 1, "between 0 and 1"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os

    import earlier_days

    parser = argparse.ArgumentParser(description="Train, gate, register, package, deploy, load, monitor, roll back.")
    add = parser.add_argument
    add("--tracking-uri", required=True)
    add("--server-image", required=True)
    add("--model-name", default="capstone")
    add("--candidate", default="interactions", choices=sorted(earlier_days.CANDIDATES))
    add("--image-repo", default="katas/capstone-model")
    add("--compose-file", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml"))
    add("--project", default="capstone")
    add("--model-port", default="8000")
    add("--prometheus-url", default="")
    add("--requests", default="100")
    for dest, default in (("margin", "0.01"), ("slice_tolerance", "0.05"), ("rps", "20"), ("load_seconds", "30"),
                          ("min_availability", "0.99"), ("max_error_ratio", "0.01"), ("max_p95_ms", "500"),
                          ("wait_seconds", "60")):
        add("--" + dest.replace("_", "-"), dest=dest, default=default)
    add("--store", default="capstone-metrics.db")
    add("--label", action="append", default=[])
    add("--report-json", default=None)
    args = parser.parse_args(argv)

    for dest, (test, words) in _FLOAT_RULES.items():
        flag = "--" + dest.replace("_", "-")
        try:
            value = float(getattr(args, dest))
        except ValueError:
            parser.error(f"argument {flag}: {getattr(args, dest)!r} is not a number")
        if not (math.isfinite(value) and test(value)):
            parser.error(f"argument {flag}: must be {words}, got {getattr(args, dest)!r}")
        setattr(args, dest, value)
    for dest, low, high in (("model_port", 1, 65535), ("requests", 1, None)):
        flag = "--" + dest.replace("_", "-")
        text = getattr(args, dest)
        if not re.fullmatch(r"[+]?\d+", str(text).strip()) or int(text) < low or (high and int(text) > high):
            parser.error(f"argument {flag}: must be an integer {low}-{high or 'and more'}, got {text!r}")
        setattr(args, dest, int(text))
    for label in args.label:
        if "=" not in label or label.startswith("="):
            parser.error(f"argument --label: KEY=VALUE with a non-empty KEY, got {label!r}")
    args.store = os.path.abspath(args.store)
    args.compose_file = os.path.abspath(args.compose_file)
    if args.report_json is not None:
        args.report_json = os.path.abspath(args.report_json)
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json
    from pathlib import Path

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report) + "\n")
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
