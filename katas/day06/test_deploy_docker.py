"""Tasks 3 and 4 against a real Docker engine: deploy.sh with the real `docker` CLI and curl.

The app is the harness's stand-in model server (`docker/standin`; the `broken` build
answers 500 on /health), built by your script into `katas/day06-app` and kept as a build cache. Containers
carry the run's labels and are removed at the end of each test, also when it fails.
"""

import shutil
import uuid

import pytest

from mlops_katas.infra.docker_engine import run_labels
from mlops_katas.infra.docker_fixtures import remove_named, serving_version
from mlops_katas.infra.http_server import free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

IMAGE = "katas/day06-app"


class Service:
    def __init__(self, request, client, base_image, script, run_bash, tmp_path, context):
        self.client = client
        self.context = context
        self.base_image = base_image
        self.script = script
        self.run_bash = run_bash
        self.name = f"katas-day06-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.state_file = tmp_path / "deployed-version"
        self.labels = run_labels(request.node.nodeid)

    def deploy(self, version, mode="healthy"):
        args = ["--image", IMAGE, "--name", self.name, "--port", str(self.port), "--context", str(self.context),
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
        return serving_version(self.port, wait_s)

    def state(self):
        return self.state_file.read_text().strip() if self.state_file.exists() else ""

    def remove_containers(self):
        remove_named(self.client, self.name)


@pytest.fixture
def service(request, docker_client, docker_base_image, standin_context, learner_file, run_bash, tmp_path):
    svc = Service(request, docker_client, docker_base_image, lambda: learner_file("deploy.sh"), run_bash, tmp_path,
                  standin_context)
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
