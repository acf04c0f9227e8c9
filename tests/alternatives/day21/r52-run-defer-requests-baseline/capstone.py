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
    """A stage raised: the run stops, what was done is undone."""


class _Run:
    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="failed")
        self.deferred: list[tuple[str, Callable[[], object]]] = []

    def timed(self, name, call, *args):
        t0 = self.clock()
        try:
            value = call(*args)
        except Exception as exc:  # noqa: BLE001
            seconds = self.clock() - t0
            self.report.stages.append(Stage(name, False, seconds, f"{type(exc).__name__}: {exc}"))
            self.report.reason = f"{name} failed: {exc}"
            raise _Abort from exc
        return value, self.clock() - t0

    def record(self, name, ok, seconds, detail) -> None:
        self.report.stages.append(Stage(name, ok, seconds, detail))

    def defer(self, what: str, action) -> None:
        self.deferred.append((what, action))

    def rollback(self) -> bool:
        if not self.deferred:
            return True
        t0 = self.clock()
        problems = []
        for what, action in reversed(self.deferred):
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"undo {what} raised {type(exc).__name__}: {exc}")
        self.deferred = []
        self.record("rollback", not problems, self.clock() - t0, "; ".join(problems) or "every undo ran")
        if problems:
            self.report.reason = "; ".join(filter(None, [self.report.reason, *problems]))
        return not problems


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    r = _Run(steps, clock)
    rep = r.report
    try:
        uri, s = r.timed("train", steps.train)
        r.record("train", True, s, f"candidate {uri}")
        gate, s = r.timed("gate", steps.gate, uri)
        rep.previous = gate.champion
        if not gate.passed:
            bad = "; ".join(f"{c.name}: {c.message}" if c.message else c.name for c in gate.checks if not c.passed)
            r.record("gate", False, s, f"failed checks {bad}")
            rep.outcome, rep.reason = "rejected", f"gate failed checks {bad}"
            return rep
        r.record("gate", True, s, f"every check passed against champion {gate.champion}")
        prev = gate.champion
        rep.version, s = r.timed("register", steps.register, gate)
        version = rep.version
        r.record("register", True, s, f"registered version {version}, champion moved")
        r.defer(f"set_champion({prev})", lambda: steps.set_champion(prev))
        image, s = r.timed("package", steps.package, version)
        r.record("package", True, s, f"built {image}")
        r.defer(f"remove_image({version})", lambda: steps.remove_image(version))
        r.defer("undeploy()" if prev is None else f"deploy({prev})",
                steps.undeploy if prev is None else (lambda: steps.deploy(prev)))
        url, s = r.timed("deploy", steps.deploy, version)
        r.record("deploy", True, s, f"serving at {url}")
        result, s = r.timed("load", steps.load, url)
        r.record("load", True, s, f"{result.ok}/{result.sent} answered")
        verdict, s = r.timed("monitor", steps.monitor, url, result)
        r.record("monitor", verdict.healthy is True or bool(verdict.healthy), s, verdict.reason or "healthy")
        if verdict.healthy:
            rep.outcome, rep.reason = "promoted", ""
            r.deferred = []
        else:
            rep.reason = verdict.reason
            rep.outcome = "rolled_back" if r.rollback() else "failed"
    except _Abort:
        r.rollback()
        rep.outcome = "failed"
    finally:
        try:
            rep.serving = steps.serving()
        except Exception:  # noqa: BLE001
            rep.serving = None
    return rep


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    import re

    def flat(text: str) -> str:
        return re.sub(r"\s*(?:\r\n|\r|\n|[\v\f\x1c\x1d\x1e\x85\u2028\u2029])\s*", " / ", str(text)).strip(" /")

    out = []
    for st in report.stages:
        out.append("%s %s %.3fs %s" % (st.name, "ok" if st.ok else "FAILED", st.seconds, flat(st.detail)))
    out.append("outcome: %s exit=%d version=%s previous=%s serving=%s%s" % (
        report.outcome, report.exit_code, report.version, report.previous, report.serving,
        f" reason={flat(report.reason)}" if report.reason else ""))
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import math

    import numpy as np

    def is_number(x) -> bool:
        return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))

    if type(requests) is not int or requests < 1:
        raise ValueError("requests must be an int of at least 1")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not is_number(value) or not math.isfinite(value) or not value > 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    rps, deadline_s = float(rps), float(deadline_s)
    start = clock()
    sent = answered = 0
    i = 0
    while i < requests:
        due = i / rps
        if due >= deadline_s:
            break
        now = clock() - start
        if due > now:
            sleep(due - now)
        if clock() - start >= deadline_s:
            break
        latency = probe()
        sent += 1
        if latency is not None and is_number(latency):
            answered += 1
        i += 1
    return LoadResult(sent=sent, ok=answered, failed=sent - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    signals = []  # (within?, text)
    if sent > 0:
        availability = ok / sent
        signals.append((availability >= min_availability, f"availability {availability:.3f} below {min_availability}"))
    else:
        signals.append((False, "availability unknown: nothing was sent"))
    if p95_ms is not None:
        signals.append((p95_ms <= max_p95_ms, f"p95 latency {p95_ms} ms over {max_p95_ms} ms"))
    if error_ratio is not None:
        signals.append((error_ratio <= max_error_ratio, f"server 5xx ratio {error_ratio} over {max_error_ratio}"))
    failing = [text for within, text in signals if not bool(within)]
    return Verdict(healthy=len(failing) == 0, reason=", ".join(failing))


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

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.load_started_at = None
        self.baseline = (0.0, 0.0)

    @property
    def url(self) -> str:
        return "http://localhost:%d" % self.args.model_port

    def _env(self, **extra):
        import os

        env = dict(os.environ)
        env.update(extra)
        return env

    def _docker(self, argv, timeout=900, **extra_env):
        return self.runner(argv, env=self._env(**extra_env), timeout=timeout)

    def _compose_argv(self, *rest):
        return ["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project, *rest]

    def _client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def train(self) -> str:
        import mlflow
        import sklearn
        from mlflow.models import infer_signature

        from earlier_days import CANDIDATES, make_data

        X_train, _X_test, y_train, _y_test = make_data()
        estimator = CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.log_param("candidate", self.args.candidate)
            logged = mlflow.sklearn.log_model(
                estimator, name="model",
                signature=infer_signature(X_train.astype("float64"), estimator.predict(X_train)),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        return logged.model_uri

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
        client = self._client()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, "champion", version)
            return
        try:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        except Exception:  # noqa: BLE001 - re-raise unless the alias is already gone
            try:
                client.get_model_version_by_alias(self.args.model_name, "champion")
            except Exception:  # noqa: BLE001
                return
            raise

    def package(self, version: str) -> str:
        import os
        import shutil
        import tempfile

        import mlflow
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        image = "%s:v%s" % (self.args.image_repo, version)
        context = tempfile.mkdtemp(prefix="capstone-")
        try:
            target = os.path.join(context, "model.skops")
            skops.io.dump(model, target)
            os.chmod(target, 0o644)
            lines = ["FROM " + self.args.server_image,
                     "COPY model.skops /app/model.skops",
                     "ENV MODEL_PATH=/app/model.skops",
                     "ENV MODEL_VERSION=v" + str(version)]
            with open(os.path.join(context, "Dockerfile"), "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            argv = ["docker", "build", "-t", image]
            for label in self.args.label:
                argv.append("--label=" + label)
            self._docker(argv + [context])
        finally:
            shutil.rmtree(context, ignore_errors=True)
        return image

    def remove_image(self, version: str) -> None:
        self._docker(["docker", "rmi", "%s:v%s" % (self.args.image_repo, version)], timeout=120)

    def _get(self, path: str):
        import requests

        return requests.get(self.url + path, timeout=(2, 4))

    def deploy(self, version: str) -> str:
        self._docker(self._compose_argv("up", "-d", "--no-deps", "model"), timeout=900,
                     MODEL_IMAGE="%s:v%s" % (self.args.image_repo, version), MODEL_PORT=str(self.args.model_port))
        expected = "v" + str(version)
        give_up = self.clock() + self.args.wait_seconds
        seen = None
        while self.clock() < give_up:
            try:
                seen = self._get("/health").json().get("model_version")
                if seen == expected and self._get("/ready").status_code == 200:
                    return self.url
            except Exception as exc:  # noqa: BLE001
                seen = repr(exc)
            self.sleep(max(0.0, min(0.25, give_up - self.clock())))
        raise TimeoutError("%s did not become ready within %ss (last seen: %s)" % (expected, self.args.wait_seconds, seen))

    def undeploy(self) -> None:
        self._docker(self._compose_argv("stop", "model"), timeout=300, MODEL_PORT=str(self.args.model_port))
        self._docker(self._compose_argv("rm", "-f", "model"), timeout=300, MODEL_PORT=str(self.args.model_port))

    def _counts(self):
        """(all /predict answers, 5xx /predict answers) the serving container has counted, per Prometheus."""
        import requests

        out = []
        for q in ('sum(model_requests_total{endpoint="/predict"})',
                  'sum(model_requests_total{endpoint="/predict", status=~"5[0-9][0-9]"})'):
            answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": q},
                                  timeout=(2, 4))
            answer.raise_for_status()
            result = answer.json()["data"]["result"]
            out.append(float(result[0]["value"][1]) if result else 0.0)
        return out[0], out[1]

    def load(self, url: str) -> LoadResult:
        from itertools import cycle

        from earlier_days import make_data, monitoring

        if self.args.prometheus_url:
            try:
                self.baseline = self._counts()
            except Exception:  # noqa: BLE001 - no baseline: the container's counts from its start
                self.baseline = (0.0, 0.0)
        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = cycle(make_data()[1][["f0", "f1", "f2", "segment"]].astype(float).itertuples(index=False, name=None))
        self.load_started_at = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [list(next(rows))]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import numpy as np

        from earlier_days import monitoring

        since = self.load_started_at or time.time()
        rows = monitoring.ModelPerformanceMonitor(str(self.args.store)).get_recent_metrics("latency_ms", 24 * 366)
        mine = [row["value"] for row in rows if row["timestamp"] >= since]
        p95 = float(np.percentile(mine, 95)) if mine else None
        ratio = None
        if self.args.prometheus_url:
            base_total, base_errors = self.baseline
            give_up = self.clock() + self.args.wait_seconds
            while True:
                try:
                    total, errors = self._counts()
                    if total < base_total:  # a new container since the baseline: its counts start at zero
                        base_total, base_errors = 0.0, 0.0
                    if total - base_total >= load.sent:
                        ratio = (errors - base_errors) / (total - base_total) if total > base_total else 0.0
                        break
                except Exception:  # noqa: BLE001
                    pass
                if self.clock() >= give_up:
                    return Verdict(False, "5xx share unknown: Prometheus did not count the load in time")
                self.sleep(max(0.0, min(0.5, give_up - self.clock())))
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            answer = self._get("/health")
            return answer.json().get("model_version") if answer.status_code == 200 else None
        except Exception:  # noqa: BLE001
            return None


# --- task 3: the command line -------------------------------------------------------------


def _type(check, message):
    def convert(text: str):
        try:
            value = check(text)
        except (TypeError, ValueError):
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{message}, got {text!r}")
        return value
    return convert


def _finite(text):
    import math

    value = float(text)
    return value if math.isfinite(value) else None


def _positive(text):
    value = _finite(text)
    return value if value is not None and value > 0 else None


def _non_negative(text):
    value = _finite(text)
    return value if value is not None and value >= 0 else None


def _fraction(text):
    value = _finite(text)
    return value if value is not None and 0 <= value <= 1 else None


def _port(text):
    value = int(text)
    return value if 1 <= value <= 65535 else None


def _at_least_one(text):
    value = int(text)
    return value if value >= 1 else None


def _label(text):
    key, sep, _ = text.partition("=")
    return text if sep and key else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    import earlier_days

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="capstone.py", description="Train, gate, ship, watch and roll back a model.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", default="interactions", choices=list(earlier_days.CANDIDATES))
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", default=str(here / "docker-compose.yml"))
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_type(_port, "an int 1-65535"), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_type(_non_negative, "a finite number >= 0"), default=0.01)
    p.add_argument("--slice-tolerance", type=_type(_non_negative, "a finite number >= 0"), default=0.05)
    p.add_argument("--requests", type=_type(_at_least_one, "an int >= 1"), default=100)
    p.add_argument("--rps", type=_type(_positive, "a positive finite number"), default=20.0)
    p.add_argument("--load-seconds", type=_type(_positive, "a positive finite number"), default=30.0)
    p.add_argument("--min-availability", type=_type(_fraction, "a number between 0 and 1"), default=0.99)
    p.add_argument("--max-error-ratio", type=_type(_fraction, "a number between 0 and 1"), default=0.01)
    p.add_argument("--max-p95-ms", type=_type(_positive, "a positive finite number"), default=500.0)
    p.add_argument("--wait-seconds", type=_type(_positive, "a positive finite number"), default=60.0)
    p.add_argument("--store", default="capstone-metrics.db")
    p.add_argument("--label", type=_type(_label, "KEY=VALUE with a non-empty key"), action="append", default=[])
    p.add_argument("--report-json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report.to_dict(), handle)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
