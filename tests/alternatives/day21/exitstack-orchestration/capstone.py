"""Day 21: the course in one command.

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
import subprocess
import sys
import tempfile
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


# --- the orchestration -------------------------------------------------------------------


class _Stop(Exception):
    pass


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Stages as a table; undos on a stack of callbacks, popped by hand."""
    stages: list[Stage] = []
    report = Report("failed", stages=stages)
    undos: list = []

    def timed(name, call):
        t = clock()
        try:
            value = call()
        except Exception as exc:  # noqa: BLE001
            stages.append(Stage(name, False, clock() - t, repr(exc)))
            report.reason = f"{name} failed: {exc}"
            raise _Stop from exc
        return value, clock() - t

    def unwind():
        if not undos:
            return True
        t = clock()
        errors = []
        while undos:
            try:
                undos.pop()()
            except Exception as exc:  # noqa: BLE001
                errors.append(str(exc))
        stages.append(Stage("rollback", not errors, clock() - t, ", ".join(errors) or "undone"))
        if errors:
            report.outcome = "failed"
            report.reason += " / undo errors: " + ", ".join(errors)
        return not errors

    try:
        candidate, s = timed("train", steps.train)
        stages.append(Stage("train", True, s, candidate))
        gated, s = timed("gate", lambda: steps.gate(candidate))
        report.previous = prev = gated.champion
        bad = ", ".join(f"{c.name} ({c.message})" for c in gated.checks if not c.passed)
        stages.append(Stage("gate", gated.passed, s, bad or "pass"))
        if not gated.passed:
            report.outcome, report.reason = "rejected", "gate: " + bad
        else:
            report.version, s = timed("register", lambda: steps.register(gated))
            v = report.version
            stages.append(Stage("register", True, s, v))
            undos.append(lambda: steps.set_champion(prev))
            image, s = timed("package", lambda: steps.package(v))
            stages.append(Stage("package", True, s, image))
            undos.append(lambda: steps.remove_image(v))
            undos.append((lambda: steps.deploy(prev)) if prev is not None else (lambda: steps.undeploy()))
            url, s = timed("deploy", lambda: steps.deploy(v))
            stages.append(Stage("deploy", True, s, url))
            result, s = timed("load", lambda: steps.load(url))
            stages.append(Stage("load", True, s, repr(result)))
            verdict, s = timed("monitor", lambda: steps.monitor(url, result))
            stages.append(Stage("monitor", verdict.healthy, s, verdict.reason))
            if verdict.healthy:
                report.outcome = "promoted"
            else:
                report.outcome, report.reason = "rolled_back", verdict.reason
                unwind()
    except _Stop:
        report.outcome = "failed"
        unwind()
    try:
        report.serving = steps.serving()
    except Exception:  # noqa: BLE001
        report.serving = None
    return report


def _one_line(text) -> str:
    """A detail or reason on one line: an error's output (docker's) may span several."""
    return " ".join(str(text).split())


def format_report(report: Report) -> str:
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:7.2f}s  {_one_line(s.detail)}" for s in report.stages]
    tail = f"outcome: {report.outcome} (version {report.version}, serving {report.serving})"
    lines.append(tail + (f": {_one_line(report.reason)}" if report.reason else ""))
    return "\n".join(lines)


# --- the load and the decision -----------------------------------------------------------


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    return float(value)


