"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back."""

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


def _finite_positive(value) -> bool:
    try:
        return math.isfinite(value) and value > 0
    except TypeError:
        return False


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
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
        for field_name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            if math.isnan(getattr(self, field_name)):
                raise ValueError(f"{field_name} is NaN")
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


def _delay(policy: RetryPolicy, attempt: int) -> float:
    # attempt is 1-based; 2 ** (attempt - 1) grows past any cap quickly
    exponent = min(attempt - 1, 1000)
    return min(policy.max_delay_s, policy.initial_delay_s * 2.0 ** exponent)


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    policy = policy if policy is not None else RetryPolicy()
    deadline = clock() + policy.deadline_s
    for attempt in range(1, policy.max_attempts + 1):
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt == policy.max_attempts:
            return False
        delay = _delay(policy, attempt)
        if clock() + delay > deadline:
            return False
        sleep(delay)
    return False


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _key(key):
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if isinstance(key, (str, int, float, bool)) or key is None:
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created - record.created % 1, timezone.utc)
            .replace(microsecond=int(record.created % 1 * 1_000_000)).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS:
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


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


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
            raise ValueError(f"invalid container name {name!r}")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"invalid port {port!r}")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"invalid command_timeout_s {command_timeout_s!r}")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy if policy is not None else RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = dict(labels or {})
        self.command_timeout_s = command_timeout_s
        self._current = current_version
        self.log = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _docker(self, *args: str, secrets: Sequence[str] = ()) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            raise _StepFailed(f"docker {args[0]} could not start: {exc}") from None
        if done.returncode != 0:
            err = done.stderr or ""
            if secrets:  # hide them in the whole output, then cut: a cut through a value would leave part of it
                err = _hide_all(err, secrets)
            tail = err.strip()[-2000:]
            raise _StepFailed(f"docker {args[0]} exited {done.returncode}: {tail}")

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version {version!r}")
        last = image.rsplit("/", 1)[-1] if isinstance(image, str) else ""
        if not image or ":" in last or any(c.isspace() for c in image):
            raise ValueError(f"invalid image {image!r}")
        if version == self._current:
            raise ValueError(f"{version} is already serving")
        previous = self._current
        extra = {"version": version}

        if context is not None:
            argv = ["build", "--tag", f"{image}:{version}"]
            for key, value in (build_args or {}).items():
                argv += ["--build-arg", f"{key}={value}"]
            secrets = sorted(filter(None, (build_args or {}).values()), key=len, reverse=True)
            try:
                self._docker(*argv, context, secrets=secrets)
            except _StepFailed as exc:
                reason = str(exc)
                self.log.error("build failed: %s", reason, extra={"step": "build", **extra})
                return DeployResult(version, False, previous, reason)
            self.log.info("built %s:%s", image, version, extra={"step": "build", **extra})

        step = "stop"
        try:
            if previous is not None:
                self._docker("stop", self.container_name(previous))
                self.log.info("stopped %s", previous, extra={"step": "stop", **extra})
            step = "run"
            run = ["run", "--detach", "--name", self.container_name(version),
                   "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["--label", f"{key}={value}"]
            self._docker(*run, f"{image}:{version}")
            self.log.info("started %s", version, extra={"step": "run", **extra})
            step = "health"
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            self.log.info("health %s", "ok" if healthy else "failed", extra={"step": "health", "healthy": healthy,
                                                                            **extra})
            if not healthy:
                raise _StepFailed(f"{version} never became healthy")
        except _StepFailed as exc:
            if step != "health":
                self.log.error("%s failed: %s", step, exc, extra={"step": step, **extra})
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._docker("rm", "--force", self.container_name(previous))
            except _StepFailed as exc:
                self.log.warning("could not remove %s: %s", previous, exc, extra={"step": "cleanup", **extra})
        self._current = version
        self.log.info("promoted %s", version, extra={"step": "promote", **extra})
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None) -> None:
        extra = {"version": version}
        self.log.warning("rolling back %s", version, extra={"step": "rollback", **extra})
        try:
            self._docker("rm", "--force", self.container_name(version))
        except _StepFailed as exc:
            self.log.warning("rollback: could not remove %s: %s", version, exc, extra={"step": "rollback-rm", **extra})
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except _StepFailed as exc:
                self.log.error("rollback: could not start %s: %s", previous, exc,
                               extra={"step": "rollback-start", **extra})


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
