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
import os
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


class _Unwind:
    """Undo actions of a run, a transaction's log: newest first, every one whatever the others did."""

    def __init__(self) -> None:
        self._log: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, action: Callable[[], object]) -> None:
        self._log.append((what, action))

    def __len__(self) -> int:
        return len(self._log)

    def run(self) -> list[str]:
        errors = []
        for what, action in reversed(self._log):
            try:
                action()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{what}: {exc}")
        self._log = []
        return errors


class _Abort(Exception):
    pass


def run(steps, *, clock: Callable[[], float] = time.monotonic) -> Report:
    """Run the stages in order against `steps` (README task 1) and return the Report."""
    report = Report(outcome="failed")
    log = _Unwind()

    def call(name: str, fn, *args, judge_ok=lambda result: (True, "")):
        t0 = clock()
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001
            report.stages.append(Stage(name, False, clock() - t0, repr(exc)))
            report.reason = f"{name} failed: {exc}"
            raise _Abort from exc
        elapsed = clock() - t0
        ok, detail = judge_ok(result)
        report.stages.append(Stage(name, ok, elapsed, detail or str(result)))
        return result

    def gate_view(g):
        bad = [c.name for c in g.checks if not c.passed]
        return g.passed, ("passed" if g.passed else "rejected by " + ", ".join(bad))

    def unwind_into_report() -> None:
        if not len(log):
            return
        t0 = clock()
        errors = log.run()
        report.stages.append(Stage("rollback", not errors, clock() - t0,
                                   "undone" if not errors else "undo errors: " + " / ".join(errors)))
        if errors:
            report.outcome = "failed"
            report.reason = (report.reason + " ; " if report.reason else "") + "undo errors: " + " / ".join(errors)

    try:
        candidate = call("train", steps.train)
        g = call("gate", steps.gate, candidate, judge_ok=gate_view)
        report.previous = previous = g.champion
        if not g.passed:
            report.outcome, report.reason = "rejected", gate_view(g)[1]
            return report
        report.version = version = call("register", steps.register, g)
        log.push("set_champion", lambda: steps.set_champion(previous))
        call("package", steps.package, version)
        log.push("remove_image", lambda: steps.remove_image(version))
        log.push("deploy previous", (lambda: steps.deploy(previous)) if previous is not None else steps.undeploy)
        url = call("deploy", steps.deploy, version)
        load = call("load", steps.load, url)
        verdict = call("monitor", steps.monitor, url, load, judge_ok=lambda v: (bool(v.healthy), v.reason))
        if verdict.healthy:
            report.outcome, report.reason = "promoted", ""
        else:
            report.outcome, report.reason = "rolled_back", f"unhealthy: {verdict.reason}"
            unwind_into_report()
    except _Abort:
        report.outcome = "failed"
        unwind_into_report()
    finally:
        try:
            report.serving = steps.serving()
        except Exception:  # noqa: BLE001
            report.serving = None
    return report


def _one_line(text: str) -> str:
    import re
    return re.sub(r"\r\n|\r|\n", " \u21b5 ", str(text))


def format_report(report: Report) -> str:
    """One line per stage (its name first, then ok/FAILED, its seconds as `12.3s`, its detail),
    then a last line `outcome: <outcome> ...`."""
    lines = []
    for s in report.stages:
        lines.append("%s [%s] %.3fs %s" % (s.name, "ok" if s.ok else "FAILED", s.seconds, _one_line(s.detail)))
    lines.append(f"outcome: {report.outcome} (exit {report.exit_code}) version={report.version} "
                 f"previous={report.previous} serving={report.serving} {_one_line(report.reason)}".rstrip())
    return "\n".join(lines)


# --- task 2: the load and the decision ---------------------------------------------------


