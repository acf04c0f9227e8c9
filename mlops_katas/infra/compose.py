"""Compose stacks for tests: brought up with pytest-docker, owned by this run, always removed.

pytest-docker (`docker_services`) runs a compose file's `up` before the tests and `down`
after them. Three of its defaults do not fit a course that must leave nothing behind:
it runs `docker compose` (v2; Debian's `docker-compose` 1.29 is what exists here), it
leaves the stack up when `up` fails (the set-up runs outside its `try`), and its project
name `pytest<pid>` says nothing a later run could use to clean up after a killed one.

Here every project is named `katas-<tag>-<session>-<pid>-<pid start>`: compose labels each
container, network and volume with `com.docker.compose.project`, so `reap()` finds the
projects of runs that no longer exist (or of this run, as a last sweep) and removes them
with the Docker SDK, without needing their compose file. `stack(...)` is pytest-docker's
executor with `down` also after a failed `up`; `compose_fixtures` overrides pytest-docker's
fixtures with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

from . import docker_engine

COMPOSE_COMMAND = "docker-compose"
PROJECT_LABEL = "com.docker.compose.project"
PREFIX = "katas"
_NAME = re.compile(rf"^{PREFIX}-(?P<tag>[a-z0-9]+)-(?P<session>[0-9a-f]{{12}})-(?P<pid>\d+)-(?P<start>\d*)$")


def probe() -> str | None:
    """None when the `docker-compose` command exists, else what to install."""
    if shutil.which(COMPOSE_COMMAND) is None:
        return "the docker-compose command is not installed (Debian: apt-get install docker-compose)"
    return None


def project_name(tag: str = "stack") -> str:
    """A compose project name that carries this run's session, pid and pid start time."""
    clean = re.sub(r"[^a-z0-9]", "", tag.lower()) or "stack"
    labels = docker_engine.run_labels()
    return (f"{PREFIX}-{clean}-{labels[docker_engine.SESSION]}-{labels[docker_engine.PID]}-"
            f"{labels[docker_engine.PID_START]}")


def owner_labels(project: str) -> dict[str, str] | None:
    """The run labels a project name encodes, or None for a project the course did not name."""
    match = _NAME.match(project)
    if match is None:
        return None
    return {docker_engine.SESSION: match["session"], docker_engine.PID: match["pid"],
            docker_engine.PID_START: match["start"]}


def remove_project(client, project: str) -> list[str]:
    """Remove every container, network and volume compose made for `project`."""
    import docker

    from .containers import remove

    wanted = {"label": f"{PROJECT_LABEL}={project}"}
    removed = []
    for container in client.containers.list(all=True, filters=wanted, ignore_removed=True):
        remove(container)
        removed.append(f"container {container.name}")
    for network in client.networks.list(filters=wanted):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            network.remove()
            removed.append(f"network {network.name}")
    for volume in client.volumes.list(filters=wanted):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
    return removed


def reap(client=None, *, session: str | None = None) -> list[str]:
    """Remove the stacks of dead runs (or, with `session`, every stack of that run)."""
    client = client or docker_engine.get_client()
    projects = set()
    for container in client.containers.list(all=True, filters={"label": PROJECT_LABEL}, ignore_removed=True):
        projects.add(container.labels.get(PROJECT_LABEL, ""))
    for volume in client.volumes.list(filters={"label": PROJECT_LABEL}):
        projects.add((volume.attrs.get("Labels") or {}).get(PROJECT_LABEL, ""))
    removed = []
    for project in sorted(projects):
        owner = owner_labels(project)
        if owner is None:
            continue
        doomed = owner[docker_engine.SESSION] == session if session else not docker_engine.owner_alive(owner)
        if doomed:
            removed += remove_project(client, project)
    return removed


@contextlib.contextmanager
def stack(compose_command: str, compose_file, project: str, setup, cleanup, client=None) -> Iterator[object]:
    """pytest-docker's `get_docker_services`, except that `down` also runs when `up` fails
    (or is interrupted), and whatever `down` leaves is removed by project label."""
    from pytest_docker.plugin import DockerComposeExecutor, Services

    compose = DockerComposeExecutor(compose_command, compose_file, project)
    try:
        for command in [setup] if isinstance(setup, str) else (setup or []):
            compose.execute(command)
        yield Services(compose)
    finally:
        try:
            for command in [cleanup] if isinstance(cleanup, str) else (cleanup or []):
                with contextlib.suppress(Exception):  # the sweep below still runs
                    compose.execute(command)
        finally:
            remove_project(client or docker_engine.get_client(), project)


def with_env_file(command: str, path: Path, values: dict[str, str]) -> str:
    """Write the compose file's `${VARIABLES}` to `path` (KEY=VALUE lines) and return
    `command` with `--env-file` pointing at it."""
    path = Path(path)
    path.write_text("".join(f"{key}={value}{os.linesep}" for key, value in values.items()), encoding="utf-8")
    return f"{command} --env-file {shlex.quote(str(path))}"
