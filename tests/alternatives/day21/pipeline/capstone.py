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
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
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
    """A stage raised; carries its name and the error text."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage} failed: {error!r}")


class _Run:
    """One run: the report being written and the undo journal (newest last)."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="promoted")
        self.journal: list[tuple[str, Callable[[], None]]] = []

    def timed(self, name: str, call, *args, ok=lambda result: True, detail=lambda result: repr(result)):
        t0 = self.clock()
        try:
            result = call(*args)
        except Exception as error:  # noqa: BLE001 - any error fails the stage
            self.report.stages.append(Stage(name, False, self.clock() - t0, f"error: {error!r}"))
            raise _Abort(name, error) from error
        seconds = self.clock() - t0
        self.report.stages.append(Stage(name, bool(ok(result)), seconds, detail(result)))
        return result

    def rollback(self) -> list[str]:
        if not self.journal:
            return []
        t0 = self.clock()
        problems = []
        for label, action in reversed(self.journal):
            try:
                action()
            except Exception as error:  # noqa: BLE001 - one undo failing does not stop the others
                problems.append(f"undo {label}: {error!r}")
        self.journal.clear()
        self.report.stages.append(Stage("rollback", not problems, self.clock() - t0,
                                        " | ".join(problems) or "every change undone"))
        return problems


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    r = _Run(steps, clock)
    rep = r.report
    try:
        candidate = r.timed("train", steps.train, detail=str)
        gate_report = r.timed("gate", steps.gate, candidate, ok=lambda g: g.passed,
                              detail=lambda g: "passed" if g.passed else
                              "failed: " + " ".join(c.name for c in g.checks if not c.passed))
        rep.previous = previous = gate_report.champion
        if not gate_report.passed:
            rep.outcome = "rejected"
            rep.reason = "gate: " + ", ".join(f"{c.name}: {c.message}" for c in gate_report.checks if not c.passed)
            return rep
        rep.version = version = r.timed("register", steps.register, gate_report, detail=lambda v: f"v{v}")
        r.journal.append((f"champion -> {previous}", lambda: steps.set_champion(previous)))
        r.timed("package", steps.package, version, detail=str)
        r.journal.append((f"image v{version}", lambda: steps.remove_image(version)))
        r.journal.append(("service", steps.undeploy if previous is None else (lambda: steps.deploy(previous))))
        url = r.timed("deploy", steps.deploy, version, detail=str)
        result = r.timed("load", steps.load, url, detail=lambda x: f"sent={x.sent} ok={x.ok} failed={x.failed}")
        verdict = r.timed("monitor", steps.monitor, url, result, ok=lambda v: v.healthy, detail=lambda v: v.reason)
        if not verdict.healthy:
            problems = r.rollback()
            rep.outcome = "failed" if problems else "rolled_back"
            rep.reason = "; ".join([f"unhealthy: {verdict.reason}", *problems])
    except _Abort as abort:
        problems = r.rollback()
        rep.outcome = "failed"
        rep.reason = "; ".join([str(abort), *problems])
    finally:
        try:
            rep.serving = steps.serving()
        except Exception:  # noqa: BLE001
            rep.serving = None
    return rep


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    out = []
    for s in report.stages:
        out.append("%s %s %.3fs %s" % (s.name, "ok" if s.ok else "FAILED", s.seconds, s.detail))
    out.append("outcome: %s, exit code %d%s" % (report.outcome, report.exit_code,
                                                 f" ({report.reason})" if report.reason else ""))
    return "\n".join(out) + "\n"


