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


class _StageFailed(Exception):
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name} failed: {error}")
        self.name = name
        self.error = error


def _timed(stages: list, clock, name: str, call, *args):
    began = clock()
    try:
        result = call(*args)
    except Exception as exc:  # noqa: BLE001
        stages.append(Stage(name, False, clock() - began, f"{type(exc).__name__}: {exc}"))
        raise _StageFailed(name, exc) from exc
    return result, began


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    stages = report.stages
    undos: list[tuple[str, Callable[[], object]]] = []
    try:
        candidate, began = _timed(stages, clock, "train", steps.train)
        stages.append(Stage("train", True, clock() - began, str(candidate)))
        gate_report, began = _timed(stages, clock, "gate", steps.gate, candidate)
        report.previous = gate_report.champion
        previous = gate_report.champion
        if not gate_report.passed:
            failed = [c.name for c in gate_report.checks if not c.passed]
            text = "gate rejected the candidate: failed checks " + ", ".join(failed)
            stages.append(Stage("gate", False, clock() - began, text))
            report.outcome, report.reason = "rejected", text
            return report
        stages.append(Stage("gate", True, clock() - began, "every check passed"))
        version, began = _timed(stages, clock, "register", steps.register, gate_report)
        stages.append(Stage("register", True, clock() - began, f"version {version}"))
        report.version = version
        undos.append((f"set_champion({previous})", lambda: steps.set_champion(previous)))
        image, began = _timed(stages, clock, "package", steps.package, version)
        stages.append(Stage("package", True, clock() - began, str(image)))
        undos.append((f"remove_image({version})", lambda: steps.remove_image(version)))
        if previous is None:
            undos.append(("undeploy()", steps.undeploy))
        else:
            undos.append((f"deploy({previous})", lambda: steps.deploy(previous)))
        url, began = _timed(stages, clock, "deploy", steps.deploy, version)
        stages.append(Stage("deploy", True, clock() - began, str(url)))
        load, began = _timed(stages, clock, "load", steps.load, url)
        stages.append(Stage("load", True, clock() - began, f"{load}"))
        verdict, began = _timed(stages, clock, "monitor", steps.monitor, url, load)
        stages.append(Stage("monitor", bool(verdict.healthy), clock() - began, verdict.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
            undos.clear()
        else:
            report.outcome, report.reason = "rolled_back", f"monitor: {verdict.reason}"
    except _StageFailed as failure:
        report.outcome = "failed"
        report.reason = f"{failure.name} failed: {failure.error}"
    finally:
        if undos:
            began = clock()
            errors = []
            for what, undo in reversed(undos):
                try:
                    undo()
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"{what}: {type(exc).__name__}: {exc}")
            detail = "undone: " + ", ".join(w for w, _ in reversed(undos))
            if errors:
                detail += "; errors: " + "; ".join(errors)
                report.outcome = "failed"
                report.reason = (report.reason + "; " if report.reason else "") + "rollback failed: " + "; ".join(errors)
            stages.append(Stage("rollback", not errors, clock() - began, detail))
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _one_line(text: str) -> str:
    return " | ".join(part for part in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = [f"{s.name:<9} {'ok' if s.ok else 'FAILED':<6} {s.seconds:8.2f}s  {_one_line(s.detail)}"
             for s in report.stages]
    lines.append(f"version {report.version} previous {report.previous} serving {report.serving} "
                 f"reason: {_one_line(report.reason)} outcome: {report.outcome}")
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _positive_finite(name: str, value) -> float:
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import numbers

    if isinstance(requests, bool) or not isinstance(requests, numbers.Integral) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    rps = _positive_finite("rps", rps)
    deadline_s = _positive_finite("deadline_s", deadline_s)
    start = clock()
    end = start + deadline_s
    sent = ok = 0
    i = 0
    while i < requests:
        due = start + i / rps
        if due >= end:
            break
        now = clock()
        if now >= end:
            break
        if due > now:
            sleep(min(due, end) - now)
            if due >= end:
                break
            if clock() >= end:
                break
        sent += 1
        latency = probe()
        if latency is not None:
            ok += 1
        i += 1
    return LoadResult(sent, ok, sent - ok)


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    problems, notes = [], []
    if not sent > 0:
        problems.append(f"availability unknown: no request was sent ({sent})")
    else:
        availability = ok / sent
        if not availability >= min_availability:
            problems.append(f"availability {availability:.3f} below {min_availability} ({ok} of {sent} answered)")
        else:
            notes.append(f"availability {availability:.3f}")
    if p95_ms is not None:
        if not p95_ms <= max_p95_ms:
            problems.append(f"p95 {p95_ms} ms above {max_p95_ms} ms")
        else:
            notes.append(f"p95 {float(p95_ms):.1f} ms")
    if error_ratio is not None:
        if not error_ratio <= max_error_ratio:
            problems.append(f"5xx ratio {error_ratio} above {max_error_ratio}")
        else:
            notes.append(f"5xx ratio {float(error_ratio):.3f}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, ", ".join(notes))


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


def _number(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _int_in(low: int, high: int | None):
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be in {low}..{high if high is not None else ''}: {text!r}")
        return value
    return check


def _candidate(text: str) -> str:
    import earlier_days

    if text not in earlier_days.CANDIDATES:
        raise argparse.ArgumentTypeError(f"unknown candidate {text!r}; one of {sorted(earlier_days.CANDIDATES)}")
    return text


def _label(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"a label is KEY=VALUE with a non-empty key: {text!r}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    from pathlib import Path

    p = argparse.ArgumentParser(prog="capstone.py", description="The whole course in one command.")
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--server-image", required=True)
    p.add_argument("--model-name", default="capstone")
    p.add_argument("--candidate", type=_candidate, default="interactions")
    p.add_argument("--image-repo", default="katas/capstone-model")
    p.add_argument("--compose-file", type=Path, default=Path(__file__).resolve().parent / "docker-compose.yml")
    p.add_argument("--project", default="capstone")
    p.add_argument("--model-port", type=_int_in(1, 65535), default=8000)
    p.add_argument("--prometheus-url", default="")
    p.add_argument("--margin", type=_non_negative, default=0.01)
    p.add_argument("--slice-tolerance", type=_non_negative, default=0.05)
    p.add_argument("--requests", type=_int_in(1, None), default=100)
    p.add_argument("--rps", type=_positive, default=20.0)
    p.add_argument("--load-seconds", type=_positive, default=30.0)
    p.add_argument("--min-availability", type=_fraction, default=0.99)
    p.add_argument("--max-error-ratio", type=_fraction, default=0.01)
    p.add_argument("--max-p95-ms", type=_positive, default=500.0)
    p.add_argument("--wait-seconds", type=_positive, default=60.0)
    p.add_argument("--store", type=Path, default=Path("capstone-metrics.db"))
    p.add_argument("--label", type=_label, action="append", default=[])
    p.add_argument("--report-json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    import json

    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report))
    if args.report_json is not None:
        from pathlib import Path

        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
