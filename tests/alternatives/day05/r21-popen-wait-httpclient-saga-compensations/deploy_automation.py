"""Deployment automation, written as a small saga: every step registers its compensation."""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from string import ascii_letters, digits
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _is_finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and 0 < x and not math.isinf(x)


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _is_finite_positive(timeout):
        raise ValueError("timeout must be a finite positive number")
    args = list(argv)
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()  # not communicate(): a grandchild (a docker CLI plugin) may hold the pipes open
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


class _DeadlineSocket(socket.socket):
    """A socket whose every read waits only for what is left of the probe's whole timeout: a server that trickles
    its answer a byte at a time cannot stretch the probe past it (a plain socket timeout bounds each read only)."""

    deadline = math.inf

    def recv_into(self, *args, **kwargs):
        self._cut_timeout()
        return super().recv_into(*args, **kwargs)

    def recv(self, *args, **kwargs):
        self._cut_timeout()
        return super().recv(*args, **kwargs)

    def _cut_timeout(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the probe's timeout ran out")
        self.settimeout(left)


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection that must have its whole answer within `timeout` s of being made."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else math.inf
        deadline = time.monotonic() + timeout

        def connect(address, timeout=None, source_address=None):
            sock = socket.create_connection(address, timeout, source_address)
            bounded = _DeadlineSocket(fileno=sock.detach())
            bounded.deadline = deadline
            bounded.settimeout(timeout)
            return bounded

        self._create_connection = connect


def http_health_check(url: str, timeout: float) -> bool:
    conn = None
    try:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except Exception:  # noqa: BLE001 - any failure to get a 200 means "not healthy"
        return False
    finally:
        if conn is not None:
            conn.close()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value != value:
                raise ValueError(f"{f.name} is NaN")
        rules = [
            (self.max_attempts >= 1, "max_attempts >= 1"),
            (self.initial_delay_s > 0, "initial_delay_s > 0"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s >= initial_delay_s"),
            (self.deadline_s > 0, "deadline_s > 0"),
            (self.probe_timeout_s > 0, "probe_timeout_s > 0"),
        ]
        broken = [text for ok, text in rules if not ok]
        if broken:
            raise ValueError("invalid retry policy: need " + ", ".join(broken))

    def delays(self):
        """The waits after failed probes 1, 2, ...: doubling, then capped."""
        delay = self.initial_delay_s
        while True:
            yield delay
            delay = min(self.max_delay_s, delay * 2)


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    if policy is None:
        policy = RetryPolicy()
    deadline = clock() + policy.deadline_s
    delays = policy.delays()
    attempts = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        attempts += 1
        if health_check(url, min(remaining, policy.probe_timeout_s)):
            return True
        if attempts >= policy.max_attempts:
            return False
        delay = next(delays)
        if clock() + delay > deadline:
            return False
        sleep(delay)


_BASE_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(float(value))
    if isinstance(value, Mapping):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return list(map(_jsonable, value))
    return value


def _key(k):
    if isinstance(k, str):
        return k
    if k is None or isinstance(k, bool):
        return json.dumps(k)
    if isinstance(k, int):
        return str(int(k))
    return str(k)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(int(record.created), tz=timezone.utc).replace(
            microsecond=int(record.created % 1 * 1_000_000))
        payload = dict(
            ts=created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
        )
        payload.update((k, v) for k, v in record.__dict__.items() if k not in _BASE_ATTRS)
        exception = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        if exception:
            payload["exception"] = exception
        return json.dumps(_jsonable(payload), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_ALNUM = frozenset(ascii_letters + digits)
_NAME_REST = _ALNUM | frozenset("_.-")


def _valid_container_name(name) -> bool:
    return isinstance(name, str) and name != "" and name[0] in _ALNUM and set(name) <= _NAME_REST


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and (tag[0] in _ALNUM or tag[0] == "_")
            and set(tag) <= _NAME_REST)


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image or any(ch.isspace() for ch in image):
        return False
    last = image.split("/")[-1]
    return bool(last) and ":" not in last


class CommandFailed(Exception):
    pass


class Deployer:
    def __init__(
        self,
        name: str,
        port: int,
        *,
        runner: Runner = run_command,
        health_check: HealthCheck = http_health_check,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        docker: str = "docker",
        labels: Mapping[str, str] | None = None,
        command_timeout_s: float = 300.0,
        current_version: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not _valid_container_name(name):
            raise ValueError(f"not a container name: {name!r}")
        if not (isinstance(port, int) and 0 < port < 65536):
            raise ValueError(f"not a port: {port!r}")
        if not _is_finite_positive(command_timeout_s):
            raise ValueError(f"not a finite positive timeout: {command_timeout_s!r}")
        self.name, self.port = name, port
        self._runner, self._probe = runner, health_check
        self._policy = policy if policy is not None else RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = labels
        self._timeout = command_timeout_s
        self._serving = current_version
        self._log = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _exec(self, *args: str) -> None:
        argv = [self._docker_bin, *args]
        try:
            done = self._runner(argv, self._timeout)
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"'docker {args[0]}' timed out") from None
        except OSError as exc:
            raise CommandFailed(f"'docker {args[0]}' could not run: {exc}") from None
        if done.returncode:
            tail = "\n".join((done.stderr or "").strip().splitlines()[-5:])
            raise CommandFailed(f"'docker {args[0]}' failed ({done.returncode}): {tail}")

    def _event(self, level: int, step: str, version: str, message: str, *args) -> None:
        self._log.log(level, message, *args, extra={"step": step, "version": version})

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"not an image tag: {version!r}")
        if not _valid_repository(image):
            raise ValueError(f"not a repository name without tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is the version serving")
        previous = self._serving
        ref = f"{image}:{version}"

        if context is not None:
            cmd = ["build", "-t", ref]
            for k, v in dict(build_args or {}).items():
                cmd.append(f"--build-arg={k}={v}")
            try:
                self._exec(*cmd, context)
            except CommandFailed as exc:
                reason = str(exc)
                reason = _hide_all(reason, dict(build_args or {}).values())
                self._event(logging.ERROR, "build", version, "build of %s failed: %s", ref, reason)
                return DeployResult(version, False, previous, reason)
            self._event(logging.INFO, "build", version, "built %s", ref)

        undo: list[tuple[str, Callable[[], None]]] = []
        try:
            if previous is not None:
                old = self.container_name(previous)
                undo.append((f"start {old}", lambda: self._exec("start", old)))
                try:
                    self._exec("stop", old)
                except CommandFailed as exc:
                    self._event(logging.ERROR, "stop", version, "%s", exc)
                    raise
                self._event(logging.INFO, "stop", version, "stopped %s", old)
            new = self.container_name(version)
            undo.append((f"rm -f {new}", lambda: self._exec("rm", "-f", new)))
            run = ["run", "-d", f"--name={new}", f"-p=127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for k, v in (self._labels or {}).items():
                run.append(f"--label={k}={v}")
            try:
                self._exec(*run, ref)
            except CommandFailed as exc:
                self._event(logging.ERROR, "run", version, "%s", exc)
                raise
            self._event(logging.INFO, "run", version, "running %s", new)
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._event(logging.INFO if ok else logging.ERROR, "health", version, "healthy: %s", ok)
            if not ok:
                raise CommandFailed(f"{new} never answered 200 on /health")
        except CommandFailed as exc:
            self._event(logging.WARNING, "rollback", version, "rolling back %s: %s", version, exc)
            for label, action in reversed(undo):
                try:
                    action()
                except CommandFailed as failure:
                    self._event(logging.ERROR, "rollback", version, "rollback step %s failed: %s", label, failure)
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._exec("rm", self.container_name(previous))
            except CommandFailed as exc:
                self._event(logging.WARNING, "cleanup", version, "left %s behind: %s",
                            self.container_name(previous), exc)
        self._serving = version
        self._event(logging.INFO, "promote", version, "%s promoted", version)
        return DeployResult(version, True, version)


def _hide_all(text, values, mark="***"):
    """`text` with every character any non-empty value covers marked and each covered run replaced whole by `mark`:
    values that contain or overlap one another (`abcXYZ`, `XYZdef` in `abcXYZdef`) leave no part; plain text, no regex."""
    covered = [False] * len(text)
    for value in {str(v) for v in values if v}:
        start = text.find(value)
        while start != -1:
            covered[start:start + len(value)] = [True] * len(value)
            start = text.find(value, start + 1)
    return "".join(mark if hit and (i == 0 or not covered[i - 1]) else "" if hit else char
                   for i, (char, hit) in enumerate(zip(text, covered)))
