"""Deploy automation: urllib probe, subprocess.run, exception-driven steps."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(x) -> bool:
    try:
        return 0 < x < math.inf
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect, _DeadlineHTTPHandler)


def http_health_check(url: str, timeout: float) -> bool:
    try:
        with _OPENER.open(url, timeout=timeout) as response:
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
        for f in fields(self):
            if math.isnan(getattr(self, f.name)):
                raise ValueError(f"{f.name} is NaN")
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
    policy = policy if policy is not None else RetryPolicy()
    deadline = clock() + policy.deadline_s
    attempt = 0
    while attempt < policy.max_attempts:
        attempt += 1
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt >= policy.max_attempts:
            return False
        delay = min(policy.max_delay_s, policy.initial_delay_s * 2 ** min(attempt - 1, 1000))
        if clock() + delay > deadline:
            return False
        sleep(delay)
    return False


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not (k is None or isinstance(k, (str, int, bool))):
                k = str(k)
            out[k] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(int(record.created), timezone.utc)
            .replace(microsecond=int(record.created % 1 * 1e6)).isoformat(timespec="milliseconds"),
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

    def _docker(self, *args: str, secrets: Mapping[str, str] | None = None) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s}s") from None
        except OSError as exc:
            raise _StepFailed(f"docker {args[0]} could not start: {exc}") from None
        if done.returncode != 0:
            tail = done.stderr or ""
            tail = _hide_all(tail, (secrets or {}).values())  # a failing RUN step may print one: hide before the cut
            tail = tail.strip()[-800:]
            raise _StepFailed(f"docker {args[0]} exited {done.returncode}: {tail}")

    @staticmethod
    def _check_image(image: str) -> None:
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"invalid image {image!r}")
        if ":" in image.rsplit("/", 1)[-1]:
            raise ValueError(f"image {image!r} carries a tag; pass the version separately")

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version {version!r}")
        self._check_image(image)
        if version == self._current:
            raise ValueError(f"{version} is already serving")
        previous = self._current
        ref = f"{image}:{version}"
        extra = {"version": version}
        if context is not None:
            args = ["build", "--tag", ref]
            for key, value in (build_args or {}).items():
                args += ["--build-arg", f"{key}={value}"]
            try:
                self._docker(*args, context, secrets=build_args)
            except _StepFailed as exc:
                reason = str(exc)
                self.log.error("build of %s failed: %s", ref, reason, extra={"step": "build", **extra})
                return DeployResult(version, False, previous, reason)
            self.log.info("built %s", ref, extra={"step": "build", **extra})
        new = self.container_name(version)
        try:
            if previous is not None:
                try:
                    self._docker("stop", self.container_name(previous))
                finally:
                    self.log.info("stopping %s", previous, extra={"step": "stop", **extra})
            run = ["run", "--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["--label", f"{key}={value}"]
            try:
                self._docker(*run, ref)
            except _StepFailed as exc:
                self.log.error("run of %s failed: %s", new, exc, extra={"step": "run", **extra})
                raise
            self.log.info("started %s", new, extra={"step": "run", **extra})
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            self.log.log(logging.INFO if healthy else logging.ERROR, "health of %s: %s", version, healthy,
                         extra={"step": "health", **extra})
            if not healthy:
                raise _StepFailed(f"{version} never became healthy")
        except _StepFailed as exc:
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
        extra = {"step": "rollback", "version": version}
        self.log.warning("rolling back %s to %s", version, previous, extra=extra)
        try:
            self._docker("rm", "--force", self.container_name(version))
        except _StepFailed as exc:
            self.log.warning("rollback: could not remove %s: %s", version, exc, extra=extra)
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except _StepFailed as exc:
                self.log.error("rollback: could not restart %s: %s", previous, exc, extra=extra)


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
