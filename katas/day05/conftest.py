"""Test doubles for day 05: a fake clock, a fake Docker engine behind a recording runner,
and a health probe that asks the fake engine what is serving on a port.

They stand in for your own logic's collaborators only; the real `docker` CLI and real HTTP
are exercised by the docker tier and by the task 1 tests.
"""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from mlops_katas.fakes import FakeClock

# Options of `docker run` / `docker build` that take a value (both `--opt v` and `--opt=v`).
_VALUE_OPTIONS = {
    "--name", "-p", "--publish", "-l", "--label", "-e", "--env", "--network", "--restart",
    "-t", "--tag", "--build-arg", "-f", "--file", "--stop-timeout", "-m", "--memory", "--cpus",
    "--health-cmd", "--health-interval", "--health-retries", "--health-timeout", "--user", "-u",
    "--platform", "--entrypoint", "-w", "--workdir", "--pull",
}


@dataclass
class Container:
    id: str
    name: str
    image: str
    host_port: int | None
    labels: dict[str, str]
    auto_remove: bool
    running: bool = True
    stops: int = 0
    starts: int = 0


@dataclass
class FakeDocker:
    """A small model of a Docker engine that answers `docker build/run/stop/start/rm`.

    Images named in `broken_builds` fail to build; builds of anything else succeed.
    `fail_commands` makes the named subcommand fail (`run`) or time out after doing its
    work (`run:timeout`: the container exists, but the CLI never returned).
    """

    binary: str = "docker"
    images: set[str] = field(default_factory=set)
    containers: dict[str, Container] = field(default_factory=dict)
    broken_builds: set[str] = field(default_factory=set)
    fail_commands: set[str] = field(default_factory=set)
    calls: list[tuple[list[str], float]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- what a test reads ---------------------------------------------------

    def serving(self, port: int) -> Container | None:
        return next((c for c in self.containers.values() if c.running and c.host_port == port), None)

    def commands(self) -> list[list[str]]:
        return [argv[1:] for argv, _ in self.calls]

    def add_running(self, name: str, image: str, port: int) -> Container:
        self.images.add(image)
        container = Container(f"id{next(self._ids)}", name, image, port, {}, auto_remove=False)
        self.containers[name] = container
        return container

    # --- the runner ----------------------------------------------------------

    def __call__(self, argv, timeout):
        argv = list(argv)
        self.calls.append((argv, timeout))
        assert argv and argv[0] == self.binary, f"the command should start with the docker binary {self.binary!r}: {argv}"
        assert isinstance(timeout, (int, float)) and 0 < timeout < float("inf"), (
            f"every docker command needs a finite positive timeout, got {timeout!r} for {argv}"
        )
        if len(argv) < 2:
            return self._done(argv, 1, err="docker: no subcommand")
        sub, args = argv[1], argv[2:]
        if sub in self.fail_commands:
            return self._done(argv, 1, err=f"fake docker: {sub} failed on purpose")
        handler = getattr(self, f"_{sub}", None)
        if handler is None:
            return self._done(argv, 1, err=f"fake docker: unsupported subcommand {sub!r}")
        done = handler(argv, args)
        if f"{sub}:timeout" in self.fail_commands:  # the engine did the work, the CLI never returned
            raise subprocess.TimeoutExpired(argv, timeout)
        return done

    def _done(self, argv, code, out="", err=""):
        return subprocess.CompletedProcess(argv, code, out, err)

    def _parse(self, args):
        options: dict[str, list[str]] = {}
        flags: set[str] = set()
        rest: list[str] = []
        it = iter(args)
        for arg in it:
            if rest:
                rest.append(arg)
            elif arg.startswith("-") and "=" in arg and arg.split("=", 1)[0] in _VALUE_OPTIONS:
                key, value = arg.split("=", 1)
                options.setdefault(key, []).append(value)
            elif arg in _VALUE_OPTIONS:
                options.setdefault(arg, []).append(next(it, ""))
            elif arg.startswith("-"):
                flags.add(arg)
            else:
                rest.append(arg)
        return options, flags, rest

    def _build(self, argv, args):
        options, _, rest = self._parse(args)
        tags = options.get("-t", []) + options.get("--tag", [])
        if not rest or not tags:
            return self._done(argv, 1, err="fake docker: build needs -t TAG and a context")
        if any(t in self.broken_builds for t in tags):
            return self._done(argv, 1, err="fake docker: RUN pip install failed")
        self.images.update(tags)
        return self._done(argv, 0, out="built")

    def _run(self, argv, args):
        options, flags, rest = self._parse(args)
        if not rest:
            return self._done(argv, 1, err="fake docker: run needs an image")
        image = rest[0]
        if image not in self.images:
            return self._done(argv, 125, err=f"Unable to find image '{image}' locally")
        name = (options.get("--name") or [f"auto{len(self.containers)}"])[-1]
        if name in self.containers:
            return self._done(argv, 125, err=f'Conflict. The container name "/{name}" is already in use')
        publish = (options.get("-p", []) + options.get("--publish", []))
        host_port = int(publish[0].split(":")[-2]) if publish and publish[0].count(":") >= 1 else None
        if host_port is not None and self.serving(host_port) is not None:
            return self._done(argv, 125, err=f"Bind for 127.0.0.1:{host_port} failed: port is already allocated")
        labels = dict(v.split("=", 1) if "=" in v else (v, "") for v in options.get("-l", []) + options.get("--label", []))
        container = Container(f"id{next(self._ids)}", name, image, host_port, labels, auto_remove="--rm" in flags)
        self.containers[name] = container
        return self._done(argv, 0, out=container.id + "\n")

    def _find(self, ref):
        return self.containers.get(ref) or next((c for c in self.containers.values() if c.id == ref), None)

    def _stop(self, argv, args):
        _, _, refs = self._parse(args)
        for ref in refs:
            container = self._find(ref)
            if container is None:
                return self._done(argv, 1, err=f"Error: No such container: {ref}")
            container.running = False
            container.stops += 1
            if container.auto_remove:
                del self.containers[container.name]
        return self._done(argv, 0, out="\n".join(refs))

    def _start(self, argv, args):
        _, _, refs = self._parse(args)
        for ref in refs:
            container = self._find(ref)
            if container is None:
                return self._done(argv, 1, err=f"Error: No such container: {ref}")
            holder = self.serving(container.host_port) if container.host_port else None
            if holder is not None and holder is not container:
                return self._done(argv, 1, err=f"Bind for 127.0.0.1:{container.host_port} failed: port is already allocated")
            container.running = True
            container.starts += 1
        return self._done(argv, 0, out="\n".join(refs))

    def _rm(self, argv, args):
        _, flags, refs = self._parse(args)
        force = bool(flags & {"-f", "--force"})
        for ref in refs:
            container = self._find(ref)
            if container is None:
                return self._done(argv, 1, err=f"Error: No such container: {ref}")
            if container.running and not force:
                return self._done(argv, 1, err=f"You cannot remove a running container {container.id}. Stop it first")
            del self.containers[container.name]
        return self._done(argv, 0, out="\n".join(refs))


class FakeHealth:
    """Answers a probe from what the fake engine runs on the URL's port.

    `script[image]` is a list of answers for that image's successive probes (the last one
    repeats); True is healthy, False an error status, "hang" a probe that uses up its whole
    timeout on the fake clock. Images not in the script are healthy.
    """

    def __init__(self, engine: FakeDocker, clock: FakeClock) -> None:
        self.engine = engine
        self.clock = clock
        self.script: dict[str, list] = {}
        self.probes: list[tuple[str, float]] = []
        self._seen: dict[str, int] = {}

    def __call__(self, url, timeout):
        assert isinstance(timeout, (int, float)) and 0 < timeout < float("inf"), (
            f"every health probe needs a finite positive timeout, got {timeout!r}"
        )
        self.probes.append((url, timeout))
        parts = urlsplit(url)
        container = self.engine.serving(parts.port) if parts.port else None
        if container is None or parts.path != "/health":
            return False
        n = self._seen.get(container.image, 0)
        self._seen[container.image] = n + 1
        answers = self.script.get(container.image, [True])
        answer = answers[min(n, len(answers) - 1)]
        if answer == "hang":
            self.clock.now += timeout
            return False
        return bool(answer)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine() -> FakeDocker:
    return FakeDocker()


@pytest.fixture
def health(engine, clock) -> FakeHealth:
    return FakeHealth(engine, clock)
