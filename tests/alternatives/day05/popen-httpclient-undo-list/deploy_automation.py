"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back.

This version talks to child processes through `subprocess.Popen`, probes with
`http.client` directly, and keeps a list of undo actions while it deploys.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import math
import socket
import string
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from urllib.parse import urlsplit

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_ALNUM = frozenset(string.ascii_letters + string.digits)
_NAME_REST = _ALNUM | frozenset("_.-")


def _bad_seconds(value) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if _bad_seconds(timeout):
        raise ValueError(f"timeout must be finite and positive, got {timeout!r}")
    args = list(argv)
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()  # not communicate(): a child of the program may still hold the pipes open
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
        return conn.getresponse().status == 200
    except (OSError, ValueError, http.client.HTTPException):
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
        problems = [
            (self.max_attempts >= 1, "max_attempts must be at least 1"),
            (self.initial_delay_s > 0, "initial_delay_s must be positive"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s must not be below initial_delay_s"),
            (self.deadline_s > 0, "deadline_s must be positive"),
            (self.probe_timeout_s > 0, "probe_timeout_s must be positive"),
        ]
        for ok, message in problems:
            if not ok:
                raise ValueError(message)

    def delays(self) -> Iterator[float]:
        """initial, 2*initial, ... capped at max_delay_s (doubling stops once the cap is reached)."""
        delay = self.initial_delay_s
        while delay < self.max_delay_s:
            yield delay
            delay *= 2
        yield from itertools.repeat(self.max_delay_s)


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
    give_up_at = clock() + policy.deadline_s
    delays = policy.delays()
    for attempt in range(1, policy.max_attempts + 1):
        remaining = give_up_at - clock()
        if remaining <= 0:
            break
        if health_check(url, min(policy.probe_timeout_s, remaining)):
            return True
        if attempt == policy.max_attempts:
            break
        delay = next(delays)
        if clock() + delay > give_up_at:
            break
        sleep(delay)
    return False


_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _strict(value):
    """The value with every non-finite float (and unencodable key) turned into text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(float(value))
    if isinstance(value, Mapping):
        return {(k if isinstance(k, (str, int, bool)) or k is None else str(k)): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return list(map(_strict, value))
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(math.floor(record.created), timezone.utc).astimezone()
            .replace(microsecond=int(record.created % 1 * 1_000_000)).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in record.__dict__.items() if k not in _RECORD_KEYS)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a record rebuilt by a log receiver: the exception arrives as text
            entry["exception"] = record.exc_text
        for key, value in list(entry.items()):
            try:
                json.dumps(value, allow_nan=False, default=str)
            except (TypeError, ValueError):
                entry[key] = _strict(value)
        return json.dumps(entry, allow_nan=False, default=str, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


def _valid_name(name) -> bool:
    return isinstance(name, str) and name[:1] in _ALNUM and set(name) <= _NAME_REST


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and (tag[0] in _ALNUM or tag[0] == "_")
            and set(tag) <= _NAME_REST)


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image or any(ch.isspace() for ch in image):
        return False
    last = image.split("/")[-1]
    return bool(last) and ":" not in last


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
        if not _valid_name(name):
            raise ValueError(f"invalid container name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or port not in range(1, 65536):
            raise ValueError(f"invalid port {port!r}")
        if _bad_seconds(command_timeout_s):
            raise ValueError(f"invalid command_timeout_s {command_timeout_s!r}")
        self.name, self.port = name, port
        self._runner, self._health_check = runner, health_check
        self._policy = policy
        self._sleep, self._clock = sleep, clock
        self._docker = docker
        self._labels = dict(labels) if labels else {}
        self._timeout = command_timeout_s
        self._current = current_version
        self._log = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _cmd(self, *args: str, hide: Sequence[str] = ()) -> str | None:
        """Run one docker command; None when it worked, else why it did not."""
        try:
            done = self._runner([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return f"docker {args[0]} gave no answer within {self._timeout:g} s"
        except OSError as exc:
            return f"docker {args[0]} could not be run: {exc}"
        if done.returncode:
            err = done.stderr or ''
            err = _hide_all(err, hide)  # a failing RUN step may print a build arg's value; hide it before the cut
            return f"docker {args[0]} failed ({done.returncode}): {err.strip()[-400:]}"
        return None

    def _event(self, level: int, step: str, version: str, message: str, *args, **more) -> None:
        self._log.log(level, message, *args, extra={"step": step, "version": version, **more})

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"invalid version tag {version!r}")
        if not _valid_repository(image):
            raise ValueError(f"invalid repository name {image!r}")
        if version == self._current:
            raise ValueError(f"{version!r} is the version serving")
        previous = self._current
        ref = f"{image}:{version}"

        def failed(reason: str) -> DeployResult:
            return DeployResult(version, False, previous, reason)

        if context is not None:
            build_argv = ["build", "-t", ref]
            for key, value in (build_args or {}).items():
                build_argv.append(f"--build-arg={key}={value}")
            error = self._cmd(*build_argv, context,
                              hide=sorted(filter(None, (build_args or {}).values()), key=len, reverse=True))
            self._event(logging.ERROR if error else logging.INFO, "build", version, "build %s: %s", ref,
                        error or "ok")
            if error:
                return failed(error)

        undo: list[tuple[str, ...]] = []  # run in reverse order on failure
        if previous is not None:
            undo.append(("start", self.container_name(previous)))
            error = self._cmd("stop", self.container_name(previous))
            self._event(logging.INFO, "stop", version, "stop %s: %s", previous, error or "ok")
            if error:
                return self._undo(version, undo, failed(error))

        new = self.container_name(version)
        run_argv = ["run", "-d", "--name", new, "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
        for key, value in self._labels.items():
            run_argv.append(f"--label={key}={value}")
        undo.append(("rm", "-f", new))
        error = self._cmd(*run_argv, ref)
        self._event(logging.ERROR if error else logging.INFO, "run", version, "run %s: %s", new, error or "ok")
        if error:
            return self._undo(version, undo, failed(error))

        healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._health_check,
                                     policy=self._policy, sleep=self._sleep, clock=self._clock)
        self._event(logging.INFO if healthy else logging.ERROR, "health", version, "health of %s: %s", new,
                    "healthy" if healthy else "never healthy")
        if not healthy:
            return self._undo(version, undo, failed(f"{new} never became healthy"))

        if previous is not None:
            error = self._cmd("rm", self.container_name(previous))
            if error:
                self._event(logging.WARNING, "cleanup", version, "could not remove %s: %s", previous, error)
        self._current = version
        self._event(logging.INFO, "promote", version, "promoted %s", version, previous_version=previous)
        return DeployResult(version, True, version)

    def _undo(self, version: str, undo: list[tuple[str, ...]], result: DeployResult) -> DeployResult:
        self._event(logging.WARNING, "rollback", version, "rolling back %s: %s", version, result.reason)
        for action in reversed(undo):
            error = self._cmd(*action)
            if error:
                self._event(logging.ERROR, "rollback", version, "rollback %s failed: %s", action[0], error)
        return result


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
