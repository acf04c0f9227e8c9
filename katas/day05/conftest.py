"""Test doubles for day 05: a fake clock, a fake Docker engine behind a recording runner,
and a health probe that asks the fake engine what is serving on a port.

They stand in for your own logic's collaborators only; the real `docker` CLI and real HTTP
are exercised by the docker tier and by the task 1 tests.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from mlops_katas.fakes import FakeClock

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container


def _aliases(spec: str) -> dict[str, str]:
    """'-t/--tag --build-arg' -> {'-t': '--tag', '--tag': '--tag', '--build-arg': '--build-arg'}."""
    table = {}
    for group in spec.split():
        names = group.split("/")
        canonical = next((n for n in names if n.startswith("--")), names[0])
        table.update({n: canonical for n in names})
    return table


# The options of each subcommand as the real docker CLI (28.x, legacy builder and buildx) parses
# them: (options taking a value, boolean options, options allowed after the first positional).
# Parsing is per subcommand because the same letter means different things: `build -t TAG`,
# `run -t` (a tty), `stop -t SECONDS`; `rm -f` (force) but `build -f FILE`.
_SUBCOMMANDS = {
    "build": (
        _aliases("--add-host --build-arg --cache-from --cgroup-parent --cpu-period --cpu-quota -c/--cpu-shares "
                 "--cpuset-cpus --cpuset-mems -f/--file --iidfile --isolation --label -m/--memory --memory-swap "
                 "--network --platform --security-opt --shm-size -t/--tag --target --ulimit --allow --annotation "
                 "--attest --build-context --builder --cache-to --call --metadata-file -o/--output --progress "
                 "--provenance --sbom --secret --ssh"),
        _aliases("--compress --disable-content-trust --force-rm --help --no-cache --pull -q/--quiet --rm --load "
                 "--push --check"),
        True,
    ),
    "run": (
        _aliases("--add-host -a/--attach --blkio-weight --blkio-weight-device --cap-add --cap-drop --cgroup-parent "
                 "--cgroupns --cidfile --cpu-period --cpu-quota --cpu-rt-period --cpu-rt-runtime -c/--cpu-shares "
                 "--cpus --cpuset-cpus --cpuset-mems --detach-keys --device --device-cgroup-rule --device-read-bps "
                 "--device-read-iops --device-write-bps --device-write-iops --dns --dns-option --dns-search "
                 "--domainname --entrypoint -e/--env --env-file --expose --gpus --group-add --health-cmd "
                 "--health-interval --health-retries --health-start-interval --health-start-period "
                 "--health-timeout -h/--hostname --ip --ip6 --ipc --isolation --kernel-memory -l/--label "
                 "--label-file --link --link-local-ip --log-driver --log-opt --mac-address -m/--memory "
                 "--memory-reservation --memory-swap --memory-swappiness --mount --name --network/--net "
                 "--network-alias/--net-alias --oom-score-adj --pid --pids-limit --platform -p/--publish --pull "
                 "--restart --runtime --security-opt --shm-size --stop-signal --stop-timeout --storage-opt "
                 "--sysctl --tmpfs --ulimit -u/--user --userns --uts -v/--volume --volume-driver --volumes-from "
                 "-w/--workdir"),
        _aliases("-d/--detach --disable-content-trust --help --init -i/--interactive --no-healthcheck "
                 "--oom-kill-disable --privileged -P/--publish-all -q/--quiet --read-only --rm --sig-proxy -t/--tty "
                 "--use-api-socket"),
        False,  # everything after the image is the container's command
    ),
    "stop": (_aliases("-s/--signal -t/--timeout/--time"), _aliases("--help"), True),
    "start": (_aliases("--detach-keys --checkpoint --checkpoint-dir"), _aliases("-a/--attach -i/--interactive --help"),
              True),
    "rm": ({}, _aliases("-f/--force -l/--link -v/--volumes --help"), True),
}


class _UsageError(Exception):
    pass


def parse_options(subcommand: str, args: list[str]) -> tuple[dict[str, list[str]], set[str], list[str]]:
    """(values by canonical option, boolean options set, positional arguments), as docker's flag parser
    reads them: `--opt v`, `--opt=v`, `-o v`, `-ov`, `-o=v`, combined short booleans (`-fv`), `--`."""
    values, booleans, interspersed = _SUBCOMMANDS[subcommand]
    options: dict[str, list[str]] = {}
    flags: set[str] = set()
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            rest += args[i:]
            break
        if not arg.startswith("-") or arg == "-":
            rest.append(arg)
            if not interspersed:
                rest += args[i:]
                break
            continue
        if arg.startswith("--"):
            key, eq, value = arg.partition("=")
            if key in values:
                if not eq:
                    if i >= len(args):
                        raise _UsageError(f"flag needs an argument: {key}")
                    value, i = args[i], i + 1
                options.setdefault(values[key], []).append(value)
            elif key in booleans:
                if not eq or value.lower() in ("true", "1"):
                    flags.add(booleans[key])
                elif value.lower() in ("false", "0"):
                    flags.discard(booleans[key])
                else:
                    raise _UsageError(f"invalid argument {value!r} for {key}")
            else:
                raise _UsageError(f"unknown flag: {key}")
            continue
        shorts = arg[1:]
        j = 0
        while j < len(shorts):
            key = "-" + shorts[j]
            if key in values:
                value = shorts[j + 1:].removeprefix("=")
                if not value:
                    if i >= len(args):
                        raise _UsageError(f"flag needs an argument: {key}")
                    value, i = args[i], i + 1
                options.setdefault(values[key], []).append(value)
                break
            if key not in booleans:
                raise _UsageError(f"unknown shorthand flag: {shorts[j]!r} in {arg}")
            flags.add(booleans[key])
            j += 1
    return options, flags, rest


def parse_publish(spec: str) -> tuple[str, int | None, int]:
    """`[ip:][host_port:]container_port[/proto]` -> (host ip, host port or None, container port)."""
    spec = spec.rsplit("/", 1)[0]
    ip = "0.0.0.0"
    if spec.startswith("["):  # [::1]:8080:8000
        ip, _, spec = spec[1:].partition("]:")
    parts = spec.split(":")
    if len(parts) == 3:
        ip, host, container = parts
    elif len(parts) == 2:
        host, container = parts
    elif len(parts) == 1:
        host, container = "", parts[0]
    else:
        raise _UsageError(f"invalid publish spec {spec!r}")
    try:
        return ip or "0.0.0.0", (int(host) if host else None), int(container)
    except ValueError:
        raise _UsageError(f"invalid publish spec {spec!r}") from None


@dataclass
class Container:
    id: str
    name: str
    image: str
    host_port: int | None
    labels: dict[str, str]
    auto_remove: bool
    host_ip: str = "127.0.0.1"
    container_port: int = CONTAINER_PORT
    running: bool = True
    stops: int = 0
    starts: int = 0


@dataclass
class FakeDocker:
    """A small model of a Docker engine that answers `docker build/run/stop/start/rm`.

    Options are parsed per subcommand like the real CLI (`parse_options`); an option the
    real CLI does not know fails with exit 125 as it does there.

    Images named in `broken_builds` fail to build; builds of anything else succeed. Every build prints the
    build args' values on stdout, a failed one on stderr too, as a RUN step may. A bare
    `--build-arg KEY` (no `=`) is read from the environment, as the real CLI reads it.
    `fail_commands` makes the named subcommand fail (`run`) or time out after doing its
    work (`run:timeout`: the container exists, but the CLI never returned; a `build:timeout`'s
    `TimeoutExpired` carries what the build printed, its build args' values, as bytes in output and stderr).
    A `run` without `--detach` does what the real CLI does: the container runs and the CLI
    stays attached to it, so the command only ends at its timeout.
    """

    binary: str = "docker"
    images: set[str] = field(default_factory=set)
    containers: dict[str, Container] = field(default_factory=dict)
    broken_builds: set[str] = field(default_factory=set)
    fail_commands: set[str] = field(default_factory=set)
    calls: list[tuple[list[str], float]] = field(default_factory=list)
    builds: list[dict] = field(default_factory=list)  # each build's tags, context and build args, parsed
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
        if handler is None or sub not in _SUBCOMMANDS:
            return self._done(argv, 1, err=f"fake docker: unsupported subcommand {sub!r}")
        try:
            done = handler(argv, *parse_options(sub, args))
        except _UsageError as exc:
            return self._done(argv, 125, err=f"docker {sub}: {exc}")
        if f"{sub}:timeout" in self.fail_commands:  # the engine did the work, the CLI never returned
            # subprocess.run hands on what it had read before the timeout, as bytes (even with text=True): a build
            # that hung after a RUN step printed its build args carries their values in output and stderr
            printed = done.stdout.removesuffix("built").encode() if sub == "build" else None
            raise subprocess.TimeoutExpired(argv, timeout, output=printed, stderr=printed)
        return done

    def _done(self, argv, code, out="", err=""):
        return subprocess.CompletedProcess(argv, code, out, err)

    def _build(self, argv, options, flags, rest):
        tags = options.get("--tag", [])
        if len(rest) != 1 or not tags:
            return self._done(argv, 1, err="fake docker: build needs -t TAG and exactly one context")
        build_args = {}
        for arg in options.get("--build-arg", []):
            key, eq, value = arg.partition("=")
            if eq:
                build_args[key] = value
            elif key in os.environ:  # a bare `--build-arg KEY` takes KEY from the CLI's environment, as docker does
                build_args[key] = os.environ[key]
            # unset there too: the arg is not set at all and the Dockerfile's default stays
        self.builds.append({"tags": tags, "context": rest[0], "build_args": build_args})
        # A RUN step may print what it was given (a URL holding a token, say): the legacy builder on stdout,
        # and a failing step's output ends up on stderr too.
        echoed = "".join(f"#7 0.{n}12 fetching {value}\n" for n, value in enumerate(build_args.values()))
        if any(t in self.broken_builds for t in tags):
            return self._done(argv, 1, out=echoed, err=f"{echoed}fake docker: RUN pip install failed")
        self.images.update(tags)
        return self._done(argv, 0, out=f"{echoed}built")

    def _run(self, argv, options, flags, rest):
        if not rest:
            return self._done(argv, 1, err="fake docker: run needs an image")
        image = rest[0]
        if image not in self.images:
            return self._done(argv, 125, err=f"Unable to find image '{image}' locally")
        name = (options.get("--name") or [f"auto{len(self.containers)}"])[-1]
        if name in self.containers:
            return self._done(argv, 125, err=f'Conflict. The container name "/{name}" is already in use')
        publish = options.get("--publish", [])
        host_ip, host_port, container_port = parse_publish(publish[0]) if publish else ("", None, 0)
        if host_port is not None and self.serving(host_port) is not None:
            return self._done(argv, 125, err=f"Bind for 127.0.0.1:{host_port} failed: port is already allocated")
        labels = dict(v.split("=", 1) if "=" in v else (v, "") for v in options.get("--label", []))
        container = Container(f"id{next(self._ids)}", name, image, host_port, labels, auto_remove="--rm" in flags,
                              host_ip=host_ip, container_port=container_port)
        self.containers[name] = container
        if "--detach" not in flags:  # attached: the CLI streams the server's output until it is killed
            raise subprocess.TimeoutExpired(argv, self.calls[-1][1])
        return self._done(argv, 0, out=container.id + "\n")

    def _find(self, ref):
        return self.containers.get(ref) or next((c for c in self.containers.values() if c.id == ref), None)

    def _stop(self, argv, options, flags, refs):
        if not refs:
            return self._done(argv, 1, err='"docker stop" requires at least 1 argument.')
        for ref in refs:
            container = self._find(ref)
            if container is None:
                return self._done(argv, 1, err=f"Error: No such container: {ref}")
            container.running = False
            container.stops += 1
            if container.auto_remove:
                del self.containers[container.name]
        return self._done(argv, 0, out="\n".join(refs))

    def _start(self, argv, options, flags, refs):
        if not refs:
            return self._done(argv, 1, err='"docker start" requires at least 1 argument.')
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

    def _rm(self, argv, options, flags, refs):
        if not refs:
            return self._done(argv, 1, err='"docker rm" requires at least 1 argument.')
        force = "--force" in flags
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
        if container is None or parts.path != "/health" or container.container_port != CONTAINER_PORT:
            return False  # nothing listens there: the server inside listens on CONTAINER_PORT only
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
