"""Deploy a container image safely: classic style (subprocess.run, urllib, regexes, exceptions)."""

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
from datetime import datetime, timedelta, timezone

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


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is not the service's own 200: let it raise HTTPError


_NO_REDIRECTS = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects, _DeadlineHTTPHandler)


def http_health_check(url: str, timeout: float) -> bool:
    try:
        with _NO_REDIRECTS.open(url, timeout=timeout) as answer:
            return answer.status == 200
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
        return {(k if isinstance(k, (str, int, bool)) or k is None else str(k)): _plain(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": (datetime(1970, 1, 1, tzinfo=timezone.utc)
                   + timedelta(seconds=int(record.created), microseconds=int(record.created % 1 * 1e6))).isoformat(),
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
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
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

    def _docker(self, *args: str, hide: Sequence[str] = ()) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s:g} s") from None
        except OSError as exc:
            raise StepFailed(f"docker {args[0]} could not start: {exc}") from None
        if done.returncode != 0:
            err = done.stderr or ""
            err = _hide_all(err, hide)  # hide build arg values in the whole output first, then cut it
            err = err.strip()[-500:]
            raise StepFailed(f"docker {args[0]} exited {done.returncode}: {err}")

    @staticmethod
    def _check_image(image: str) -> None:
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"invalid image {image!r}")
        last = image.rsplit("/", 1)[-1]
        if ":" in last or "@" in image:
            raise ValueError(f"image {image!r} should be a repository without a tag")

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
        self._check_image(image)
        if version == self._current:
            raise ValueError(f"version {version} is already serving")
        previous = self._current
        tag = f"{image}:{version}"
        extra = {"version": version}

        if context is not None:
            argv = ["build", "--tag", tag]
            for key, value in (build_args or {}).items():
                argv += ["--build-arg", f"{key}={value}"]
            argv.append(context)
            hide = [build_args[key] for key in sorted(build_args or {}, key=lambda k: len(build_args[k]), reverse=True)
                    if build_args[key]]
            try:
                self._docker(*argv, hide=hide)
            except StepFailed as exc:
                reason = str(exc)
                self.log.error("build of %s failed: %s", tag, reason, extra={"step": "build", **extra})
                return DeployResult(version, False, previous, reason)
            self.log.info("built %s", tag, extra={"step": "build", **extra})

        step = "stop"
        try:
            if previous is not None:
                self._docker("stop", self.container_name(previous))
                self.log.info("stopped %s", previous, extra={"step": "stop", **extra})
            step = "run"
            argv = ["run", "--detach", "--name", self.container_name(version),
                    "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                argv += ["--label", f"{key}={value}"]
            argv.append(tag)
            self._docker(*argv)
            self.log.info("started %s", self.container_name(version), extra={"step": "run", **extra})
            step = "health"
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            self.log.log(logging.INFO if healthy else logging.WARNING, "health of %s: %s", version,
                         "ok" if healthy else "failed", extra={"step": "health", **extra})
            if not healthy:
                raise StepFailed(f"{version} did not become healthy")
        except StepFailed as exc:
            if step != "health":
                self.log.error("%s failed: %s", step, exc, extra={"step": step, **extra})
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._docker("rm", "--force", self.container_name(previous))
                self.log.info("removed %s", previous, extra={"step": "cleanup", **extra})
            except StepFailed as exc:
                self.log.warning("could not remove %s: %s", previous, exc, extra={"step": "cleanup", **extra})
        self._current = version
        self.log.info("promoted %s", version, extra={"step": "promote", **extra})
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None) -> None:
        self.log.warning("rolling back %s", version, extra={"step": "rollback", "version": version})
        try:
            self._docker("rm", "--force", self.container_name(version))
        except StepFailed as exc:
            self.log.warning("rollback: %s", exc, extra={"step": "rollback", "version": version})
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except StepFailed as exc:
                self.log.error("rollback: %s", exc, extra={"step": "rollback", "version": version})


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
