"""Tasks 3 and 4 against a real Docker engine: pipeline.sh builds, tests in the image, deploys, undoes.

The app is the harness's stand-in model server (`docker/standin`). Containers carry the run's
labels and are removed at the end of each test, also when it fails.
"""

import contextlib
import shutil
import uuid

import pytest

from mlops_katas.infra.docker_engine import run_labels
from mlops_katas.infra.docker_fixtures import remove_named, serving_version
from mlops_katas.infra.http_server import free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

IMAGE = "katas/day14-app"
UNIT_TESTS = "python -m unittest -q checks_app"


@pytest.fixture
def service(request, docker_client, docker_base_image, standin_context, learner_file, run_bash, tmp_path):
    name = f"katas-day14-{uuid.uuid4().hex[:8]}"
    image = f"{IMAGE}-{name.rsplit('-', 1)[1]}"  # its own: runs side by side must not retag each other's v2
    port = free_port()
    context = own_context(standin_context, tmp_path / "context", name)

    def deploy(version, *build_args, test_cmd=UNIT_TESTS):
        args = ["--mode", "docker", "--image", image, "--name", name, "--port", str(port), "--context", str(context),
                "--test-cmd", test_cmd, "--retries", "10", "--interval", "0.3", "--timeout", "2",
                "--rollout-timeout", "20", "--step-timeout", "90",
                "--build-arg", f"BASE_IMAGE={docker_base_image}", "--build-arg", f"APP_VERSION={version}"]
        for item in build_args:
            args += ["--build-arg", item]
        for key, value in run_labels(request.node.nodeid).items():
            args += ["--label", f"{key}={value}"]
        return run_bash(learner_file("pipeline.sh"), [*args, version],
                        env={"DOCKER": shutil.which("docker") or "docker"}, timeout=100)

    def version(wait_s=15.0):
        return serving_version(port, wait_s)

    def containers():
        return docker_client.containers.list(all=True, filters={"name": name})

    deploy.version, deploy.containers = version, containers
    try:
        yield deploy
    finally:
        remove_named(docker_client, name)
        remove_tags(docker_client, image)


def own_context(standin_context, folder, name):
    """A copy of the stand-in's build context whose last layer is this test's alone. Two tests building the same
    steps would otherwise get one image ID, and one test untagging it at its end would delete the image the other is
    about to tag."""
    shutil.copytree(standin_context, folder)
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text(f"{dockerfile.read_text().rstrip()}\nLABEL org.mlops-katas.test-build=\"{name}\"\n")
    return folder


def remove_tags(docker_client, image):
    """Untag every version the test built of `image`. Its untagged parent layers stay (noprune): the classic builder
    keeps its cache in them, and a build of the same steps running beside this test may be using them right now."""
    import docker

    for built in docker_client.images.list(name=image):
        for tag in built.tags:
            if tag.startswith(f"{image}:"):
                with contextlib.suppress(docker.errors.APIError):
                    docker_client.images.remove(tag, noprune=True)


@pytest.mark.task(taskno=3)
def test_pipeline_builds_tests_and_deploys_for_real(service):
    done = service("v1")
    assert done.returncode == 0, f"a healthy v1 should pass the pipeline (exit 0)\n{done.output}"
    assert service.version() == "v1", "v1 should answer /health on the service port"


@pytest.mark.task(taskno=3)
def test_failing_tests_in_the_image_deploy_nothing(service):
    done = service("v1", test_cmd="python -c 'raise SystemExit(1)'")
    assert done.returncode == 1, f"failing tests in the image should fail the pipeline (exit 1)\n{done.output}"
    assert service.containers() == [], "no container may be deployed when the tests fail"


@pytest.mark.task(taskno=3)
def test_a_healthy_new_version_replaces_the_running_one(service):
    first = service("v1")
    assert first.returncode == 0, f"a healthy v1 should pass the pipeline (exit 0)\n{first.output}"
    second = service("v2")
    assert second.returncode == 0, (
        f"a healthy v2 should replace the running v1 (exit 0); the container named like the service has to go "
        f"before the new one can take its name\n{second.output}")
    assert service.version() == "v2", "after a healthy deploy v2 should answer on the service port"
    assert len(service.containers()) == 1, "one container should serve the name after the replacement"


@pytest.mark.task(taskno=4)
def test_an_unhealthy_version_is_undone_and_the_previous_one_serves(service):
    first = service("v1")
    assert first.returncode == 0, f"a healthy v1 should pass the pipeline (exit 0)\n{first.output}"
    broken = service("v2", "APP_PORT=8001")
    assert broken.returncode == 1, f"v2 listens on the wrong port and should fail its health check (exit 1)\n{broken.output}"
    assert service.version() == "v1", "after the undo v1 should answer on the service port again"