def put_load(probe, *, requests, rps, deadline_s, clock=time.monotonic, sleep=time.sleep) -> LoadResult:
    """A while loop over a schedule."""
    if type(requests) is not int or requests < 1:
        raise ValueError("requests")
    for name, v in (("rps", rps), ("deadline_s", deadline_s)):
        if (not isinstance(v, numbers.Real) or isinstance(v, bool)) or not (0 < v < math.inf):
            raise ValueError(name)
    rps, deadline_s = float(rps), float(deadline_s)  # a numpy.float32 would keep the sums in float32
    t0 = clock()
    end = t0 + deadline_s
    answers = []
    while len(answers) < requests:
        next_at = t0 + len(answers) / rps
        if next_at >= end:
            break
        now = clock()
        if now < next_at:
            sleep(next_at - now)
        if clock() >= end:
            break
        answers.append(probe())
    good = sum(a is not None for a in answers)
    return LoadResult(len(answers), good, len(answers) - good)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit (a limit itself is fine); the reason
    names every signal that is not."""
    if sent <= 0:
        return Verdict(False, "the load sent no request, so nothing shows the model works")
    availability = ok / sent
    problems = []
    if availability < min_availability:
        problems.append(f"availability {availability:.3f} below {min_availability:g} ({ok} of {sent} answered)")
    if p95_ms is not None and not p95_ms <= max_p95_ms:  # NaN is within no limit
        problems.append(f"p95 latency {p95_ms:.1f} ms above {max_p95_ms:g} ms")
    if error_ratio is not None and not error_ratio <= max_error_ratio:  # NaN too (Prometheus 0/0)
        problems.append(f"server 5xx ratio {error_ratio:.3f} above {max_error_ratio:g} (Prometheus)")
    if problems:
        return Verdict(False, "; ".join(problems))
    seen = [f"availability {availability:.3f}"]
    if p95_ms is not None:
        seen.append(f"p95 {p95_ms:.1f} ms")
    seen.append("5xx ratio " + (f"{error_ratio:.3f}" if error_ratio is not None else "not measured"))
    return Verdict(True, ", ".join(seen))


# --- the real steps -------------------------------------------------------------------


def run_command(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 300.0):
    """Run a command (no shell), raise RuntimeError naming it with its output's tail on failure."""
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip()[-800:]
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {done.returncode}: {tail}")
    return done


class Steps:
    """The stages against real tools. Images are tagged `<image_repo>:v<version>` and serve
    MODEL_VERSION `v<version>`, so a registry version names its image and its answers."""

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        import earlier_days

        self.args = args
        self.days = earlier_days
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.url = f"http://127.0.0.1:{args.model_port}"
        self.data = earlier_days.make_data()

    # registry
    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow, mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def train(self) -> str:
        import sklearn
        from mlflow.models import infer_signature
        from sklearn.metrics import roc_auc_score

        mlflow, client = self._mlflow()
        X_train, X_test, y_train, y_test = self.data
        model = self.days.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        experiment = client.get_experiment_by_name(self.args.model_name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(self.args.model_name)
        with mlflow.start_run(experiment_id=experiment_id, run_name=self.args.candidate):
            mlflow.log_param("candidate", self.args.candidate)
            mlflow.log_metric("roc_auc", float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])))
            logged = mlflow.sklearn.log_model(model, name="model",
                                              signature=infer_signature(X_train, model.predict(X_train)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        return logged.model_uri

    def gate(self, candidate: str):
        X_test, y_test = self.data[1], self.data[3]
        self._mlflow()
        return self.days.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                       slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                       slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        return self.days.gate.promote(self.args.tracking_uri, self.args.model_name, report)

    def set_champion(self, version: str | None) -> None:
        _, client = self._mlflow()
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, self.days.gate.CHAMPION)
        else:
            client.set_registered_model_alias(self.args.model_name, self.days.gate.CHAMPION, version)

    # images
    def image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def package(self, version: str) -> str:
        import skops.io

        mlflow, _ = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        labels = [part for label in self.args.label for part in ("--label", label)]
        with tempfile.TemporaryDirectory(prefix="capstone-") as context:
            skops.io.dump(model, Path(context) / "model.skops")
            (Path(context) / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                f"LABEL mlflow.model_uri=\"models:/{self.args.model_name}/{version}\"\n"
                "COPY model.skops /models/model.skops\n"
                f"ENV MODEL_PATH=/models/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            self.runner(["docker", "build", "--tag", self.image(version), *labels, context],
                        timeout=self.args.wait_seconds * 5)
        return self.image(version)

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "image", "rm", "--force", self.image(version)], timeout=self.args.wait_seconds)

    # the service
    def _compose(self, *args: str, image: str | None = None):
        env = {**os.environ, "MODEL_PORT": str(self.args.model_port)}
        if image:
            env["MODEL_IMAGE"] = image
        return self.runner(["docker-compose", "--file", str(self.args.compose_file), "--project-name",
                            self.args.project, *args], env=env, timeout=self.args.wait_seconds * 2)

    def deploy(self, version: str) -> str:
        self._compose("up", "--detach", "--no-deps", "--force-recreate", SERVICE, image=self.image(version))
        wanted = f"v{version}"
        deadline = self.clock() + self.args.wait_seconds
        last = "no answer"
        while self.clock() < deadline:
            served = self._get_json("/health")
            ready = self._get_json("/ready")
            if served is not None and served.get("model_version") == wanted and ready is not None:
                return self.url
            last = f"/health {served}, /ready {ready}"
            self.sleep(0.5)
        raise RuntimeError(f"{wanted} was not serving and ready on {self.url} within {self.args.wait_seconds:g} s "
                           f"({last})")

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def _get_json(self, path: str) -> dict | None:
        import requests

        try:
            answer = requests.get(self.url + path, timeout=2)
        except requests.RequestException:
            return None
        if answer.status_code != 200:
            return None
        try:
            return answer.json()
        except ValueError:
            return None

    def serving(self) -> str | None:
        answer = self._get_json("/health")
        return answer.get("model_version") if answer else None

    # load and monitor
    def load(self, url: str) -> LoadResult:
        store = self.days.monitoring.ModelPerformanceMonitor(self.args.store)
        rows = self.data[1].to_numpy(dtype=float).tolist()
        counter = iter(range(10**9))
        self._load_started = time.time()

        def probe():
            row = rows[next(counter) % len(rows)]
            return store.check_model_latency(url, {"features": [row]})

        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        store = self.days.monitoring.ModelPerformanceMonitor(self.args.store)
        hours = (time.time() - getattr(self, "_load_started", time.time()) + 1.0) / 3600
        p95 = store.latency_percentile(95, hours=hours)
        ratio = self._error_ratio(load.sent) if self.args.prometheus_url else None
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def _query(self, promql: str) -> float | None:
        import requests

        answer = requests.get(self.args.prometheus_url.rstrip("/") + "/api/v1/query", params={"query": promql},
                              timeout=5)
        answer.raise_for_status()
        result = answer.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def _error_ratio(self, sent: int) -> float:
        """The share of 5xx among /predict answers, as Prometheus scraped them from the server,
        once its latest scrape has counted every request the load sent."""
        predict = 'model_requests_total{endpoint="/predict"}'
        deadline = self.clock() + self.args.wait_seconds
        while (self._query(f"sum({predict})") or 0) < sent:
            if self.clock() >= deadline:
                raise RuntimeError(f"Prometheus had not scraped the load's {sent} requests within "
                                   f"{self.args.wait_seconds:g} s")
            self.sleep(0.5)
        errors = self._query('sum(model_requests_total{endpoint="/predict",status=~"5.."})') or 0.0
        return errors / (self._query(f"sum({predict})") or 1.0)


