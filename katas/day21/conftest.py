"""Day 21 fixtures: a fake world for the orchestration, and the real stack for the end-to-end run.

`FakeSteps` is a small world (a registry alias, a set of images, the version serving) with
the `steps` interface of the README. Every call is recorded in `calls`, moves the fake
clock by a known number of seconds (`COSTS`), and changes the world the way the real step
would, so the tests check what the world looks like after your `run`, not only what it
called. `fail="deploy"` makes that step raise after doing half its work.

The end-to-end world (`capstone_world`) is `stack.py`'s `CapstoneStack` (the images, your
compose file's `mlflow` service, Prometheus with day 18's rules, Alertmanager with your file,
an SMTP sink), started once per module and only after your files passed their checks; it
is always taken down, and a killed run's leftovers are reaped by the next run. Your
`capstone.py` runs as a learner runs it: `python capstone.py ...` in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAY = Path(__file__).resolve().parent
if str(DAY) not in sys.path:
    sys.path.append(str(DAY))  # `import earlier_days` from capstone.py, whichever folder it comes from

from fake_world import COSTS, FAILED, FakeSteps, StepFailed  # noqa: E402,F401
from stack import http_json, prometheus_query  # noqa: E402


@pytest.fixture
def fake_steps():
    """Call it like FakeSteps(clock, ...)."""
    return FakeSteps


@pytest.fixture
def run_in_limited_memory(impl_dir):
    """Runs a Python script in a child process whose address space is limited to 3 GiB (so a list built
    from a huge budget fails with MemoryError instead of eating the machine); the impl folder and this day
    are on its path. Returns the CompletedProcess; raises subprocess.TimeoutExpired after `timeout` s."""
    import os

    def run(script: str, timeout: float = 60):
        limit = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(impl_dir), str(DAY), str(DAY.parents[1])]),
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        return subprocess.run([sys.executable, "-c", limit + script], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=str(impl_dir))

    return run


# --- the end-to-end world -------------------------------------------------------------------------


class CapstoneWorld:
    """The stack of `stack.py` (MLflow, Prometheus, Alertmanager, the SMTP sink) for one module;
    started on first use, with what the tests ask of it."""

    def __init__(self, request, tmp_path_factory) -> None:
        self.request = request
        self.tmp = tmp_path_factory.mktemp("day21-world")
        self.stack = None
        self.runs: dict[str, dict] = {}
        self.outputs: dict[str, str] = {}

    def start(self, exit_stack, compose_file: Path, alertmanager_file: Path) -> None:
        if self.stack is not None:
            return
        from stack import CapstoneStack

        docker_build = self.request.getfixturevalue("docker_build")
        self.stack = exit_stack.enter_context(CapstoneStack(
            compose_file, alertmanager_file, self.tmp, build=lambda context, name: docker_build(context, name=name).tag,
            client=self.request.getfixturevalue("docker_client")))
        self.prometheus, self.smtp, self.model_port = self.stack.prometheus, self.stack.smtp, self.stack.model_port
        self.tracking_uri = self.stack.tracking_uri

    def run_capstone(self, capstone_py: Path, key: str, candidate: str, timeout: float = 200) -> dict:
        """`python capstone.py ...` as a learner runs it; the JSON report it wrote."""
        from mlops_katas.infra import docker_engine

        report = self.tmp / f"report-{key}.json"
        labels = [part for k, v in docker_engine.run_labels(self.request.node.nodeid).items()
                  for part in ("--label", f"{k}={v}")]
        argv = self.stack.capstone_argv(capstone_py, candidate, report, labels)
        env = self.stack.capstone_env()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=self.tmp)
        self.outputs[key] = f"exit code {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if not report.exists():
            pytest.fail(f"capstone.py wrote no --report-json; it exited {done.returncode}:\n{self.outputs[key]}",
                        pytrace=False)
        result = json.loads(report.read_text(encoding="utf-8"))
        result["_returncode"] = done.returncode
        result["_stdout"] = done.stdout
        self.runs[key] = result
        return result

    def champion(self) -> str | None:
        import mlflow
        from mlflow.exceptions import MlflowException

        client = mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        try:
            return str(client.get_model_version_by_alias("capstone", "champion").version)
        except MlflowException:
            return None

    def serving(self) -> str | None:
        try:
            return http_json(f"http://127.0.0.1:{self.model_port}/health").get("model_version")
        except OSError:
            return None

    def alerts(self) -> list[dict]:
        """Every alert Prometheus has pending or firing."""
        return prometheus_query(self.prometheus.url, "ALERTS")

    def wait_for_rule_evaluations(self, *, after: float, timeout: float) -> None:
        """Until every rule group was last evaluated at or after the epoch second `after`."""
        from datetime import datetime, timezone

        def last_evaluations() -> list[float]:
            groups = http_json(f"{self.prometheus.url}/api/v1/rules")["data"]["groups"]
            return [datetime.strptime(g["lastEvaluation"][:19], "%Y-%m-%dT%H:%M:%S")
                    .replace(tzinfo=timezone.utc).timestamp() for g in groups]

        deadline = time.monotonic() + timeout
        while True:
            seen = last_evaluations()
            if seen and min(seen) >= after:
                return
            if time.monotonic() >= deadline:
                pytest.fail(f"Prometheus had not evaluated its rules after the run within {timeout:g} s "
                            f"(last evaluations {seen})", pytrace=False)
            time.sleep(0.25)


@pytest.fixture(scope="module")
def world_holder(request, tmp_path_factory):
    import contextlib

    world = CapstoneWorld(request, tmp_path_factory)
    with contextlib.ExitStack() as stack:
        yield world, stack


@pytest.fixture
def capstone_world(request, world_holder, learner_file, impl_dir):
    """The started world; your files are checked first (an unfinished one fails here, before any container)."""
    import capstone

    compose_file = learner_file("docker-compose.yml")
    alertmanager_file = learner_file("alertmanager.yml")
    capstone.parse_args(["--tracking-uri", "http://127.0.0.1:9", "--server-image", "x"])
    capstone.judge(sent=1, ok=1, p95_ms=1.0, error_ratio=0.0)
    world, stack = world_holder
    world.request = request
    world.capstone_py = impl_dir / "capstone.py"
    world.start(stack, compose_file, alertmanager_file)
    from mlops_katas.plugin import add_failure_context

    add_failure_context(request.node, "capstone.py output", lambda: "\n\n".join(
        f"--- {key}\n{text}" for key, text in world.outputs.items()))
    return world
