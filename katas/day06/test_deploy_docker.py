"""Tasks 3 and 4 against a real Docker engine: deploy.sh with the real `docker` CLI and curl.

The app is day 05's tiny /health server (`katas/day05/testapp`; the `broken` build answers
500), built by your script into `katas/day06-app` and kept as a build cache. Containers
carry the run's labels and are removed at the end of each test, also when it fails.
"""

import json
import shutil
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from mlops_katas.infra.docker_engine import run_labels
from mlops_katas.infra.http_server import free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

APP = Path(__file__).resolve().parents[1] / "day05" / "testapp"
IMAGE = "katas/day06-app"


class Service:
    def __init__(self, request, client, base_image, script, run_bash, tmp_path):
        self.client = client
        self.base_image = base_image
        self.script = script
        self.run_bash = run_bash
        self.name = f"katas-day06-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.state_file = tmp_path / "deployed-version"
        self.labels = run_labels(request.node.nodeid)

    def deploy(self, version, mode="healthy"):
        args = ["--image", IMAGE, "--name", self.name, "--port", str(self.port), "--context", str(APP),
                "--state-file", str(self.state_file), "--retries", "10", "--interval", "0.3", "--timeout", "2",
                "--build-arg", f"BASE_IMAGE={self.base_image}", "--build-arg", f"APP_VERSION={version}",
                "--build-arg", f"APP_MODE={mode}"]
        for key, value in self.labels.items():
            args += ["--label", f"{key}={value}"]
        return self.run_bash(self.script(), [*args, version], env={"DOCKER": shutil.which("docker") or "docker"},
                             timeout=90)

    def containers(self):
        return {c.name: c for c in self.client.containers.list(all=True, filters={"name": self.name})}

    def answering_version(self, wait_s=15.0):
        """The model_version /health reports, polled until it answers 200 or the wait ends."""
        deadline = time.monotonic() + wait_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                    return json.load(answer).get("model_version")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        pytest.fail(f"nothing answered 200 on port {self.port} within {wait_s:g} s ({last})")

    def state(self):
        return self.state_file.read_text().strip() if self.state_file.exists() else ""

    def remove_containers(self):
        import docker

        for container in self.containers().values():
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass


@pytest.fixture
def service(request, docker_client, docker_base_image, learner_file, run_bash, tmp_path):
    svc = Service(request, docker_client, docker_base_image, lambda: learner_file("deploy.sh"), run_bash, tmp_path)
    try:
        yield svc
    finally:
        svc.remove_containers()


@pytest.mark.task(taskno=3)
def test_deploy_sh_swaps_in_a_healthy_version(service):
    first = service.deploy("v1")
    assert first.returncode == 0, f"a healthy v1 should deploy (exit 0)\n{first.output}"
    assert service.answering_version() == "v1", "v1 should answer on the service port"
    second = service.deploy("v2")
    assert second.returncode == 0, f"a healthy v2 should deploy (exit 0)\n{second.output}"
    assert service.answering_version() == "v2", "v2 should answer on the same port"
    left = sorted(service.containers())
    assert left == [f"{service.name}-v2"], f"only the v2 container should be left, found {left}"
    assert service.state() == "v2", f"the state file should say v2, holds {service.state()!r}"


@pytest.mark.task(taskno=4)
def test_deploy_sh_rolls_back_a_broken_version(service):
    first = service.deploy("v1")
    assert first.returncode == 0, f"a healthy v1 should deploy (exit 0)\n{first.output}"
    v1_id = service.containers()[f"{service.name}-v1"].id
    broken = service.deploy("v2-broken", mode="broken")
    assert broken.returncode == 1, f"a version answering 500 should fail the deploy (exit 1)\n{broken.output}"
    left = service.containers()
    assert f"{service.name}-v2-broken" not in left, "the broken container should be stopped and removed"
    v1 = left.get(f"{service.name}-v1")
    assert v1 is not None and v1.id == v1_id, "the v1 container should be kept, not removed or recreated"
    assert service.answering_version() == "v1", "v1 should answer on the same port after the rollback"
    assert service.state() == "v1", f"the state file should still say v1, holds {service.state()!r}"
