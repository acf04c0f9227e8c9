"""Day 21: the course in one command (capstone)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
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


class _StageError(Exception):
    """A step raised: its stage is already recorded."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage} failed: {cause}")
        self.stage = stage


class _Run:
    """One run as a chain of stages; each stage calls the next one and undoes its own change on the way
    back when the run did not end in a promotion."""

    def __init__(self, steps, clock) -> None:
        self.steps, self.clock = steps, clock
        self.report = Report(outcome="failed")
        self.promoted = False
        self.undo_began: float | None = None
        self.undo_errors: list[str] = []
        self.undos_run = 0

    def call(self, name: str, fn, *args, judge_ok=lambda value: True, detail=str):
        t0 = self.clock()
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - every error fails its stage
            self.report.stages.append(Stage(name, False, self.clock() - t0, repr(exc)))
            raise _StageError(name, exc) from exc
        self.report.stages.append(Stage(name, bool(judge_ok(value)), self.clock() - t0, detail(value)))
        return value

    def undo(self, what: str, fn, *args) -> None:
        if self.promoted:
            return
        if self.undo_began is None:
            self.undo_began = self.clock()
        self.undos_run += 1
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - the other undos still run
            self.undo_errors.append(f"undo {what} failed: {exc}")

    def after_register(self, version: str, previous) -> None:
        try:
            self.after_package(version, previous)
        finally:
            self.undo(f"champion -> {previous}", self.steps.set_champion, previous)

    def after_package(self, version: str, previous) -> None:
        self.call("package", self.steps.package, version)
        try:
            self.after_deploy_started(version, previous)
        finally:
            self.undo(f"image v{version}", self.steps.remove_image, version)

    def after_deploy_started(self, version: str, previous) -> None:
        try:
            url = self.call("deploy", self.steps.deploy, version)
            load = self.call("load", self.steps.load, url,
                             detail=lambda r: f"{r.sent} sent, {r.ok} answered, {r.failed} failed")
            verdict = self.call("monitor", self.steps.monitor, url, load, judge_ok=lambda v: v.healthy,
                                detail=lambda v: v.reason)
            if verdict.healthy:
                self.promoted = True
            else:
                self.report.outcome, self.report.reason = "rolled_back", verdict.reason
        finally:
            if previous is None:
                self.undo("undeploy", self.steps.undeploy)
            else:
                self.undo(f"redeploy v{previous}", self.steps.deploy, previous)

    def go(self) -> Report:
        steps, report = self.steps, self.report
        try:
            candidate = self.call("train", steps.train)
            gate_report = self.call("gate", steps.gate, candidate, judge_ok=lambda g: g.passed,
                                    detail=lambda g: "passed" if g.passed else "failed: " + ", ".join(
                                        c.name for c in g.checks if not c.passed))
            report.previous = gate_report.champion
            if not gate_report.passed:
                report.outcome = "rejected"
                report.reason = report.stages[-1].detail
                return report
            version = self.call("register", steps.register, gate_report, detail=lambda v: f"version {v}")
            report.version = version
            self.after_register(version, report.previous)
        except _StageError as exc:
            report.outcome, report.reason = "failed", str(exc)
        finally:
            if self.undos_run:
                report.stages.append(Stage("rollback", not self.undo_errors, self.clock() - self.undo_began,
                                           "; ".join(self.undo_errors) or f"{self.undos_run} undos done"))
            if self.undo_errors:
                report.outcome = "failed"
                report.reason = "; ".join(filter(None, [report.reason, *self.undo_errors]))
            if self.promoted:
                report.outcome, report.reason = "promoted", ""
            try:
                report.serving = steps.serving()
            except Exception:  # noqa: BLE001
                report.serving = None
        return report


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    return _Run(steps, clock).go()


def format_report(report: Report) -> str:
    out = []
    for s in report.stages:
        detail = s.detail.replace("\r", " ").replace("\n", " | ")
        out.append(f"{s.name} [{'ok' if s.ok else 'FAILED'}] {s.seconds:.2f}s {detail}".rstrip())
    reason = report.reason.replace("\r", " ").replace("\n", " | ")
    out.append(f"exit {report.exit_code}, outcome: {report.outcome}"
               + (f" ({reason})" if reason else "")
               + f"; serving {report.serving}")
    return "\n".join(out)


# --- task 2: the load and the decision ---------------------------------------------------


def _bounded_number(name: str, value) -> float:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: a number is required, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: a positive finite number is required, got {value!r}")
    return value


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    if type(requests) is not int or requests < 1:
        raise ValueError(f"requests: an int >= 1 is required, got {requests!r}")
    interval = 1.0 / _bounded_number("rps", rps)
    budget = _bounded_number("deadline_s", deadline_s)
    t0 = clock()
    answered = []
    while len(answered) < requests:
        offset = len(answered) * interval
        if offset >= budget:
            break
        pause = t0 + offset - clock()
        if pause > 0:
            sleep(pause)
        if clock() - t0 >= budget:
            break
        answered.append(probe() is not None)
    return LoadResult(len(answered), sum(answered), answered.count(False))


