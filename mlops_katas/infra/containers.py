"""Running one container for a test: labelled, on a loopback port, waited on, always removed.

Single containers go through the Docker SDK rather than pytest-docker: a test needs
the container object itself (exit code, HEALTHCHECK state, logs, `exec`, the user it
runs as), an exited container must fail the wait at once instead of after a timeout,
and removal must happen even when start-up fails. pytest-docker drives
`docker compose` through a shell, errors (rather than skips) without an engine and
leaves the stack behind when `up` fails; it fits only a kata that ships a compose
file.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Iterator

from . import docker_engine

WAIT_S = 60.0
POLL_S = 0.25
LOG_TAIL_LINES = 60
FAST_HEALTH_INTERVAL_NS = 500_000_000


class ContainerFailed(Exception):
    """The container exited, turned unhealthy or never answered; the message says which."""


@dataclass
class RunningContainer:
    container: object  # docker.models.containers.Container
    port: int          # the host port on 127.0.0.1 published for the container port
    url: str           # http://127.0.0.1:<port>
    removed: bool = field(default=False, repr=False)

    def logs_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self.removed:
            return "(container already removed)"
        return log_tail(self.container, lines)

    def health_log(self) -> str:
        """The output of the last HEALTHCHECK run, or '' when there is none yet."""
        self.container.reload()
        entries = ((self.container.attrs.get("State") or {}).get("Health") or {}).get("Log") or []
        if not entries:
            return ""
        last = entries[-1]
        return f"exit code {last.get('ExitCode')}: {(last.get('Output') or '').strip()}"


def log_tail(container, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = container.logs(tail=lines).decode("utf-8", errors="replace")
    except Exception as exc:  # the logs are a courtesy; never hide the real failure
        return f"(no logs: {exc})"
    return text.strip() or "(the container wrote no output)"


def _fast_healthcheck(image) -> dict | None:
    """The image's own HEALTHCHECK command, run every 0.5 s so tests need not wait its interval.

    The start period is at least the wait budget, so a slow start is not counted as
    failed checks; a passing check still turns the container healthy at once.
    """
    config = (image.attrs.get("Config") or {}).get("Healthcheck") or {}
    test = config.get("Test")
    if not test or test[0] == "NONE":
        return None
    return {
        "test": test,
        "interval": FAST_HEALTH_INTERVAL_NS,
        "timeout": config.get("Timeout") or 5_000_000_000,
        "retries": config.get("Retries") or 3,
        "start_period": max(config.get("StartPeriod") or 0, int(WAIT_S * 1e9)),
    }


def _published_port(container, container_port: str, deadline: float) -> int:
    # The mapping shows up only after a reload, and on some engines a moment later still.
    while True:
        container.reload()
        bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in bindings.get(container_port) or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        _fail_if_stopped(container)
        if time.monotonic() > deadline:
            raise ContainerFailed(f"Docker never reported a host port for {container_port}")
        time.sleep(POLL_S)


def _fail_if_stopped(container) -> None:
    if container.status in ("exited", "dead"):
        code = (container.attrs.get("State") or {}).get("ExitCode")
        raise ContainerFailed(f"the container exited with code {code} before it answered; "
                              f"last log lines:\n{log_tail(container)}")


def wait_until_answers(running: RunningContainer, path: str = "/health", wait_s: float = WAIT_S) -> None:
    """Poll `path` until it answers 200; fail at once if the container exits or turns unhealthy."""
    import requests

    deadline = time.monotonic() + wait_s
    last = "no answer yet"
    while True:
        running.container.reload()
        _fail_if_stopped(running.container)
        if running.container.health == "unhealthy":
            raise ContainerFailed(f"the container's HEALTHCHECK reports unhealthy ({running.health_log()}); "
                                  f"last log lines:\n{running.logs_tail()}")
        try:
            answer = requests.get(running.url + path, timeout=2)
            if answer.status_code == 200:
                return
            last = f"GET {path} answered {answer.status_code}"
        except requests.RequestException as exc:
            last = f"GET {path} failed ({exc.__class__.__name__})"
        if time.monotonic() > deadline:
            raise ContainerFailed(f"no 200 from {path} within {wait_s:g} s ({last}); "
                                  f"last log lines:\n{running.logs_tail()}")
        time.sleep(POLL_S)


@contextlib.contextmanager
def run_container(image: str, *, port: int = 8000, env: dict[str, str] | None = None,
                  wait_path: str | None = "/health", wait_s: float = WAIT_S, fast_healthcheck: bool = True,
                  test: str | None = None, client=None, **run_kwargs) -> Iterator[RunningContainer]:
    """Start `image` detached, publish `port` on 127.0.0.1, wait for `wait_path`, remove at exit.

    `test` (a node id) goes into the labels. `run_kwargs` pass through to
    `containers.run` (command, user, mem_limit, ...). With `wait_path=None` it only
    waits for the port mapping. The container is removed on every way out, also when
    start-up fails.
    """
    client = client or docker_engine.get_client()
    image_obj = client.images.get(image)
    healthcheck = _fast_healthcheck(image_obj) if fast_healthcheck else None
    if healthcheck and "healthcheck" not in run_kwargs:
        run_kwargs["healthcheck"] = healthcheck
    container_port = f"{port}/tcp"
    container = client.containers.run(
        image, detach=True, environment=env or {}, labels=docker_engine.run_labels(test),
        ports={container_port: ("127.0.0.1", None)}, **run_kwargs)
    running = RunningContainer(container, 0, "")
    try:
        deadline = time.monotonic() + wait_s
        running.port = _published_port(container, container_port, deadline)
        running.url = f"http://127.0.0.1:{running.port}"
        if wait_path is not None:
            wait_until_answers(running, wait_path, max(deadline - time.monotonic(), 1.0))
        yield running
    finally:
        remove(container)
        running.removed = True


def remove(container) -> None:
    import docker

    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass


def reap(client=None, *, session: str | None = None) -> list[str]:
    """Remove labelled containers, networks and per-run images of dead runs on this host (or of one session).

    Without `session`: what runs that no longer exist left (a SIGKILL, an OOM kill).
    With `session`: everything this run created, as a last sweep at its end. Returns
    the names removed.
    """
    import docker

    client = client or docker_engine.get_client()
    host = docker_engine.run_labels()[docker_engine.HOST]
    wanted = [f"{docker_engine.MANAGED}=true", f"{docker_engine.HOST}={host}"]
    if session:
        wanted.append(f"{docker_engine.SESSION}={session}")

    def doomed(labels: dict[str, str]) -> bool:
        return bool(session) or not docker_engine.owner_alive(labels)

    removed = []
    # Other runs remove their own things meanwhile: what vanished between listing and
    # reading is skipped, never an error.
    for container in client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True):
        if doomed(container.labels):
            remove(container)
            removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": wanted}):
        if doomed(network.attrs.get("Labels") or {}):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()
                removed.append(f"network {network.name}")
    # Only images built for one run carry a session label; the build cache carries none.
    for image in client.api.images(filters={"label": [*wanted, docker_engine.SESSION]}):
        if doomed(image.get("Labels") or {}):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.images.remove(image["Id"], force=True)
                tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
                removed.append(f"image {', '.join(tags) or image['Id'].removeprefix('sha256:')[:12]}")
    return removed
