"""Compose stacks: named after the run, removed also when `up` fails, reaped after a kill."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mlops_katas.infra import compose, docker_engine

from .reaping import reaped

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def compose_file(tmp_path, image: str, command: str = "sleep 300") -> str:
    path = tmp_path / "docker-compose.yml"
    path.write_text(textwrap.dedent(f"""\
        version: "3.8"
        services:
          app:
            image: {image}
            command: ["sh", "-c", "{command}"]
        volumes:
          data: {{}}
    """))
    return str(path)


def project_things(client, project: str) -> list:
    wanted = {"label": f"{compose.PROJECT_LABEL}={project}"}
    return (client.containers.list(all=True, filters=wanted)
            + client.networks.list(filters=wanted) + client.volumes.list(filters=wanted))


@pytest.fixture
def need_compose():
    if compose.probe() is not None:
        pytest.skip(compose.probe())


def test_a_project_name_carries_the_run_and_is_read_back(need_compose):
    name = compose.project_name("Day 21!")
    assert name.startswith("katas-day21-") and docker_engine.SESSION_ID in name
    owner = compose.owner_labels(name)
    assert owner[docker_engine.PID] == str(__import__("os").getpid()) and docker_engine.owner_alive(owner)
    assert compose.owner_labels("someone-elses-project") is None


def test_the_stack_is_removed_after_use_and_when_up_fails(need_compose, docker_client, docker_base_image, tmp_path):
    project = compose.project_name("harness")
    with compose.stack(compose.COMPOSE_COMMAND, [compose_file(tmp_path, docker_base_image)], project, ["up -d"],
                       ["down -v --remove-orphans"], client=docker_client):
        assert project_things(docker_client, project), "the stack is up"
    assert not project_things(docker_client, project), "the stack is gone afterwards"
    broken = compose.project_name("broken")
    with pytest.raises(Exception):
        with compose.stack(compose.COMPOSE_COMMAND, [compose_file(tmp_path, docker_base_image)], broken,
                           ["up -d", "up -d no-such-service"], ["down -v"], client=docker_client):
            pass
    assert not project_things(docker_client, broken), "a failed `up` leaves nothing behind"


def test_the_stack_of_a_killed_run_is_reaped(need_compose, docker_client, docker_base_image, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        name = compose.project_name("killed").rsplit("-", 2)[0] + f"-{child.pid}-{docker_engine.process_start(child.pid)}"
    finally:
        child.kill()
        child.wait()
    subprocess.run(["docker-compose", "-f", compose_file(tmp_path, docker_base_image), "-p", name, "up", "-d"],
                   check=True, capture_output=True, timeout=120)
    try:
        assert project_things(docker_client, name)
        removed = compose.reap(docker_client)
        assert reaped("container", removed, lambda: not project_things(docker_client, name)), (
            f"the dead run's stack is reaped: {removed}")
        assert not project_things(docker_client, name)
    finally:
        compose.remove_project(docker_client, name)