_SIGNALS = (("availability", "min"), ("p95", "max"), ("5xx", "max"))


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    measured = {"availability": (ok / sent) if sent > 0 else None, "p95": p95_ms, "5xx": error_ratio}
    limits = {"availability": min_availability, "p95": max_p95_ms, "5xx": max_error_ratio}
    bad, good = [], []
    if not sent > 0:
        bad.append("availability not measured: the load sent no request")
    for name, kind in _SIGNALS:
        value = measured[name]
        if value is None:
            continue
        within = value >= limits[name] if kind == "min" else value <= limits[name]
        (good if within else bad).append(f"{name} {value:.4g} ({kind} {limits[name]:g})")
    return Verdict(not bad, "; ".join(bad) if bad else ", ".join(good))


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


HTTP_TIMEOUT = (2.0, 4.0)  # connect, read


class Steps:
    """The README's steps with MLflow's client API, `requests`, docker and docker-compose."""

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_t0_wall: float | None = None
        self._baseline: dict[str, float] = {}

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)

    def _tag(self, version) -> str:
        return "{}:v{}".format(self.args.image_repo, version)

    def _model_url(self) -> str:
        return "http://127.0.0.1:%d" % int(self.args.model_port)

    def _docker(self, argv, timeout=900.0, **extra_env) -> None:
        env = dict(os.environ)
        env.update(extra_env)
        self.runner(list(argv), env=env, timeout=timeout)

    def _compose_argv(self, *rest: str) -> list[str]:
        return ["docker-compose", f"--file={self.args.compose_file}", "-p", str(self.args.project), *rest]

    def train(self) -> str:
        import mlflow
        from mlflow.models.signature import infer_signature

        from earlier_days import CANDIDATES, make_data

        X_train, _X_test, y_train, _y_test = make_data()
        estimator = CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        client = self._client()
        experiment = client.get_experiment_by_name(self.args.model_name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(self.args.model_name)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_param("candidate", self.args.candidate)
            signature = infer_signature(X_train.astype(float), estimator.predict_proba(X_train)[:, 1])
            logged = mlflow.sklearn.log_model(sk_model=estimator, name="model", signature=signature,
                                              pip_requirements=["scikit-learn"])
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
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))
            return
        from mlflow.exceptions import MlflowException

        try:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        except MlflowException:
            # deleting an alias that is not there is fine; any other trouble (a registry that cannot be
            # reached) is not: reading the model's aliases raises it again
            if "champion" in client.get_registered_model(self.args.model_name).aliases:
                raise

    def package(self, version: str) -> str:
        import shutil

        import mlflow.sklearn
        import skops.io

        mlflow.set_registry_uri(self.args.tracking_uri)
        mlflow.set_tracking_uri(self.args.tracking_uri)
        estimator = mlflow.sklearn.load_model("models:/%s/%s" % (self.args.model_name, version))
        tag = self._tag(version)
        context = Path(tempfile.mkdtemp(prefix="capstone-image-"))
        try:
            skops.io.dump(estimator, str(context / "model.skops"))
            lines = [f"FROM {self.args.server_image}",
                     "COPY model.skops /opt/model/model.skops",
                     "ENV MODEL_PATH=/opt/model/model.skops",
                     f"ENV MODEL_VERSION=v{version}"]
            for label in self.args.label:
                key, _, value = label.partition("=")
                key, value = (json.dumps(text, ensure_ascii=False).replace("$", "\\$") for text in (key, value))
                lines.append(f"LABEL {key}={value}")
            (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
            self._docker(["docker", "build", "-t", tag, str(context)])
        finally:
            shutil.rmtree(context, ignore_errors=True)
        return tag

    def remove_image(self, version: str) -> None:
        self._docker(["docker", "image", "rm", self._tag(version)], timeout=120.0)

    def deploy(self, version: str) -> str:
        self._docker(self._compose_argv("up", "--detach", "--no-deps", "model"), timeout=600.0,
                     MODEL_IMAGE=self._tag(version), MODEL_PORT=str(self.args.model_port))
        give_up = self.clock() + self.args.wait_seconds
        want = f"v{version}"
        while self.clock() < give_up:
            if self.serving() == want and self._http_status("/ready") == 200:
                return self._model_url()
            self.sleep(max(0.0, min(1.0, give_up - self.clock())))
        if self.serving() == want and self._http_status("/ready") == 200:
            return self._model_url()
        raise TimeoutError(f"{want} did not serve and get ready on port {self.args.model_port} "
                           f"within --wait-seconds {self.args.wait_seconds:g}")

    def _http_status(self, path: str) -> int | None:
        import requests

        try:
            return requests.get(self._model_url() + path, timeout=HTTP_TIMEOUT).status_code
        except requests.RequestException:
            return None

    def undeploy(self) -> None:
        self._docker(self._compose_argv("stop", "model"), timeout=120.0)
        self._docker(self._compose_argv("rm", "-f", "model"), timeout=120.0)

    def _prometheus_by_status(self) -> dict[str, float]:
        import requests

        answer = requests.get(f"{self.args.prometheus_url.rstrip('/')}/api/v1/query", timeout=HTTP_TIMEOUT,
                              params={"query": 'sum by (status) (model_requests_total{endpoint="/predict"})'})
        answer.raise_for_status()
        return {item["metric"].get("status", ""): float(item["value"][1]) for item in answer.json()["data"]["result"]}

    def load(self, url: str) -> LoadResult:
        from earlier_days import make_data, monitoring

        held_out = make_data()[1].to_numpy(dtype=float).tolist()
        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        position = {"i": 0}

        def probe():
            row = held_out[position["i"] % len(held_out)]
            position["i"] += 1
            return store.check_model_latency(url, {"features": [row]})

        self._baseline = {}
        if self.args.prometheus_url:
            try:
                self._baseline = self._prometheus_by_status()
            except Exception:  # noqa: BLE001 - no baseline: the monitor will find out
                self._baseline = {}
        self._load_t0_wall = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _counted_since_load(self) -> dict[str, float]:
        now = self._prometheus_by_status()
        since = {}
        for status, value in now.items():
            before = self._baseline.get(status, 0.0)
            since[status] = value - before if value >= before else value  # a restart resets a counter
        return since

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        from earlier_days import monitoring

        t0 = self._load_t0_wall if self._load_t0_wall is not None else time.time() - 3600
        store = monitoring.ModelPerformanceMonitor(str(self.args.store))
        p95 = store.latency_percentile(95, hours=max(time.time() - t0, 0.0) / 3600 + 1e-4)
        error_ratio = None
        if self.args.prometheus_url:
            give_up = self.clock() + self.args.wait_seconds
            counts: dict[str, float] = {}
            while True:
                try:
                    counts = self._counted_since_load()
                except Exception:  # noqa: BLE001 - Prometheus not there (yet)
                    counts = {}
                if sum(counts.values()) >= load.sent:
                    break
                if self.clock() >= give_up:
                    return Verdict(False, f"5xx ratio unknown: Prometheus counted {sum(counts.values()):g} of the "
                                          f"{load.sent} requests within {self.args.wait_seconds:g} s")
                self.sleep(max(0.0, min(0.5, give_up - self.clock())))
            total = sum(counts.values())
            errors = sum(v for s, v in counts.items() if s.startswith("5") and len(s) == 3)
            error_ratio = errors / total if total else math.nan
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)

    def serving(self) -> str | None:
        import requests

        try:
            answer = requests.get(self._model_url() + "/health", timeout=HTTP_TIMEOUT)
            return answer.json().get("model_version") if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return None


