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
import os
import re
import shutil
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


class _Abort(Exception):
    """A step raised: carries the stage name and the original error."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


class Pipeline:
    """The run as an object: a journal of compensating actions (a saga), and the report it fills in."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="failed")
        self.journal: list[tuple[str, Callable[[], object]]] = []

    def timed(self, name: str, fn, *args, judge_ok=None, describe=str):
        t0 = self.clock()
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - any error fails the stage
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            raise _Abort(name, exc) from exc
        elapsed = self.clock() - t0
        ok = True if judge_ok is None else bool(judge_ok(result))
        self.report.stages.append(Stage(name, ok, elapsed, describe(result)))
        return result

    def compensate(self) -> list[str]:
        if not self.journal:
            return []
        t0 = self.clock()
        errors = []
        while self.journal:
            what, action = self.journal.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{what} -> {type(exc).__name__}: {exc}")
        detail = "all undone" if not errors else "undo errors: " + " / ".join(errors)
        self.report.stages.append(Stage("rollback", not errors, self.clock() - t0, detail))
        return errors

    def execute(self) -> Report:
        s, r = self.steps, self.report
        try:
            candidate = self.timed("train", s.train)
            failed_checks = []

            def gate_ok(g):
                failed_checks.extend(c.name for c in g.checks if not c.passed)
                return g.passed

            g = self.timed("gate", s.gate, candidate, judge_ok=gate_ok,
                           describe=lambda g: ("failed: " + ", ".join(c.name for c in g.checks if not c.passed))
                           if not g.passed else f"passed (champion {g.champion})")
            r.previous = prev = g.champion
            if not g.passed:
                r.outcome, r.reason = "rejected", "gate failed checks: " + ", ".join(failed_checks)
                return r
            r.version = version = self.timed("register", s.register, g)
            self.journal.append(("set_champion", lambda: s.set_champion(prev)))
            self.timed("package", s.package, version)
            self.journal.append(("remove_image", lambda: s.remove_image(version)))
            self.journal.append(("deploy previous", (lambda: s.deploy(prev)) if prev is not None else s.undeploy))
            url = self.timed("deploy", s.deploy, version)
            result = self.timed("load", s.load, url)
            verdict = self.timed("monitor", s.monitor, url, result, judge_ok=lambda v: v.healthy,
                                 describe=lambda v: v.reason)
            if verdict.healthy:
                r.outcome, r.reason = "promoted", ""
                self.journal.clear()
                return r
            r.outcome, r.reason = "rolled_back", f"monitor: {verdict.reason}"
        except _Abort as abort:
            r.outcome, r.reason = "failed", f"{abort.stage} failed: {abort.error}"
        errors = self.compensate()
        if errors:
            r.outcome = "failed"
            r.reason += " | rollback failed: " + " / ".join(errors)
        return r


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    pipeline = Pipeline(steps, clock)
    try:
        return pipeline.execute()
    finally:
        try:
            pipeline.report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            pipeline.report.serving = None


_NEWLINES = re.compile(r"\r\n|\r|\n")


def format_report(report: Report) -> str:
    out = []
    for st in report.stages:
        flag = "ok" if st.ok else "FAILED"
        detail = _NEWLINES.sub(" / ", st.detail)
        out.append(f"{st.name} [{flag}] {st.seconds:.2f}s {detail}")
    reason = _NEWLINES.sub(" / ", report.reason)
    out.append(f"== outcome: {report.outcome} exit={report.exit_code} v={report.version} "
               f"prev={report.previous} serving={report.serving} {reason}".rstrip())
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _is_number(x) -> bool:
    import numbers

    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    if type(requests) is not int or requests < 1:
        raise ValueError("requests: an int >= 1")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        if not _is_number(value) or not math.isfinite(value) or not value > 0:
            raise ValueError(f"{name}: a positive finite number")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    t0 = clock()
    stop_at = t0 + deadline_s
    answered = []
    for i in range(requests):  # range is lazy: no list of due times
        due = t0 + i / rps
        if due >= stop_at:
            break
        now = clock()
        if now < due:
            sleep(due - now)
            now = clock()
        if now >= stop_at:
            break
        answered.append(probe() is not None)
    return LoadResult(len(answered), sum(answered), answered.count(False))


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    availability = (ok / sent) if sent > 0 else None
    signals = [
        ("availability", availability, lambda v: v is not None and v >= min_availability, f">= {min_availability}"),
        ("p95", p95_ms, lambda v: v is None or v <= max_p95_ms, f"<= {max_p95_ms} ms"),
        ("5xx", error_ratio, lambda v: v is None or v <= max_error_ratio, f"<= {max_error_ratio}"),
    ]
    bad = [f"{name} {value} not {limit}" for name, value, within, limit in signals if not bool(within(value))]
    return Verdict(not bad, "; ".join(bad) if bad else "every signal within its limit")


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


