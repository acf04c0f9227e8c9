"""Alternative A: close to the README's hints; subprocess.run, urllib, a for-loop retry,
a StepFailed exception and `docker rm -f` for the rollback."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
_REPO = re.compile(rf"{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*")


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a finite positive number, got {timeout}")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=timeout, check=False)


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


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_DeadlineHTTPConnection, req)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is not the service's own 200: let it raise HTTPError


_NO_REDIRECTS = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects, _DeadlineHTTPHandler)


def http_health_check(url: str, timeout: float) -> bool:
    try:
        with _NO_REDIRECTS.open(url, timeout=timeout) as response:
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


def wait_until_healthy(url, *, health_check=http_health_check, policy=None, sleep=time.sleep, clock=time.monotonic):
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


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(math.floor(record.created), timezone.utc)
            .replace(microsecond=math.floor(record.msecs) * 1000).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a record rebuilt by a log receiver: the exception arrives as text
            entry["exc"] = record.exc_text
        return json.dumps(_json_safe(entry), default=str, allow_nan=False)


def _json_safe(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {(k if isinstance(k, (str, int, bool)) or k is None else str(k)): _json_safe(item) for k, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class StepFailed(Exception):
    pass


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None):
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"not a valid container name: {name!r}")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be in 1-65535, got {port!r}")
        if not 0 < command_timeout_s < math.inf:
            raise ValueError("command_timeout_s must be a finite positive number")
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
    def current_version(self):
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _docker(self, *args: str) -> str:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            raise StepFailed(f"docker {args[0]} could not run: {exc}") from None
        if done.returncode != 0:
            raise StepFailed(f"docker {args[0]} exited {done.returncode}: {(done.stderr or '').strip()}")
        return done.stdout

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not isinstance(image, str) or not _REPO.fullmatch(image):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        previous = self._current
        if version == previous:
            raise ValueError(f"{version} is already serving")
        ref = f"{image}:{version}"
        if context is not None:
            self.log.info("building %s", ref, extra={"step": "build", "version": version})
            args = ["build", "-t", ref]
            for key, value in (build_args or {}).items():
                args += ["--build-arg", f"{key}={value}"]
            try:
                self._docker(*args, context)
            except StepFailed as exc:
                reason = str(exc)
                reason = _hide_all(reason, (build_args or {}).values())  # a failing RUN step may print it
                self.log.error("build failed: %s", reason, extra={"step": "build", "version": version})
                return DeployResult(version, False, previous, f"build failed: {reason}")
        try:
            if previous is not None:
                self.log.info("stopping %s", previous, extra={"step": "stop", "version": version})
                self._docker("stop", self.container_name(previous))
            self.log.info("running %s", ref, extra={"step": "run", "version": version})
            run = ["run", "-d", "--name", self.container_name(version), "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["--label", f"{key}={value}"]
            self._docker(*run, ref)
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            self.log.info("health %s", "ok" if healthy else "failed",
                          extra={"step": "health", "version": version, "healthy": healthy})
            if not healthy:
                raise StepFailed("the health check never passed")
        except StepFailed as exc:
            self._roll_back(version, previous, str(exc))
            return DeployResult(version, False, previous, str(exc))
        if previous is not None:
            try:
                self._docker("rm", "-f", self.container_name(previous))
            except StepFailed as exc:
                self.log.warning("could not remove %s: %s", previous, exc, extra={"step": "cleanup", "version": version})
        self._current = version
        self.log.info("promoted %s", version, extra={"step": "promote", "version": version})
        return DeployResult(version, True, version, "")

    def _roll_back(self, version, previous, reason):
        self.log.warning("rolling back %s: %s", version, reason, extra={"step": "rollback", "version": version})
        try:
            self._docker("rm", "-f", self.container_name(version))
        except StepFailed as exc:
            self.log.warning("remove failed: %s", exc, extra={"step": "rollback", "version": version})
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except StepFailed as exc:
                self.log.error("could not restart %s: %s", previous, exc, extra={"step": "rollback", "version": version})


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
