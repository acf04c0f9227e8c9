"""Deploy automation, answer A: urllib opener, subprocess.run, exception-based step handling."""

from __future__ import annotations

import http.client
import io
import socket
import json
import logging
import math
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value, what: str) -> float:
    if value is None:
        raise TypeError(f"{what} must be a finite positive number, not None")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")
    return number


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    timeout = _finite_positive(timeout, "timeout")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _deadline_connection_class(deadline: float):
    class _DeadlineSocket:
        def __init__(self, sock):
            self._sock = sock

        def _cut(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("probe deadline reached")
            self._sock.settimeout(left)

        def recv(self, *a):
            self._cut()
            return self._sock.recv(*a)

        def recv_into(self, *a):
            self._cut()
            return self._sock.recv_into(*a)

        def sendall(self, *a):
            self._cut()
            return self._sock.sendall(*a)

        def makefile(self, mode="r", *args, **kwargs):
            if mode == "rb":
                return io.BufferedReader(socket.SocketIO(self, "r"))
            return self._sock.makefile(mode, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._sock, name)

    class _Conn(http.client.HTTPConnection):
        def connect(self):
            super().connect()
            self.sock = _DeadlineSocket(self.sock)

    return _Conn


def http_health_check(url: str, timeout: float) -> bool:
    try:
        timeout = _finite_positive(timeout, "timeout")
    except (TypeError, ValueError):
        return False
    deadline = time.monotonic() + timeout
    conn_class = _deadline_connection_class(deadline)

    class _Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(conn_class, req)

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect, _Handler)
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False


def _is_nan(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            if _is_nan(getattr(self, name)):
                raise ValueError(f"{name} is NaN")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay_s <= 0:
            raise ValueError("initial_delay_s must be positive")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must be >= initial_delay_s")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        if self.probe_timeout_s <= 0:
            raise ValueError("probe_timeout_s must be positive")


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    policy = policy or RetryPolicy()
    deadline = clock() + policy.deadline_s
    for attempt in range(1, policy.max_attempts + 1):
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt == policy.max_attempts:
            return False
        delay = min(policy.max_delay_s, policy.initial_delay_s * 2 ** min(attempt - 1, 1000))
        if clock() + delay >= deadline:
            return False
        sleep(delay)
    return False


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _jsonable(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _key(key):
    if isinstance(key, str):
        return key
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if isinstance(key, (bool, int, float)) or key is None:
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        whole = int(record.created)
        ms = int((record.created - whole) * 1000)
        ts = (datetime.fromtimestamp(whole, timezone.utc) + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
        entry = {"ts": ts, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(_jsonable(entry), allow_nan=False, default=str)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


class _StepFailed(Exception):
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
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"not a valid container name: {name!r}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"port must be an int, got {port!r}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        self.command_timeout_s = _finite_positive(command_timeout_s, "command_timeout_s")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = dict(labels or {})
        self._current = current_version
        self.logger = logger if logger is not None else logging.getLogger("deploy_automation")
        self._secrets: list[str] = []

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    # --- helpers -------------------------------------------------------------

    def _hide(self, text) -> str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        text = "" if text is None else str(text)
        return _hide_all(text, self._secrets)

    def _log(self, level, step, version, message, *args):
        self.logger.log(level, message, *args, extra={"step": step, "version": version})

    def _docker(self, step: str, version: str, *args: str) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired as exc:
            tail = self._hide(exc.stderr)[-300:].strip()
            raise _StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s" + (f": {tail}" if tail else ""))
        except OSError as exc:
            raise _StepFailed(f"docker {args[0]} could not start: {self._hide(exc)}")
        if done.returncode != 0:
            tail = self._hide(done.stderr)[-300:].strip()
            raise _StepFailed(f"docker {args[0]} failed (exit {done.returncode}): {tail}")

    # --- deploy --------------------------------------------------------------

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"not a valid image tag: {version!r}")
        if (not isinstance(image, str) or not image or any(c.isspace() for c in image)
                or ":" in image.rsplit("/", 1)[-1]):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if version == self._current:
            raise ValueError(f"version {version!r} is already serving")
        build_args = dict(build_args or {})
        self._secrets = [v for v in build_args.values() if v]
        previous = self._current
        tagged = f"{image}:{version}"
        new_name = self.container_name(version)

        if context is not None:
            argv = ["build", "--tag", tagged]
            for key, value in build_args.items():
                argv += ["--build-arg", f"{key}={value}"]
            argv.append(context)
            try:
                self._docker("build", version, *argv)
            except _StepFailed as exc:
                reason = str(exc)
                self._log(logging.ERROR, "build", version, "build failed: %s", reason)
                return DeployResult(version, False, previous, reason)
            self._log(logging.INFO, "build", version, "built %s (build args: %s)", tagged, ", ".join(build_args))

        step = "stop"
        try:
            if previous is not None:
                self._docker("stop", version, "stop", self.container_name(previous))
                self._log(logging.INFO, "stop", version, "stopped %s", self.container_name(previous))
            step = "run"
            argv = ["run", "--detach", "--name", new_name, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                argv += ["--label", f"{key}={value}"]
            argv.append(tagged)
            self._docker("run", version, *argv)
            self._log(logging.INFO, "run", version, "started %s", new_name)
            step = "health"
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            if not healthy:
                raise _StepFailed(f"{new_name} never became healthy within the retry policy")
            self._log(logging.INFO, "health", version, "%s is healthy", new_name)
        except _StepFailed as exc:
            reason = str(exc)
            self._log(logging.ERROR, step, version, "%s failed: %s", step, reason)
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, reason)

        if previous is not None:
            try:
                self._docker("rm", version, "rm", "--force", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.WARNING, "cleanup", version, "could not remove %s: %s",
                          self.container_name(previous), str(exc))
        self._current = version
        self._log(logging.INFO, "promote", version, "promoted %s", version)
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None) -> None:
        self._log(logging.WARNING, "rollback", version, "rolling back %s", version)
        try:
            self._docker("rm", version, "rm", "--force", self.container_name(version))
        except _StepFailed as exc:
            self._log(logging.WARNING, "rollback", version, "rollback removal failed: %s", str(exc))
        if previous is not None:
            try:
                self._docker("start", version, "start", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.WARNING, "rollback", version, "restarting %s failed: %s",
                          self.container_name(previous), str(exc))


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