REQUEST_TIMEOUT = 2.5


class Steps:
    """The README's `steps` with requests, the docker CLI through `runner`, MLflow and Prometheus."""

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.load_started_at: float | None = None

    def _docker(self, argv, env=None, timeout=900):
        merged = dict(os.environ)
        merged.update(env or {})
        return self.runner(argv, env=merged, timeout=timeout)

    def _compose_argv(self, *rest):
        return ["docker-compose", "-f", str(self.args.compose_file), "-p", self.args.project, *rest]

    def _tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    @property
    def model_url(self) -> str:
        return "http://127.0.0.1:%d" % self.args.model_port

    def train(self) -> str:
        import earlier_days
        import mlflow
        from mlflow.models import infer_signature

        X_train, X_test, y_train, _ = earlier_days.make_data()
        estimator = earlier_days.CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        experiment = mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.log_param("candidate", self.args.candidate)
            logged = mlflow.sklearn.log_model(estimator, name="model",
                                              signature=infer_signature(X_test, estimator.predict(X_test)))
        return logged.model_uri

    def gate(self, candidate: str):
        import earlier_days

        data = earlier_days.make_data()
        return earlier_days.gate.run_gate(
            tracking_uri=self.args.tracking_uri, model_name=self.args.model_name, candidate_uri=candidate,
            X=data[1], y=data[3], slice_by="segment", metric="roc_auc", margin=self.args.margin,
            slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        version = earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report)
        return "%s" % version

    def set_champion(self, version: str | None) -> None:
        import earlier_days

        client = self._client()
        alias = earlier_days.gate.CHAMPION
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, alias, "%s" % version)
        else:
            client.delete_registered_model_alias(self.args.model_name, alias)

    def package(self, version: str) -> str:
        import mlflow
        import skops.io

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        model = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        tag = self._tag(version)
        build = Path(tempfile.mkdtemp(prefix="capstone-image-"))
        try:
            skops.io.dump(model, build / "model.skops")
            dockerfile = "\n".join([
                "FROM " + self.args.server_image,
                "ENV MODEL_PATH=/opt/model/model.skops",
                "ENV MODEL_VERSION=v%s" % version,
                "COPY model.skops /opt/model/model.skops",
                "",
            ])
            (build / "Dockerfile").write_text(dockerfile, encoding="utf-8")
            labels = [part for label in self.args.label for part in ("--label", label)]
            self._docker(["docker", "build", "-t", tag, *labels, "-f", str(build / "Dockerfile"), str(build)])
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return tag

    def remove_image(self, version: str) -> None:
        self._docker(["docker", "image", "rm", self._tag(version)], timeout=120)

    def _get(self, path: str):
        import requests

        return requests.get(self.model_url + path, timeout=REQUEST_TIMEOUT)

    def deploy(self, version: str) -> str:
        self._docker(self._compose_argv("up", "-d", "--no-deps", "model"),
                     env={"MODEL_IMAGE": self._tag(version), "MODEL_PORT": "%d" % self.args.model_port})
        expected = "v%s" % version
        give_up = self.clock() + float(self.args.wait_seconds)
        last = "nothing"
        while self.clock() < give_up:
            try:
                health = self._get("/health")
                last = health.json().get("model_version") if health.ok else "status %d" % health.status_code
                if last == expected and self._get("/ready").status_code == 200:
                    return self.model_url
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = repr(exc)
            remaining = give_up - self.clock()
            if remaining > 0:
                self.sleep(min(0.25, remaining))
        raise TimeoutError("deploy of %s: not ready after %gs (last seen %s)" % (expected, self.args.wait_seconds, last))

    def undeploy(self) -> None:
        self._docker(self._compose_argv("stop", "model"), timeout=120)
        self._docker(self._compose_argv("rm", "-f", "model"), timeout=120)

    def load(self, url: str) -> LoadResult:
        import earlier_days

        held_out = earlier_days.make_data()[1].astype(float).values.tolist()
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        counter = {"i": 0}

        def probe():
            row = held_out[counter["i"] % len(held_out)]
            counter["i"] += 1
            return store.check_model_latency(url, {"features": [row]})

        self.load_started_at = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _promql(self, expr: str) -> float:
        import requests

        answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": expr},
                              timeout=REQUEST_TIMEOUT)
        answer.raise_for_status()
        series = answer.json()["data"]["result"]
        return sum(float(s["value"][1]) for s in series)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        p95 = None
        if self.load_started_at is not None:
            window_h = (time.time() - self.load_started_at + 0.5) / 3600
            p95 = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store)).latency_percentile(95, window_h)
        ratio = None
        if self.args.prometheus_url:
            counted = errors = None
            give_up = self.clock() + float(self.args.wait_seconds)
            while True:
                try:
                    counted = self._promql('model_requests_total{endpoint="/predict"}')
                    errors = self._promql('model_requests_total{endpoint="/predict",status=~"5.."}')
                except Exception:  # noqa: BLE001 - Prometheus down or slow: try again until give_up
                    counted = None
                if counted is not None and counted >= load.sent:
                    break
                remaining = give_up - self.clock()
                if remaining <= 0:
                    raise RuntimeError("Prometheus had counted %s of the %d requests after %gs: the 5xx ratio is unknown"
                                       % (counted, load.sent, self.args.wait_seconds))
                self.sleep(min(0.5, remaining))
            ratio = errors / counted if counted else float("nan")
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


