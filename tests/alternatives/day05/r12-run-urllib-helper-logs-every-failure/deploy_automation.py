"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back.

Contract (the tests check exactly this):
- `run_command(argv, timeout)` runs a program without a shell and returns its
  `subprocess.CompletedProcess` (text stdout/stderr captured, a non-zero exit is not an
  exception); past `timeout` seconds the program is killed and `subprocess.TimeoutExpired`
  is raised. A timeout that is not a finite positive number raises ValueError.
- `http_health_check(url, timeout)` is True only for a 200 answer; an error status, a
  refused connection or no answer within `timeout` seconds is False, never an exception.
- `RetryPolicy(max_attempts=6, initial_delay_s=0.5, max_delay_s=4.0, deadline_s=30.0,
  probe_timeout_s=2.0)`; nonsense values (NaN included) raise ValueError.
- `wait_until_healthy(url, *, health_check, policy=None, sleep, clock) -> bool` (None means
  `RetryPolicy()`) probes up to
  `max_attempts` times; after failed probe n it sleeps
  `min(max_delay_s, initial_delay_s * 2 ** (n - 1))`, never after the last attempt. It never
  runs past `deadline_s` of `clock()` time: no wait ends after it (it gives up rather than
  shorten a wait) and each probe's timeout is at most `probe_timeout_s` and at most the time
  left (no time left: no probe).
- `JsonLineFormatter` renders a log record as one JSON object on one line: `ts`, `level`,
  `logger`, `message`, every field passed with `extra=`, and the exception if any. It is
  strict JSON: what JSON cannot encode (a Path, NaN, infinity) is written as a string.
- `Deployer(name, port, *, runner, health_check, policy, sleep, clock, docker, labels,
  command_timeout_s, current_version, logger)`; `deploy(image, version, *, context=None,
  build_args=None) -> DeployResult`; `current_version`; `container_name(version)`.
  See the README for the steps and the rollback rules.
"""

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

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)


def _finite_positive(x) -> bool:
    try:
        return 0 < x < math.inf
    except TypeError:
        return False


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
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
    """A probe answers yes or no; the retry loop decides what a 'no' means."""
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
        values = (self.max_attempts, self.initial_delay_s, self.max_delay_s, self.deadline_s, self.probe_timeout_s)
        if any(math.isnan(v) for v in values):
            raise ValueError("a retry policy cannot hold NaN")
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
    """Bounded in attempts and in time, so a container that never comes up cannot stall a deploy."""
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
        if clock() + delay >= deadline:
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
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(int(record.created), timezone.utc)
            .replace(microsecond=int(record.msecs) * 1000).isoformat(timespec="milliseconds"),
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


class StepFailed(Exception):
    pass


class Deployer:
    """Replaces the container serving `127.0.0.1:port` with a new version, or leaves the old one serving."""

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
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ValueError(f"invalid port {port!r}")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be finite and positive, got {command_timeout_s!r}")
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

    def _docker(self, step: str, version: str, *args: str, secrets: Mapping[str, str] | None = None) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            self.log.error("%s timed out", args[0], extra={"step": step, "version": version})
            raise StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            self.log.error("%s could not start: %s", args[0], exc, extra={"step": step, "version": version})
            raise StepFailed(f"docker {args[0]} could not run: {exc}") from None
        if done.returncode != 0:
            err = (done.stderr or "").strip()
            err = _hide_all(err, (secrets or {}).values())  # a failing RUN step may print a build arg's value
            self.log.error("%s failed: %s", args[0], err, extra={"step": step, "version": version})
            raise StepFailed(f"docker {args[0]} exited {done.returncode}: {err}")
        self.log.info("%s ok", args[0], extra={"step": step, "version": version})

    def _validate_image(self, image: str) -> None:
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"invalid image {image!r}")
        last = image.rsplit("/", 1)[-1]
        if ":" in last or "@" in image:
            raise ValueError(f"image {image!r} should not carry a tag")

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
        self._validate_image(image)
        if version == self._current:
            raise ValueError(f"{version} is already serving")
        previous = self._current
        tag = f"{image}:{version}"
        new = self.container_name(version)
        if context is not None:
            argv = ["build", "--tag", tag]
            for key, value in (build_args or {}).items():
                argv += ["--build-arg", f"{key}={value}"]
            try:
                self._docker("build", version, *argv, context, secrets=build_args)
            except StepFailed as exc:
                return DeployResult(version, False, previous, str(exc))
        try:
            if previous is not None:
                self._docker("stop", version, "stop", self.container_name(previous))
            run = ["run", "--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["--label", f"{key}={value}"]
            self._docker("run", version, *run, tag)
            url = f"http://127.0.0.1:{self.port}/health"
            healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                         sleep=self.sleep, clock=self.clock)
            self.log.log(logging.INFO if healthy else logging.ERROR, "health %s", "ok" if healthy else "failed",
                         extra={"step": "health", "version": version})
            if not healthy:
                raise StepFailed(f"{new} never became healthy on {url}")
        except StepFailed as exc:
            self._roll_back(version, previous, str(exc))
            return DeployResult(version, False, previous, str(exc))
        if previous is not None:
            try:
                self._docker("cleanup", version, "rm", "--force", self.container_name(previous))
            except StepFailed:
                pass
        self._current = version
        self.log.info("promoted %s", version, extra={"step": "promote", "version": version})
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None, reason: str) -> None:
        self.log.warning("rolling back %s: %s", version, reason, extra={"step": "rollback", "version": version})
        try:
            self._docker("remove-new", version, "rm", "--force", self.container_name(version))
        except StepFailed:
            pass
        if previous is not None:
            try:
                self._docker("restart-previous", version, "start", self.container_name(previous))
            except StepFailed:
                pass


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