# --- task 3: the command line -------------------------------------------------------------


class _Value:
    """An argparse type: parse with `kind`, then check the range."""

    def __init__(self, kind, *, minimum=None, maximum=None, positive=False) -> None:
        self.kind, self.minimum, self.maximum, self.positive = kind, minimum, maximum, positive
        self.__name__ = kind.__name__

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {self.kind.__name__}") from exc
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not finite")
        if self.positive and value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} should be > 0")
        if self.minimum is not None and value < self.minimum:
            raise argparse.ArgumentTypeError(f"{text!r} should be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise argparse.ArgumentTypeError(f"{text!r} should be <= {self.maximum}")
        return value


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


FLAGS = [
    ("--model-name", dict(default="capstone")),
    ("--image-repo", dict(default="katas/capstone-model")),
    ("--compose-file", dict(default=str(Path(__file__).resolve().with_name("docker-compose.yml")))),
    ("--project", dict(default="capstone")),
    ("--model-port", dict(type=_Value(int, minimum=1, maximum=65535), default=8000)),
    ("--prometheus-url", dict(default="")),
    ("--margin", dict(type=_Value(float, minimum=0.0), default=0.01)),
    ("--slice-tolerance", dict(type=_Value(float, minimum=0.0), default=0.05)),
    ("--requests", dict(type=_Value(int, minimum=1), default=100)),
    ("--rps", dict(type=_Value(float, positive=True), default=20.0)),
    ("--load-seconds", dict(type=_Value(float, positive=True), default=30.0)),
    ("--min-availability", dict(type=_Value(float, minimum=0.0, maximum=1.0), default=0.99)),
    ("--max-error-ratio", dict(type=_Value(float, minimum=0.0, maximum=1.0), default=0.01)),
    ("--max-p95-ms", dict(type=_Value(float, positive=True), default=500.0)),
    ("--wait-seconds", dict(type=_Value(float, positive=True), default=60.0)),
    ("--store", dict(default="capstone-metrics.db")),
    ("--label", dict(type=_key_value, action="append", default=[])),
    ("--report-json", dict(default=None)),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from earlier_days import CANDIDATES

    parser = argparse.ArgumentParser(prog="capstone.py", description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True, help="the MLflow server")
    parser.add_argument("--server-image", required=True, help="the day-03 image to build FROM")
    parser.add_argument("--candidate", choices=sorted(CANDIDATES), default="interactions")
    for flag, options in FLAGS:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    sys.stdout.write(format_report(report) + "\n")
    if args.report_json is not None:
        with open(args.report_json, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=1)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