def _real(x) -> bool:
    import numpy as np
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def put_load(probe: Callable[[], float | None], *, requests: int, rps: float, deadline_s: float,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> LoadResult:
    """At most `requests` probes, the i-th not before start + i / rps, none started at or after
    start + deadline_s. A probe returns the latency of an answered request or None."""
    import math
    import numpy as np

    if not isinstance(requests, (int, np.integer)) or isinstance(requests, (bool, np.bool_)) or requests < 1:
        raise ValueError("requests: an int >= 1")
    if not (_real(rps) and math.isfinite(rps) and rps > 0):
        raise ValueError("rps: a positive finite number")
    if not (_real(deadline_s) and math.isfinite(deadline_s) and deadline_s > 0):
        raise ValueError("deadline_s: a positive finite number")
    start = clock()
    stop_at = start + float(deadline_s)
    interval = 1.0 / float(rps)
    results = {"sent": 0, "ok": 0}
    i = 0
    while i < requests:
        due = start + i * interval
        if due >= stop_at:
            break
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        if clock() >= stop_at:
            break
        results["sent"] += 1
        if _real(probe_result := probe()):
            results["ok"] += 1
        i += 1
    return LoadResult(results["sent"], results["ok"], results["sent"] - results["ok"])


def judge(*, sent: int, ok: int, p95_ms: float | None, error_ratio: float | None, min_availability: float = 0.99,
          max_p95_ms: float = 500.0, max_error_ratio: float = 0.01) -> Verdict:
    """Healthy only when every signal is within its limit; the reason names every one that is not."""
    availability = ok / sent if sent > 0 else None
    checks = [
        ("availability", availability, lambda v: v is not None and v >= min_availability, f">= {min_availability}"),
        ("p95", p95_ms, lambda v: v is None or v <= max_p95_ms, f"<= {max_p95_ms} ms"),
        ("5xx", error_ratio, lambda v: v is None or v <= max_error_ratio, f"<= {max_error_ratio}"),
    ]
    failing = [f"{name} {value} (wanted {limit})" for name, value, fits, limit in checks if not fits(value)]
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


def _earlier():
    import earlier_days
    return earlier_days


def _http_get(url: str, timeout: float = 3.0):
    """(status, body bytes) of a GET with requests; connection errors raise."""
    import requests

    answer = requests.get(url, timeout=timeout, allow_redirects=False)
    return answer.status_code, answer.content


class Steps:
    """The README's `steps` against real tools: MLflow, docker, docker-compose, HTTP, Prometheus."""

    HTTP_TIMEOUT = 3.0
    DOCKER_TIMEOUT = 600.0

    def __init__(self, args, *, runner=run_command, clock=time.monotonic, sleep=time.sleep) -> None:
        self.args = args
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self._load_began: float | None = None

    # --- MLflow ---
    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.args.tracking_uri)
        mlflow.set_registry_uri(self.args.tracking_uri)
        return mlflow

    def train(self) -> str:
        ed = _earlier()
        mlflow = self._mlflow()
        from mlflow.models import infer_signature

        X_train, _, y_train, _ = ed.make_data()
        model = ed.CANDIDATES[self.args.candidate]().fit(X_train, y_train)
        mlflow.set_experiment(self.args.model_name)
        with mlflow.start_run(run_name=self.args.candidate):
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)))
        return info.model_uri

    def gate(self, candidate: str):
        ed = _earlier()
        _, X_test, _, y_test = ed.make_data()
        return ed.gate.run_gate(self.args.tracking_uri, self.args.model_name, candidate, X_test, y_test,
                                slice_by="segment", metric="roc_auc", margin=self.args.margin,
                                slice_tolerance=self.args.slice_tolerance, first_deploy=True)

    def register(self, report) -> str:
        return str(_earlier().gate.promote(self.args.tracking_uri, self.args.model_name, report))

    def set_champion(self, version: str | None) -> None:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=self.args.tracking_uri, registry_uri=self.args.tracking_uri)
        if version is None:
            client.delete_registered_model_alias(self.args.model_name, "champion")
        else:
            client.set_registered_model_alias(self.args.model_name, "champion", str(version))

    # --- images ---
    def image(self, version: str) -> str:
        return f"{self.args.image_repo}:v{version}"

    def package(self, version: str) -> str:
        import tempfile
        from pathlib import Path

        import skops.io

        mlflow = self._mlflow()
        model = mlflow.sklearn.load_model(f"models:/{self.args.model_name}/{version}")
        tag = self.image(version)
        with tempfile.TemporaryDirectory(prefix="capstone-build-") as folder:
            context = Path(folder)
            skops.io.dump(model, context / "model.skops")
            (context / "model.skops").chmod(0o644)
            (context / "Dockerfile").write_text(
                f"FROM {self.args.server_image}\n"
                "COPY model.skops /opt/model/model.skops\n"
                f"ENV MODEL_PATH=/opt/model/model.skops MODEL_VERSION=v{version}\n", encoding="utf-8")
            argv = ["docker", "build", "--tag", tag]
            for label in self.args.label:
                argv += ["--label", label]
            argv.append(str(context))
            self.runner(argv, env=dict(os.environ), timeout=self.DOCKER_TIMEOUT)
        return tag

    def remove_image(self, version: str) -> None:
        self.runner(["docker", "rmi", self.image(version)], env=dict(os.environ), timeout=120.0)

    # --- compose ---
    def _compose(self, *command: str, image: str | None = None) -> None:
        env = dict(os.environ)
        env["MODEL_PORT"] = str(self.args.model_port)
        if image is not None:
            env["MODEL_IMAGE"] = image
        argv = ["docker-compose", "--file", str(self.args.compose_file), "--project-name", self.args.project, *command]
        self.runner(argv, env=env, timeout=self.DOCKER_TIMEOUT)

    def _base_url(self) -> str:
        return f"http://127.0.0.1:{self.args.model_port}"

    def deploy(self, version: str) -> str:
        self._compose("up", "-d", "--no-deps", SERVICE, image=self.image(version))
        deadline = self.clock() + float(self.args.wait_seconds)
        url = self._base_url()
        wanted = f"v{version}"
        last = "no answer"
        while True:
            try:
                status, body = _http_get(f"{url}/health", self.HTTP_TIMEOUT)
                seen = json.loads(body or b"{}").get("model_version") if status == 200 else None
                if seen == wanted:
                    ready, _ = _http_get(f"{url}/ready", self.HTTP_TIMEOUT)
                    if ready == 200:
                        return url
                    last = f"{wanted} not ready ({ready})"
                else:
                    last = f"/health reports {seen!r}"
            except Exception as exc:  # noqa: BLE001
                last = f"{type(exc).__name__}: {exc}"
            now = self.clock()
            if now >= deadline:
                raise RuntimeError(f"{wanted} did not become ready within {self.args.wait_seconds:g} s: {last}")
            self.sleep(min(1.0, deadline - now))

    def undeploy(self) -> None:
        self._compose("rm", "--stop", "--force", SERVICE)

    def serving(self) -> str | None:
        try:
            status, body = _http_get(f"{self._base_url()}/health", self.HTTP_TIMEOUT)
            if status != 200:
                return None
            return json.loads(body).get("model_version")
        except Exception:  # noqa: BLE001
            return None

    # --- load and monitor ---
    def load(self, url: str) -> LoadResult:
        ed = _earlier()
        import itertools

        held_out = ed.make_data()[1]
        monitor = ed.monitoring.ModelPerformanceMonitor(str(self.args.store))
        rows = itertools.cycle([float(v) for v in row] for row in held_out.itertuples(index=False, name=None))

        def probe():
            return monitor.check_model_latency(url, {"features": [next(rows)]})

        self._load_began = time.time()
        return put_load(probe, requests=self.args.requests, rps=self.args.rps, deadline_s=self.args.load_seconds,
                        clock=self.clock, sleep=self.sleep)

    def _prom(self, query: str) -> float:
        import urllib.parse

        url = f"{self.args.prometheus_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        status, body = _http_get(url, self.HTTP_TIMEOUT)
        if status != 200:
            raise RuntimeError(f"Prometheus answered {status}")
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def monitor(self, url: str, load: LoadResult) -> Verdict:
        ed = _earlier()
        store = ed.monitoring.ModelPerformanceMonitor(str(self.args.store))
        began = self._load_began if self._load_began is not None else time.time()
        hours = max(0.0, time.time() - began) / 3600.0
        p95 = store.latency_percentile(95, hours=hours)
        error_ratio = None
        if self.args.prometheus_url:
            total_q = 'sum(model_requests_total{endpoint="/predict"})'
            bad_q = 'sum(model_requests_total{endpoint="/predict",status=~"5.."})'
            deadline = self.clock() + float(self.args.wait_seconds)
            while True:
                try:
                    total = self._prom(total_q)
                    if total >= load.sent:
                        error_ratio = self._prom(bad_q) / total if total else float("nan")
                        break
                except Exception:  # noqa: BLE001
                    pass
                now = self.clock()
                if now >= deadline:
                    return Verdict(False, f"5xx ratio unknown: Prometheus had not counted the load's {load.sent} "
                                          f"requests within {self.args.wait_seconds:g} s")
                self.sleep(min(0.5, deadline - now))
        return judge(sent=load.sent, ok=load.ok, p95_ms=p95, error_ratio=error_ratio,
                     min_availability=self.args.min_availability, max_p95_ms=self.args.max_p95_ms,
                     max_error_ratio=self.args.max_error_ratio)