# --- the command line ---------------------------------------------------------------------


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of at least 0")
    return value


def _fraction(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return value


def _label(text: str) -> str:
    if "=" not in text or not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def parser() -> argparse.ArgumentParser:
    import earlier_days

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="capstone.py", description="Train, gate, register, package, deploy, load, "
                                "monitor and roll back a model in one command.")
    p.add_argument("--tracking-uri", required=True, help="the MLflow server of the stack")
    p.add_argument("--server-image", required=True, help="the day-03 model server image to package into")
    p.add_argument("--model-name", default="capstone", help="registered model name (default: capstone)")
    p.add_argument("--candidate", default="interactions", choices=sorted(earlier_days.CANDIDATES),
                   help="which candidate to train (default: interactions)")
    p.add_argument("--image-repo", default="katas/capstone-model", help="images are REPO:v<version>")
    p.add_argument("--compose-file", type=Path, default=here / "docker-compose.yml")
    p.add_argument("--project", default="capstone", help="the compose project name (default: capstone)")
    p.add_argument("--model-port", type=_port, default=8000, help="loopback port of the model service")
    p.add_argument("--prometheus-url", default="", help="Prometheus scraping the model service (optional)")
    p.add_argument("--margin", type=_non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=_non_negative, default=0.05)
    p.add_argument("--requests", type=_count, default=100, help="the load sends at most this many requests")
    p.add_argument("--rps", type=_positive_float, default=20.0, help="and at most this many a second")
    p.add_argument("--load-seconds", type=_positive_float, default=30.0, help="and none after this many seconds")
    p.add_argument("--min-availability", type=_fraction, default=0.99)
    p.add_argument("--max-p95-ms", type=_positive_float, default=500.0)
    p.add_argument("--max-error-ratio", type=_fraction, default=0.01)
    p.add_argument("--wait-seconds", type=_positive_float, default=60.0, help="bound of every wait")
    p.add_argument("--store", type=Path, default=Path("capstone-metrics.db"), help="the day-11 SQLite store")
    p.add_argument("--label", type=_label, action="append", default=[], help="KEY=VALUE for images built")
    p.add_argument("--report-json", type=Path, default=None, help="also write the report as JSON here")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parser().parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json is not None:
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
