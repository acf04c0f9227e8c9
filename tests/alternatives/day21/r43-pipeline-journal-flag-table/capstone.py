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
    """A stage raised; the stage is already recorded."""


class _Pipeline:
    """One run as an object: the report it builds, the clock, and a LIFO journal of compensations."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="failed")
        self.journal: list[tuple[str, Callable[[], object]]] = []
        self.problem = ""

    def call(self, name: str, fn, *args, judge_ok=None, describe=None):
        t0 = self.clock()
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            self.problem = f"{name} failed: {exc}"
            raise _Abort from exc
        ok = True if judge_ok is None else bool(judge_ok(value))
        text = describe(value) if describe else str(value)
        self.report.stages.append(Stage(name, ok, self.clock() - t0, text))
        return value

    def compensate(self) -> None:
        if not self.journal:
            return
        t0 = self.clock()
        lines, errors = [], []
        while self.journal:
            label, action = self.journal.pop()
            try:
                action()
                lines.append(f"{label} ok")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {exc!r}")
                lines.append(f"{label} FAILED {exc!r}")
        self.report.stages.append(Stage("rollback", not errors, self.clock() - t0, "; ".join(lines)))
        if errors:
            self.report.outcome = "failed"
            self.report.reason = " / ".join(filter(None, [self.report.reason, "rollback: " + "; ".join(errors)]))

    def execute(self) -> Report:
        s, r = self.steps, self.report
        try:
            candidate = self.call("train", s.train)

            def failed_checks(g):
                return [c.name for c in g.checks if not c.passed]

            g = self.call("gate", s.gate, candidate, judge_ok=lambda g: g.passed,
                          describe=lambda g: ("failed: " + ", ".join(failed_checks(g))) if not g.passed
                          else "passed")
            r.previous = prev = g.champion
            if not g.passed:
                r.outcome, r.reason = "rejected", "gate failed checks: " + ", ".join(failed_checks(g))
                return r
            r.version = version = self.call("register", s.register, g)
            self.journal.append(("champion back", lambda: s.set_champion(prev)))
            self.call("package", s.package, version)
            self.journal.append(("image removed", lambda: s.remove_image(version)))
            self.journal.append(("redeploy previous", (lambda: s.deploy(prev)) if prev is not None else s.undeploy))
            url = self.call("deploy", s.deploy, version)
            load = self.call("load", s.load, url)
            verdict = self.call("monitor", s.monitor, url, load, judge_ok=lambda v: v.healthy,
                                describe=lambda v: v.reason)
            if verdict.healthy:
                self.journal.clear()
                r.outcome, r.reason = "promoted", ""
            else:
                r.outcome, r.reason = "rolled_back", verdict.reason
                self.compensate()
        except _Abort:
            r.outcome, r.reason = "failed", self.problem
            self.compensate()
        finally:
            try:
                r.serving = s.serving()
            except Exception:  # noqa: BLE001
                r.serving = None
        return r


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    return _Pipeline(steps, clock).execute()


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    import re

    flat = lambda text: re.sub(r"\s*(?:\r\n|\r|\n)\s*", " / ", str(text))  # noqa: E731
    out = []
    for st in report.stages:
        out.append("%s %s %.2fs %s" % (st.name, "ok" if st.ok else "FAILED", st.seconds, flat(st.detail)))
    out.append("reason: " + flat(report.reason or "-") + " | outcome: " + report.outcome)
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _finite_positive(x) -> bool:
    import math
    import numbers

    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x)) and float(x) > 0


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import operator

    try:
        if isinstance(requests, bool):
            raise TypeError
        n = operator.index(requests)
    except TypeError:
        raise ValueError(f"requests must be an int, got {requests!r}") from None
    if n < 1 or not _finite_positive(rps) or not _finite_positive(deadline_s):
        raise ValueError(f"refusing an unbounded load: requests={requests!r} rps={rps!r} deadline_s={deadline_s!r}")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would make the sums float32
    t0 = clock()
    stop = t0 + deadline_s
    answered = tried = 0
    for i in range(n):
        due = t0 + i / rps
        if due >= stop:
            break
        reading = clock()
        if reading < due:
            sleep(due - reading)
            reading = clock()
        if reading >= stop:
            break
        tried += 1
        answered += probe() is not None
    return LoadResult(sent=tried, ok=answered, failed=tried - answered)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    availability = ok / sent if sent > 0 else float("nan")
    table = [("availability", availability, lambda v: v >= min_availability, f">= {min_availability}"),
             ("p95", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms} ms"),
             ("5xx", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}")]
    bad = [f"{name} {value} not {limit}" for name, value, within, limit in table
           if value is not None and not within(value)]
    good = [f"{name} {value}" for name, value, within, _ in table if value is not None and within(value)]
    healthy = not bad
    return Verdict(healthy=bool(healthy), reason="; ".join(bad) if bad else ", ".join(good))


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


def _http_get(url: str, timeout: float = 3.0):
    """(status, body bytes) of a GET, any HTTP status included; raises OSError when nothing answers."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as answer:
        with answer:
            return answer.code, answer.read()


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus.
    Images are tagged `<image_repo>:v<version>` and serve MODEL_VERSION `v<version>`. Every `docker`
    and `docker-compose` command goes through `runner(argv, env=..., timeout=...)`; every wait reads
    `clock` and pauses with `sleep` (the tests pass fakes of all three)."""

    COMMAND_TIMEOUT_S = 600.0
    HTTP_TIMEOUT_S = 3.0
    POLL_S = 0.5

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began: float | None = None

    # helpers
    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _image(self, version) -> str:
        return f"{self.args.image_repo}:v{version}"

    def _url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def _compose(self, *words: str, env: dict | None = None):
        import os

        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *words]
        return self.runner(argv, env=dict(os.environ, **(env or {})), timeout=self.COMMAND_TIMEOUT_S)

    def _pause(self, deadline: float) -> bool:
        """Sleep a little before the next attempt; False when the deadline has passed."""
        now = self.clock()
        if now >= deadline:
            return False
        self.sleep(min(self.POLL_S, deadline - now))
        return True

    # the steps
    def train(self) -> str:
        import earlier_days
        from mlflow.models import infer_signature

        mlflow = self._mlflow()
        X_train, _, y_train, _ = earlier_days.make_data()
        model = earlier_days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)))
        return info.model_uri

    def gate(self, candidate: str):
        import earlier_days

        _, X_test, _, y_test = earlier_days.make_data()
        return earlier_days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                          slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                          slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return str(earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import earlier_days

        client = self._client()
        if version is None:
            from mlflow.exceptions import MlflowException

            try:
                client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)
            except MlflowException:
                pass
        else:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, str(version))

    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            context = Path(folder)
            skops.io.dump(model, context / "model.skops")
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /opt/capstone/model.skops\n"
                f"ENV MODEL_PATH=/opt/capstone/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv += ["--file", str(context / "Dockerfile"), str(context)]
            self.runner(argv, env=None, timeout=self.COMMAND_TIMEOUT_S)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", self._image(version)], env=None, timeout=self.COMMAND_TIMEOUT_S)

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE,
                      env={"MODEL_IMAGE": self._image(version), "MODEL_PORT": str(self.args.model_port)})
        wanted = f"v{version}"
        deadline = self.clock() + float(self.args.wait_seconds)
        seen = None
        while True:
            seen = self.serving()
            if seen == wanted:
                try:
                    status, _ = _http_get(f"{self._url()}/ready", self.HTTP_TIMEOUT_S)
                except OSError:
                    status = None
                if status == 200:
                    return self._url()
            if not self._pause(deadline):
                raise RuntimeError(f"{wanted} was not serving and ready on port {self.args.model_port} within "
                                   f"{self.args.wait_seconds} s (last /health version: {seen!r})")

    def undeploy(self) -> None:
        self._compose("rm", "--force", "--stop", SERVICE)

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        rows = earlier_days.make_data()[1].to_numpy(dtype=float).tolist()
        cycle = itertools.cycle(rows)
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        self._load_began = time.time()

        def probe():
            return store.check_model_latency(url, {"features": [next(cycle)]})

        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prometheus(self, query: str) -> float | None:
        import json
        import urllib.parse

        status, body = _http_get(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?"
                                 f"{urllib.parse.urlencode({'query': query})}", self.HTTP_TIMEOUT_S)
        if status != 200:
            raise OSError(f"Prometheus answered {status}")
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def _error_ratio(self, sent: int) -> float:
        deadline = self.clock() + float(self.args.wait_seconds)
        total = None
        while True:
            try:
                total = self._prometheus('sum(model_requests_total{endpoint="/predict"})')
                if total >= sent and total > 0:
                    errors = self._prometheus('sum(model_requests_total{endpoint="/predict",status=~"5.."})')
                    return errors / total
            except (OSError, ValueError, KeyError):
                pass
            if not self._pause(deadline):
                raise RuntimeError(f"Prometheus had not counted the load's {sent} requests within "
                                   f"{self.args.wait_seconds} s (it counted {total})")

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        began = self._load_began if self._load_began is not None else time.time() - float(self.args.load_seconds)
        hours = (time.time() - began + 0.5) / 3600
        p95 = store.latency_percentile(95, hours=hours)
        ratio = self._error_ratio(load.sent) if self.args.prometheus_url else None
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        import json

        try:
            status, body = _http_get(f"{self._url()}/health", self.HTTP_TIMEOUT_S)
            if status != 200:
                return None
            return json.loads(body).get("model_version")
        except (OSError, ValueError):
            return None


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind: str, test, describe: str):
    def convert(text: str):
        import math

        try:
            value = int(text) if kind == "int" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n int' if kind == 'int' else ' number'}") from None
        if kind == "float" and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not finite")
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r}: {describe}")
        return value
    convert.__name__ = kind
    return convert


def _choice_of_candidates(text: str) -> str:
    from earlier_days import CANDIDATES

    if text in CANDIDATES:
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(sorted(CANDIDATES))}")


def _key_value(text: str) -> str:
    if "=" in text and text.split("=", 1)[0]:
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")


POSITIVE = _checked("float", lambda v: v > 0, "must be positive")
NON_NEGATIVE = _checked("float", lambda v: v >= 0, "must be at least 0")
UNIT = _checked("float", lambda v: 0 <= v <= 1, "must be between 0 and 1")

FLAGS = [  # (flag, options)
    ("--tracking-uri", dict(required=True)),
    ("--server-image", dict(required=True)),
    ("--model-name", dict(default="capstone")),
    ("--candidate", dict(default="interactions", type=_choice_of_candidates)),
    ("--image-repo", dict(default="katas/capstone-model")),
    ("--compose-file", dict(default=None)),
    ("--project", dict(default="capstone")),
    ("--model-port", dict(default=8000, type=_checked("int", lambda v: 1 <= v <= 65535, "must be 1-65535"))),
    ("--prometheus-url", dict(default="")),
    ("--margin", dict(default=0.01, type=NON_NEGATIVE)),
    ("--slice-tolerance", dict(default=0.05, type=NON_NEGATIVE)),
    ("--requests", dict(default=100, type=_checked("int", lambda v: v >= 1, "must be at least 1"))),
    ("--rps", dict(default=20.0, type=POSITIVE)),
    ("--load-seconds", dict(default=30.0, type=POSITIVE)),
    ("--min-availability", dict(default=0.99, type=UNIT)),
    ("--max-error-ratio", dict(default=0.01, type=UNIT)),
    ("--max-p95-ms", dict(default=500.0, type=POSITIVE)),
    ("--wait-seconds", dict(default=60.0, type=POSITIVE)),
    ("--store", dict(default="capstone-metrics.db")),
    ("--label", dict(default=[], action="append", type=_key_value)),
    ("--report-json", dict(default=None)),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, options in FLAGS:
        parser.add_argument(flag, **options)
    args = parser.parse_args(argv)
    if args.compose_file is None:
        args.compose_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml")
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