# --- task 3: the command line -------------------------------------------------------------


def _checked(kind: str, test: Callable[[float], bool] | None = None, what: str = ""):
    """A type= function: parse as `kind` (int or float), refuse non-finite or out-of-range values."""
    import math

    def convert(text: str):
        try:
            value = int(text) if kind == "int" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind} value: {text!r}") from None
        if kind == "float" and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not finite")
        if test is not None and not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} should be {what}")
        return value

    return convert


def _one_of_candidates(text: str) -> str:
    import earlier_days

    if text in earlier_days.CANDIDATES:
        return text
    raise argparse.ArgumentTypeError(f"choose from {', '.join(sorted(earlier_days.CANDIDATES))}")


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError("expected KEY=VALUE with a non-empty KEY")
    return text


_POSITIVE = _checked("float", lambda v: v > 0, "> 0")
_NON_NEGATIVE = _checked("float", lambda v: v >= 0, ">= 0")
_UNIT = _checked("float", lambda v: 0.0 <= v <= 1.0, "between 0 and 1")

_FLAGS = [
    # flag, type, default, extra
    ("--tracking-uri", str, None, {"required": True}),
    ("--server-image", str, None, {"required": True}),
    ("--model-name", str, "capstone", {}),
    ("--candidate", _one_of_candidates, "interactions", {}),
    ("--image-repo", str, "katas/capstone-model", {}),
    ("--compose-file", str, None, {}),
    ("--project", str, "capstone", {}),
    ("--model-port", _checked("int", lambda v: 1 <= v <= 65535, "1-65535"), 8000, {}),
    ("--prometheus-url", str, "", {}),
    ("--margin", _NON_NEGATIVE, 0.01, {}),
    ("--slice-tolerance", _NON_NEGATIVE, 0.05, {}),
    ("--requests", _checked("int", lambda v: v >= 1, ">= 1"), 100, {}),
    ("--rps", _POSITIVE, 20.0, {}),
    ("--load-seconds", _POSITIVE, 30.0, {}),
    ("--min-availability", _UNIT, 0.99, {}),
    ("--max-error-ratio", _UNIT, 0.01, {}),
    ("--max-p95-ms", _POSITIVE, 500.0, {}),
    ("--wait-seconds", _POSITIVE, 60.0, {}),
    ("--store", str, "capstone-metrics.db", {}),
    ("--label", _key_value, None, {"action": "append"}),
    ("--report-json", str, None, {}),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of the README's table, with their defaults and checks (a bad value exits 2)."""
    import os.path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, kind, default, extra in _FLAGS:
        parser.add_argument(flag, type=kind, default=default, **extra)
    args = parser.parse_args(argv)
    if args.compose_file is None:
        args.compose_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker-compose.yml")
    if args.label is None:
        args.label = []
    return args


def main(argv: list[str] | None = None, *, make_steps=Steps, clock=time.monotonic) -> int:
    """Parse, run(make_steps(args), clock=clock), print the report, write --report-json, return the exit code."""
    args = parse_args(argv)
    report = run(make_steps(args), clock=clock)
    print(format_report(report), flush=True)
    if args.report_json:
        from pathlib import Path
        Path(args.report_json).write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