# --- task 2: the load and the decision ---------------------------------------------------


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    if type(requests) is not int or requests < 1:
        raise ValueError("requests must be an int of at least 1")
    for name, value in (("rps", rps), ("deadline_s", deadline_s)):
        try:
            good = not isinstance(value, bool) and math.isfinite(value) and value > 0
        except TypeError:
            good = False
        if not good:
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    t0 = clock()
    stop_at = t0 + deadline_s
    answered = []
    while len(answered) < requests:
        due = t0 + len(answered) / rps
        if due >= stop_at:
            break
        wait = due - clock()
        if wait > 0:
            sleep(min(wait, stop_at - clock()))
        if clock() >= stop_at:
            break
        answered.append(probe() is not None)
    return LoadResult(sent=len(answered), ok=sum(answered), failed=answered.count(False))


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    if not sent > 0:
        return Verdict(False, "availability: nothing was sent, so nothing was measured")
    signals = [("availability", ok / sent, lambda v: v >= min_availability, f">= {min_availability}")]
    if p95_ms is not None:
        signals.append(("p95 latency ms", p95_ms, lambda v: v <= max_p95_ms, f"<= {max_p95_ms}"))
    if error_ratio is not None:
        signals.append(("5xx share", error_ratio, lambda v: v <= max_error_ratio, f"<= {max_error_ratio}"))
    bad = [f"{name} {value:.4g} (wanted {want})" for name, value, within, want in signals if not within(value)]
    good = [f"{name} {value:.4g}" for name, value, within, _ in signals if within(value)]
    return Verdict(not bad, "; ".join(bad) if bad else "healthy: " + ", ".join(good))


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
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus."""

    PAUSE_S = 0.25

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.base_url = f"http://127.0.0.1:{args.model_port}"
        self.load_started_wall = None

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def _tag(self, version) -> str:
        return "%s:v%s" % (self.args.image_repo, version)

    def _compose_env(self, **extra) -> dict:
        import os

        return {**os.environ, "COMPOSE_FILE": str(Path(self.args.compose_file).resolve()),
                "COMPOSE_PROJECT_NAME": self.args.project, "MODEL_PORT": str(self.args.model_port), **extra}

    def train(self) -> str:
        import earlier_days
        from mlflow.models import infer_signature

        mlflow = self._mlflow()
        X_train, X_test, y_train, _ = earlier_days.make_data()
        estimator = earlier_days.CANDIDATES[self.args.candidate]()
        estimator.fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run() as active:
            mlflow.log_params({"candidate": self.args.candidate, "rows": len(X_train)})
            mlflow.sklearn.log_model(estimator, name="model",
                                     signature=infer_signature(X_test, estimator.predict_proba(X_test)[:, 1]))
        return f"runs:/{active.info.run_id}/model"

    def gate(self, candidate: str):
        import earlier_days

        _, X_test, _, y_test = earlier_days.make_data()
        return earlier_days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                          slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                          slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        import earlier_days

        return earlier_days.gate.promote(self.args.tracking_uri, self.args.model_name, report)

    def set_champion(self, version: str | None) -> None:
        import earlier_days

        client = self._mlflow().MlflowClient()
        if version is not None:
            client.set_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION, version)
            return
        client.delete_registered_model_alias(self.args.model_name, earlier_days.gate.CHAMPION)

    def package(self, version: str) -> str:
        import tempfile

        import skops.io

        model = self._mlflow().sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self._tag(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as scratch:
            context = Path(scratch) / "context"
            context.mkdir()
            skops.io.dump(model, str(context / "model.skops"))
            dockerfile = Path(scratch) / "Dockerfile.capstone"
            label_lines = "".join("LABEL %s=%s\n" % tuple(json.dumps(part, ensure_ascii=False).replace("$", "\\$")
                                                                for part in label.split("=", 1))
                                  for label in self.args.label)
            dockerfile.write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /srv/models/model.skops\n"
                "ENV MODEL_PATH=/srv/models/model.skops\n"
                f"ENV MODEL_VERSION=v{version}\n" + label_lines, encoding="utf-8")
            self.runner(["docker", "build", "-f", str(dockerfile), "-t", tag, str(context)], env=None, timeout=900)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self._tag(version)], env=None, timeout=120)

    def _health(self):
        import requests

        answer = requests.get(self.base_url + "/health", timeout=2)
        return answer.json().get("model_version") if answer.status_code == 200 else None

    def _ready(self) -> bool:
        import requests

        return requests.get(self.base_url + "/ready", timeout=2).status_code == 200

    def deploy(self, version: str) -> str:
        import requests

        wanted = f"v{version}"
        self.runner(["docker-compose", "up", "--detach", "--no-deps", "model"],
                    env=self._compose_env(MODEL_IMAGE=self._tag(version)), timeout=300)
        give_up = self.clock() + self.args.wait_seconds
        last = "nothing"
        while self.clock() < give_up:
            try:
                seen = self._health()
                last = f"/health says {seen!r}"
                if seen == wanted and self._ready():
                    return self.base_url
            except (requests.RequestException, ValueError) as error:
                last = repr(error)
            self.sleep(self.PAUSE_S)
        raise TimeoutError(f"{wanted} not ready after {self.args.wait_seconds}s: {last}")

    def undeploy(self) -> None:
        env = self._compose_env()
        self.runner(["docker-compose", "stop", "model"], env=env, timeout=120)
        self.runner(["docker-compose", "rm", "-f", "model"], env=env, timeout=120)

    def load(self, url: str) -> LoadResult:
        import itertools

        import earlier_days

        _, X_test, _, _ = earlier_days.make_data()
        rows = itertools.cycle([[float(v) for v in row] for row in X_test.itertuples(index=False)])
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        self.load_started_wall = time.time()
        return put_load(lambda: store.check_model_latency(url, {"features": [next(rows)]}),
                        requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _by_status(self) -> dict[str, float]:
        import requests

        answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query",
                              params={"query": 'sum by (status) (model_requests_total{endpoint="/predict"})'},
                              timeout=5)
        answer.raise_for_status()
        return {item["metric"].get("status", ""): float(item["value"][1]) for item in answer.json()["data"]["result"]}

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        import earlier_days

        started = self.load_started_wall or time.time()
        store = earlier_days.monitoring.ModelPerformanceMonitor(str(self.args.store))
        p95 = store.latency_percentile(95, hours=max(time.time() - started, 0.0) / 3600 + 1 / 3600)
        ratio = None
        if self.args.prometheus_url:
            give_up = self.clock() + self.args.wait_seconds
            counts = self._by_status()
            while sum(counts.values()) < load.sent:
                if self.clock() >= give_up:
                    return Verdict(False, f"5xx share unknown: Prometheus counted {sum(counts.values()):g} of "
                                          f"{load.sent} requests within {self.args.wait_seconds}s")
                self.sleep(self.PAUSE_S)
                counts = self._by_status()
            total = sum(counts.values())
            ratio = sum(n for s, n in counts.items() if s.startswith("5")) / total if total else None
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        try:
            return self._health()
        except Exception:  # noqa: BLE001 - nothing answering is "nothing serves"
            return None


# --- task 3: the command line -------------------------------------------------------------


def _checked(convert, test, wanted: str):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value
    parse.__name__ = wanted
    return parse


FINITE_POS = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
FINITE_NONNEG = _checked(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
RATIO = _checked(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1")
PORT = _checked(int, lambda v: 0 < v < 65536, "a port 1-65535")
COUNT = _checked(int, lambda v: v >= 1, "an integer >= 1")
LABEL = _checked(str, lambda v: v.find("=") > 0, "KEY=VALUE")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import earlier_days

    parser = argparse.ArgumentParser(prog="capstone.py", description=__doc__.splitlines()[0])
    flags = [
        ("--tracking-uri", dict(required=True)),
        ("--server-image", dict(required=True, help="the day-03 image to build FROM")),
        ("--model-name", dict(default="capstone")),
        ("--candidate", dict(default="interactions", choices=list(earlier_days.CANDIDATES))),
        ("--image-repo", dict(default="katas/capstone-model")),
        ("--compose-file", dict(default=str(Path(__file__).resolve().with_name("docker-compose.yml")))),
        ("--project", dict(default="capstone")),
        ("--model-port", dict(type=PORT, default=8000)),
        ("--prometheus-url", dict(default="")),
        ("--margin", dict(type=FINITE_NONNEG, default=0.01)),
        ("--slice-tolerance", dict(type=FINITE_NONNEG, default=0.05)),
        ("--requests", dict(type=COUNT, default=100)),
        ("--rps", dict(type=FINITE_POS, default=20.0)),
        ("--load-seconds", dict(type=FINITE_POS, default=30.0)),
        ("--min-availability", dict(type=RATIO, default=0.99)),
        ("--max-error-ratio", dict(type=RATIO, default=0.01)),
        ("--max-p95-ms", dict(type=FINITE_POS, default=500.0)),
        ("--wait-seconds", dict(type=FINITE_POS, default=60.0)),
        ("--store", dict(default="capstone-metrics.db")),
        ("--label", dict(type=LABEL, action="append", default=[], metavar="KEY=VALUE")),
        ("--report-json", dict(default=None)),
    ]
    for flag, options in flags:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report))
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report.to_dict(), handle, indent=1)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
