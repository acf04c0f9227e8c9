"""Deploy a container image safely (blind answer A: urllib opener, step helper raising StepFailed)."""

from __future__ import annotations

import http.client
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
from datetime import datetime, timezone

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value, what: str) -> None:
    if value is None:
        raise TypeError(f"{what} must be a number, got None")
    if not (0 < value < math.inf):
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    _finite_positive(timeout, "timeout")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=timeout, check=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _DeadlineConnection(http.client.HTTPConnection):
    """Every socket operation gets only what is left of the probe's whole timeout."""

    def __init__(self, *args, deadline: float, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self):
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _DeadlineSocket:
    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline

    def _left(self):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self._sock.settimeout(left)

    def recv_into(self, *args):
        self._left()
        return self._sock.recv_into(*args)

    def recv(self, *args):
        self._left()
        return self._sock.recv(*args)

    def sendall(self, *args):
        self._left()
        return self._sock.sendall(*args)

    def makefile(self, mode="rb", *args, **kwargs):
        import io
        import socket as _socket

        self._sock._io_refs += 1
        return io.BufferedReader(_socket.SocketIO(self, "rb"))

    def readable(self):
        return True

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _DeadlineHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline):
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        deadline = self._deadline

        def factory(host, **kwargs):
            return _DeadlineConnection(host, deadline=deadline, **kwargs)

        return self.do_open(factory, req)


def http_health_check(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(), _DeadlineHandler(deadline))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError, http.client.HTTPException):
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
            if math.isnan(getattr(self, name)):
                raise ValueError(f"{name} is NaN")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay_s <= 0:
            raise ValueError("initial_delay_s must be positive")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must be at least initial_delay_s")
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
        if clock() + delay > deadline:
            return False
        sleep(delay)
    return False


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _key(key):
    if isinstance(key, float):
        return key if math.isfinite(key) else str(key)
    if key is None or isinstance(key, (str, int, bool)):
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(int(record.created), timezone.utc)
            .replace(microsecond=int(record.created % 1 * 1000) * 1000).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(_plain(entry), default=str, allow_nan=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


class StepFailed(Exception):
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
            raise ValueError(f"invalid container name {name!r}")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port out of range: {port!r}")
        _finite_positive(command_timeout_s, "command_timeout_s")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = dict(labels or {})
        self.command_timeout_s = command_timeout_s
        self._current = current_version
        self.log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _docker(self, *args: str, secrets: Mapping[str, str] | None = None) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            raise StepFailed(f"docker {args[0]} could not run: {exc.strerror or exc}") from None
        if done.returncode != 0:
            tail = done.stderr or ""
            tail = _hide_all(tail, (secrets or {}).values())  # a failing RUN step may print one; before the cut
            tail = tail.strip()[-500:]
            raise StepFailed(f"docker {args[0]} exited {done.returncode}: {tail}")

    @staticmethod
    def _check(image: str, version: str) -> None:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if not isinstance(image, str) or not image or " " in image or "\t" in image or "\n" in image:
            raise ValueError(f"invalid image name {image!r}")
        if ":" in image.rsplit("/", 1)[-1]:
            raise ValueError(f"image {image!r} should not carry a tag")

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        self._check(image, version)
        if version == self._current:
            raise ValueError(f"version {version} is already serving")
        previous = self._current
        tag = f"{image}:{version}"
        ev = {"version": version}
        if context is not None:
            args = ["build", "--tag", tag]
            for key, value in (build_args or {}).items():
                args += ["--build-arg", f"{key}={value}"]
            try:
                self._docker(*args, context, secrets=build_args)
            except StepFailed as exc:
                reason = str(exc)
                self.log.error("build of %s failed: %s", tag, reason, extra={"step": "build", **ev})
                return DeployResult(version, False, previous, reason)
            self.log.info("built %s (build args: %s)", tag, sorted(build_args or {}), extra={"step": "build", **ev})
        new = self.container_name(version)
        try:
            if previous is not None:
                try:
                    self._docker("stop", self.container_name(previous))
                except StepFailed as exc:
                    self.log.error("stop of %s failed: %s", previous, exc, extra={"step": "stop", **ev})
                    raise
                self.log.info("stopped %s", previous, extra={"step": "stop", **ev})
            run = ["run", "--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["--label", f"{key}={value}"]
            try:
                self._docker(*run, tag)
            except StepFailed as exc:
                self.log.error("run of %s failed: %s", new, exc, extra={"step": "run", **ev})
                raise
            self.log.info("started %s", new, extra={"step": "run", **ev})
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            self.log.log(logging.INFO if healthy else logging.ERROR, "health of %s: %s", new,
                         "ok" if healthy else "failed", extra={"step": "health", **ev})
            if not healthy:
                raise StepFailed(f"{new} never became healthy")
        except StepFailed as exc:
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, str(exc))
        if previous is not None:
            try:
                self._docker("rm", "--force", self.container_name(previous))
            except StepFailed as exc:
                self.log.warning("could not remove %s: %s", self.container_name(previous), exc,
                                 extra={"step": "cleanup", **ev})
        self._current = version
        self.log.info("promoted %s", version, extra={"step": "promote", **ev})
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None) -> None:
        ev = {"version": version}
        self.log.warning("rolling back %s to %s", version, previous, extra={"step": "rollback", **ev})
        try:
            self._docker("rm", "--force", self.container_name(version))
        except StepFailed as exc:
            self.log.warning("rollback: removing %s failed: %s", version, exc, extra={"step": "rollback", **ev})
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except StepFailed as exc:
                self.log.error("rollback: starting %s failed: %s", previous, exc, extra={"step": "rollback", **ev})


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
