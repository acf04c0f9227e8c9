"""Tasks 4 and 5 against a real Docker engine: your Deployer with its real runner and probe.

The images are built by your Deployer from `docker/standin/` (a tiny stand-in for the
day-03 server; the `broken` build answers 500 on /health) and kept as a build cache under `katas/day05-app`. The
containers carry the run's labels and are removed at the end of each test, also when it
fails.
"""

import uuid

import pytest

from deploy_automation import Deployer, RetryPolicy
from mlops_katas.infra.docker_engine import run_labels
from mlops_katas.infra.docker_fixtures import remove_named, serving_version
from mlops_katas.infra.http_server import free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

IMAGE = "katas/day05-app"


class Service:
    def __init__(self, request, client, base_image, context):
        self.client = client
        self.base_image = base_image
        self.context = context
        self.name = f"katas-day05-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.labels = run_labels(request.node.nodeid)
        self._deployer = None

    @property
    def deployer(self):
        """Made on first use, inside the test, so an unfinished stub fails the test itself."""
        if self._deployer is None:
            # ~10 s of grace for a container to start on a loaded machine (a broken one is refused as late)
            policy = RetryPolicy(max_attempts=12, initial_delay_s=0.2, max_delay_s=1.0, deadline_s=20.0,
                                 probe_timeout_s=2.0)
            self._deployer = Deployer(self.name, self.port, policy=policy, labels=self.labels, command_timeout_s=120)
        return self._deployer

    def deploy(self, version, mode="healthy"):
        return self.deployer.deploy(IMAGE, version, context=str(self.context),
                                    build_args={"BASE_IMAGE": self.base_image, "APP_VERSION": version, "APP_MODE": mode})

    def containers(self):
        return {c.name: c for c in self.client.containers.list(all=True, filters={"name": self.name})}

    def answering_version(self, wait_s=15.0):
        return serving_version(self.port, wait_s)

    def remove_containers(self):
        remove_named(self.client, self.name)


@pytest.fixture
def service(request, docker_client, docker_base_image, standin_context):
    svc = Service(request, docker_client, docker_base_image, standin_context)
    try:
        yield svc
    finally:
        svc.remove_containers()


@pytest.mark.task(taskno=4)
def test_a_healthy_new_version_replaces_the_old_one(service):
    first = service.deploy("v1")
    assert first.promoted, f"v1 of the test app is healthy and should be promoted: {first}"
    assert service.answering_version() == "v1", "after promoting v1 it should answer on the service port"
    second = service.deploy("v2")
    assert second.promoted, f"v2 of the test app is healthy and should be promoted: {second}"
    assert service.answering_version() == "v2", "after promoting v2 it should answer on the same port"
    left = service.containers()
    assert list(left) == [f"{service.name}-v2"], f"only the v2 container should be left, found {sorted(left)}"
    assert service.deployer.current_version == "v2", "current_version should record the promoted version"


@pytest.mark.task(taskno=5)
def test_a_broken_version_is_rolled_back_and_the_old_one_keeps_serving(service):
    first = service.deploy("v1")
    assert first.promoted, f"v1 of the test app is healthy and should be promoted: {first}"
    v1_id = service.containers()[f"{service.name}-v1"].id
    broken = service.deploy("v2-broken", mode="broken")
    assert not broken.promoted, f"v2-broken answers 500 on /health and must not be promoted: {broken}"
    assert service.deployer.current_version == "v1", "current_version should stay v1 after the rollback"
    left = service.containers()
    assert f"{service.name}-v2-broken" not in left, "the broken v2 container should be stopped and removed"
    v1 = left.get(f"{service.name}-v1")
    assert v1 is not None and v1.id == v1_id, "the v1 container should be kept, not removed or recreated"
    assert service.answering_version() == "v1", "v1 should answer on the same port after the rollback"
