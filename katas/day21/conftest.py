"""Day 21 fixtures: a fake world for the orchestration, and the real stack for the end-to-end run.

`FakeSteps` is a small world (a registry alias, a set of images, the version serving) with
the `steps` interface of the README. Every call is recorded in `calls`, moves the fake
clock by a known number of seconds (`COSTS`), and changes the world the way the real step
would, so the tests check what the world looks like after your `run`, not only what it
called. `fail="deploy"` makes that step raise after doing half its work.

The end-to-end world (`capstone_world`) is started once per module and only after your
files passed their checks: the images (the MLflow server of `docker/day21/mlflow` and the
day-03 reference server), your compose file's `mlflow` service brought up with
pytest-docker's compose executor under a project name this run owns (always taken down,
also when `up` fails; a killed run's stack is reaped by the next run), a real SMTP sink,
Alertmanager with your `alertmanager.yml` (its `smtp_smarthost` pointed at the sink), and
Prometheus scraping the model service's port every second with day 18's burn-rate rules.
Your `capstone.py` runs as a learner runs it: `python capstone.py ...` in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

DAY = Path(__file__).resolve().parent
ROOT = DAY.parents[1]
if str(DAY) not in sys.path:
    sys.path.append(str(DAY))  # `import earlier_days` from capstone.py, whichever folder it comes from

from fake_world import COSTS, FAILED, FakeSteps, StepFailed  # noqa: E402,F401


@pytest.fixture
def fake_steps():
    """Call it like FakeSteps(clock, ...)."""
    return FakeSteps


# --- the end-to-end world -------------------------------------------------------------------------


def free_port() -> int:
    from mlops_katas.infra.http_server import free_port as free

    return free()


def http_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


class CapstoneWorld:
    """The stack, Prometheus, Alertmanager and the SMTP sink for one module; started on first use."""

    def __init__(self, request, tmp_path_factory) -> None:
        self.request = request
        self.tmp = tmp_path_factory.mktemp("day21-world")
        self.started = False
        self.runs: dict[str, dict] = {}
        self.outputs: dict[str, str] = {}

    def start(self, stack, compose_file: Path, alertmanager_file: Path) -> None:
        if self.started:
            return
        import yaml

        from earlier_days import MLFLOW_CONTEXT, SLO_RULES, server_context
        from mlops_katas.infra import compose, docker_engine
        from mlops_katas.infra.prometheus import AlertmanagerServer, PrometheusServer
        from mlops_katas.infra.smtp import SmtpSink

        self.started = True
        docker_build = self.request.getfixturevalue("docker_build")
        self.docker = self.request.getfixturevalue("docker_client")
        mlflow_image = docker_build(MLFLOW_CONTEXT, name="day21-mlflow").tag
        self.server_image = docker_build(server_context(self.tmp / "server"), name="day21-server").tag
        self.compose_file = compose_file
        self.project = compose.project_name("day21")
        self.image_repo = f"katas/day21-model-{docker_engine.SESSION_ID}"
        self.mlflow_port, self.model_port = free_port(), free_port()
        command = compose.with_env_file(compose.COMPOSE_COMMAND, self.tmp / "stack.env", {
            "MLFLOW_IMAGE": mlflow_image, "MLFLOW_PORT": str(self.mlflow_port), "MODEL_PORT": str(self.model_port)})
        self.services = stack.enter_context(compose.stack(
            command, [str(compose_file)], self.project,
            ["up -d mlflow"], ["down -v --remove-orphans"], client=self.docker))
        stack.callback(self.remove_images)
        self.tracking_uri = f"http://127.0.0.1:{self.mlflow_port}"

        self.smtp = stack.enter_context(SmtpSink())
        config = yaml.safe_load(alertmanager_file.read_text(encoding="utf-8"))
        config.setdefault("global", {})["smtp_smarthost"] = f"{self.smtp.host}:{self.smtp.port}"
        alertmanager = stack.enter_context(AlertmanagerServer(yaml.safe_dump(config)))
        prometheus_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["slo_rules.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager.url.split("//", 1)[1]]}]}]},
            "scrape_configs": [{"job_name": "model",
                                "static_configs": [{"targets": [f"127.0.0.1:{self.model_port}"]}]}],
        }
        self.prometheus = stack.enter_context(PrometheusServer(
            yaml.safe_dump(prometheus_config), rule_files={"slo_rules.yml": SLO_RULES.read_text(encoding="utf-8")}))
        self.services.wait_until_responsive(lambda: self._answers(self.tracking_uri + "/health"), timeout=120,
                                            pause=0.5)

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def remove_images(self) -> None:
        import docker

        for image in self.docker.images.list(name=self.image_repo):
            try:
                self.docker.images.remove(image.id, force=True)
            except docker.errors.APIError:
                pass

    def run_capstone(self, capstone_py: Path, key: str, candidate: str, timeout: float = 200) -> dict:
        """`python capstone.py ...` as a learner runs it; the JSON report it wrote."""
        from mlops_katas.infra import docker_engine

        report = self.tmp / f"report-{key}.json"
        labels = [part for k, v in docker_engine.run_labels(self.request.node.nodeid).items()
                  for part in ("--label", f"{k}={v}")]
        argv = [sys.executable, str(capstone_py), "--tracking-uri", self.tracking_uri,
                "--server-image", self.server_image, "--candidate", candidate,
                "--image-repo", self.image_repo, "--compose-file", str(self.compose_file),
                "--project", self.project, "--model-port", str(self.model_port),
                "--prometheus-url", self.prometheus.url, "--requests", "60", "--rps", "30",
                "--load-seconds", "20", "--wait-seconds", "60", "--store", str(self.tmp / "metrics.db"),
                "--report-json", str(report), *labels]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DAY), str(ROOT), os.environ.get("PYTHONPATH", "")])}
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
        query = urllib.parse.quote("ALERTS")
        return http_json(f"{self.prometheus.url}/api/v1/query?query={query}")["data"]["result"]

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
