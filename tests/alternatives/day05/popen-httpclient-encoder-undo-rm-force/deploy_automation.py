"""Deploy automation with a compensation stack: every step that changes the engine pushes
its undo action; a failure runs the undo actions newest first. The probe speaks http.client
directly, run_command drives Popen itself, and names are checked character by character."""

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_ALNUM = frozenset(string.ascii_letters + string.digits)
_TAG_CHARS = _ALNUM | frozenset("_.-")


def _check_timeout(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    _check_timeout(timeout, "timeout")
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
        response = conn.getresponse()
        response.read()
        return response.status == 200
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
        if any(v != v for v in (getattr(self, f.name) for f in fields(self))):
            raise ValueError("a retry policy field is NaN")
        problems = [
            (self.max_attempts < 1, "max_attempts < 1"),
            (self.initial_delay_s <= 0, "initial_delay_s <= 0"),
            (self.max_delay_s < self.initial_delay_s, "max_delay_s < initial_delay_s"),
            (self.deadline_s <= 0, "deadline_s <= 0"),
            (self.probe_timeout_s <= 0, "probe_timeout_s <= 0"),
        ]
        bad = [text for failed, text in problems if failed]
        if bad:
            raise ValueError(", ".join(bad))

    def delays(self):
        """The wait after each failed probe, one per probe but the last."""
        for n in range(1, self.max_attempts):
            yield min(self.max_delay_s, self.initial_delay_s * 2 ** min(n - 1, 1000))


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
    for delay in itertools.chain(policy.delays(), [None]):
        left = deadline - clock()
        if left <= 0:
            break
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if delay is None or clock() + delay >= deadline:
            break
        sleep(delay)
    return False


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class _StrictEncoder(json.JSONEncoder):
    def __init__(self, **kw):
        super().__init__(allow_nan=False, **kw)

    def default(self, o):
        return str(o)

    def encode(self, o):
        return super().encode(self._clean(o))

    def _clean(self, o):
        if isinstance(o, float):
            return o if math.isfinite(o) else repr(o)
        if isinstance(o, Mapping):
            return {k if isinstance(k, (str, int, bool)) or k is None else str(k): self._clean(v)
                    for k, v in o.items()}
        if isinstance(o, (list, tuple, set, frozenset)):
            return [self._clean(v) for v in o]
        return o


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        exc = None
        if record.exc_info:
            exc = self.formatException(record.exc_info)
        elif record.exc_text:
            exc = record.exc_text
        entry = dict(extras)
        entry.update(
            ts=datetime.fromtimestamp(int(record.created)).astimezone()
            .replace(microsecond=int(record.msecs) * 1000).isoformat(timespec="milliseconds"),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
        )
        if exc:
            entry["exception"] = exc
        return _StrictEncoder().encode(entry)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


def _valid_tag(version) -> bool:
    return (isinstance(version, str) and 1 <= len(version) <= 128 and version[0] != "." and version[0] != "-"
            and set(version) <= _TAG_CHARS)


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image:
        return False
    parts = image.split("/")
    first = parts[0]
    if len(parts) > 1 and (":" in first or "." in first or first == "localhost"):
        host, _, port = first.partition(":")
        if not host or set(host) - (_ALNUM | {".", "-"}) or (port and not port.isdigit()) or (_ and not port):
            return False
        parts = parts[1:]
    for part in parts:
        if not part or not set(part) <= (_TAG_CHARS - {"."} | {"."}) or part[0] not in _ALNUM or part[-1] not in _ALNUM:
            return False
    return True


class _Failed(Exception):
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
        if not (isinstance(name, str) and name and name[0] in _ALNUM and set(name) <= _TAG_CHARS):
            raise ValueError(f"not a container name: {name!r}")
        if type(port) is not int or port < 1 or port > 65535:
            raise ValueError(f"not a port: {port!r}")
        _check_timeout(command_timeout_s, "command_timeout_s")
        self.name, self.port = name, port
        self._runner, self._health_check = runner, health_check
        self._policy = RetryPolicy() if policy is None else policy
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = dict(labels) if labels else {}
        self._timeout = float(command_timeout_s)
        self._serving = current_version
        self._log = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _docker(self, *args: str) -> None:
        try:
            done = self._runner([self._docker_bin, *args], self._timeout)
        except subprocess.TimeoutExpired:
            raise _Failed(f"`docker {args[0]}` did not finish within {self._timeout:g} s")
        except OSError as exc:
            raise _Failed(f"`docker {args[0]}` could not be started: {exc}")
        if done.returncode:
            raise _Failed(f"`docker {args[0]}` exited {done.returncode}: {str(done.stderr).strip()}")

    def _note(self, level: int, step: str, version: str, text: str) -> None:
        self._log.log(level, text, extra={"step": step, "version": version})

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not _valid_repository(image):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if version == self._serving:
            raise ValueError(f"{version!r} is the version serving")
        previous = self._serving
        tagged = f"{image}:{version}"

        if context is not None:
            cmd = ["build", "-t", tagged]
            cmd += [f"--build-arg={k}={v}" for k, v in (build_args or {}).items()]
            self._note(logging.INFO, "build", version, f"build {tagged} from {context}")
            try:
                self._docker(*cmd, str(context))
            except _Failed as exc:
                text = str(exc)
                text = _hide_all(text, (build_args or {}).values())
                self._note(logging.ERROR, "build", version, text)
                return DeployResult(version, False, previous, f"build failed: {text}")

        undo: list[tuple[str, Callable[[], None]]] = []
        try:
            if previous is not None:
                old = self.container_name(previous)
                # pushed before the stop: a stop that fails or times out may have stopped it all the same
                undo.append((f"start {old}", lambda: self._docker("start", old)))
                self._note(logging.INFO, "stop", version, f"stop {old}")
                self._docker("stop", old)
            new = self.container_name(version)
            undo.append((f"remove {new}", lambda: self._docker("rm", "-f", new)))
            cmd = ["run", "-d", "--name", new, "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self._labels.items():
                cmd.append(f"--label={key}={value}")
            self._note(logging.INFO, "run", version, f"run {new}")
            self._docker(*cmd, tagged)
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._health_check,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._note(logging.INFO if ok else logging.WARNING, "health", version, "healthy" if ok else "unhealthy")
            if not ok:
                raise _Failed(f"{new} did not become healthy")
        except _Failed as exc:
            self._note(logging.WARNING, "rollback", version, f"rolling back: {exc}")
            for what, action in reversed(undo):
                try:
                    action()
                except _Failed as err:
                    self._note(logging.ERROR, "rollback", version, f"{what} failed: {err}")
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._docker("rm", "-f", self.container_name(previous))
            except _Failed as exc:
                self._note(logging.WARNING, "cleanup", version, str(exc))
        self._serving = version
        self._note(logging.INFO, "promote", version, f"{version} serves on 127.0.0.1:{self.port}")
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