class _Check:
    """An argparse type: convert, then test, with a message naming what was expected."""

    def __init__(self, convert, test, expected: str) -> None:
        self.convert, self.test, self.expected = convert, test, expected

    def __call__(self, text: str):
        try:
            value = self.convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError("expected %s, got %r" % (self.expected, text))
        if not self.test(value):
            raise argparse.ArgumentTypeError("expected %s, got %r" % (self.expected, text))
        return value


def _strict_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text.strip()):
        raise ValueError(text)
    return int(text)


POSITIVE = _Check(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
NON_NEGATIVE = _Check(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
UNIT = _Check(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1")
PORT = _Check(_strict_int, lambda v: 0 < v < 65536, "a port 1-65535")
AT_LEAST_ONE = _Check(_strict_int, lambda v: v >= 1, "an integer >= 1")
LABEL = _Check(str, lambda t: "=" in t and not t.startswith("="), "KEY=VALUE")


def _candidates():
    import earlier_days

    return set(earlier_days.CANDIDATES)


CANDIDATE = _Check(str, lambda t: t in _candidates(), "a key of earlier_days.CANDIDATES")

FLAGS = [
    # flag, type, default (None with required=True for the required ones)
    ("--tracking-uri", str, None), ("--server-image", str, None),
    ("--model-name", str, "capstone"), ("--candidate", CANDIDATE, "interactions"),
    ("--image-repo", str, "katas/capstone-model"),
    ("--compose-file", str, str(Path(__file__).resolve().with_name("docker-compose.yml"))),
    ("--project", str, "capstone"), ("--model-port", PORT, 8000), ("--prometheus-url", str, ""),
    ("--margin", NON_NEGATIVE, 0.01), ("--slice-tolerance", NON_NEGATIVE, 0.05),
    ("--requests", AT_LEAST_ONE, 100), ("--rps", POSITIVE, 20.0), ("--load-seconds", POSITIVE, 30.0),
    ("--min-availability", UNIT, 0.99), ("--max-error-ratio", UNIT, 0.01),
    ("--max-p95-ms", POSITIVE, 500.0), ("--wait-seconds", POSITIVE, 60.0),
    ("--store", str, "capstone-metrics.db"), ("--report-json", str, None),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, kind, default in FLAGS:
        if flag in ("--tracking-uri", "--server-image"):
            parser.add_argument(flag, type=kind, required=True)
        else:
            parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--label", type=LABEL, action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report) + "\n")
    if args.report_json is not None:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report.to_dict(), handle, indent=1)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
