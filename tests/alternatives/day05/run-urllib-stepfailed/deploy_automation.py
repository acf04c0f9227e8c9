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
from datetime import datetime, timedelta, timezone

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


def _finite_positive(value) -> bool:
    try:
        return value > 0 and math.isfinite(value)
    except TypeError:
        return False


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
    if not _finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number of seconds, got {timeout!r}")
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
        fields = (self.max_attempts, self.initial_delay_s, self.max_delay_s, self.deadline_s, self.probe_timeout_s)
        if any(math.isnan(v) for v in fields):
            raise ValueError(f"a retry policy cannot hold NaN: {self}")
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
    policy = policy or RetryPolicy()
    deadline = clock() + policy.deadline_s
    attempt = 0
    while True:
        attempt += 1
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt >= policy.max_attempts:
            return False
        delay = min(policy.max_delay_s, policy.initial_delay_s * 2 ** min(attempt - 1, 1000))
        if clock() + delay >= deadline:
            return False
        sleep(delay)


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {(k if k is None or isinstance(k, (str, int, bool)) else str(k)): _plain(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": (datetime.fromtimestamp(int(record.created), timezone.utc)
                   + timedelta(microseconds=int(record.created % 1 * 1e6))).isoformat(),
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
    """A docker command that exited non-zero, timed out or could not start."""


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
            raise ValueError(f"{name!r} is not a valid container name")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be in 1-65535, got {port!r}")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be a finite positive number, got {command_timeout_s!r}")
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

    def _docker(self, *args: str, hide: Sequence[str] = ()) -> subprocess.CompletedProcess:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s:g} s") from None
        except OSError as exc:
            raise StepFailed(f"docker {args[0]} could not start: {exc}") from None
        if done.returncode != 0:
            detail = done.stderr or done.stdout or ""
            detail = _hide_all(detail, hide)  # a failing RUN step may echo a build arg's value; before the cut
            detail = detail.strip()[-500:]
            raise StepFailed(f"docker {args[0]} exited {done.returncode}: {detail}")
        return done

    def _validate(self, image: str, version: str) -> None:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"{version!r} is not a valid image tag")
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"{image!r} is not a repository name")
        if ":" in image.rsplit("/", 1)[-1]:
            raise ValueError(f"{image!r} carries a tag; give the repository only")
        if version == self._current:
            raise ValueError(f"{version} is already serving")

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        self._validate(image, version)
        previous = self._current
        tag = f"{image}:{version}"
        step = {"version": version}

        if context is not None:
            argv = ["build", "--tag", tag]
            for key, value in (build_args or {}).items():
                argv += ["--build-arg", f"{key}={value}"]
            try:
                self._docker(*argv, context, hide=list((build_args or {}).values()))
            except StepFailed as exc:
                detail = str(exc)
                self.log.error("build of %s failed: %s", tag, detail, extra={"step": "build", **step})
                return DeployResult(version, False, previous, f"build failed: {detail}")
            self.log.info("built %s", tag, extra={"step": "build", **step})

        try:
            if previous is not None:
                try:
                    self._docker("stop", self.container_name(previous))
                except StepFailed as exc:
                    self.log.error("stop of %s failed: %s", previous, exc, extra={"step": "stop", **step})
                    raise
                self.log.info("stopped %s", self.container_name(previous), extra={"step": "stop", **step})
            argv = ["run", "--detach", "--name", self.container_name(version),
                    "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                argv += ["--label", f"{key}={value}"]
            try:
                self._docker(*argv, tag)
            except StepFailed as exc:
                self.log.error("run of %s failed: %s", tag, exc, extra={"step": "run", **step})
                raise
            self.log.info("started %s", self.container_name(version), extra={"step": "run", **step})
            url = f"http://127.0.0.1:{self.port}/health"
            healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                         sleep=self.sleep, clock=self.clock)
            self.log.log(logging.INFO if healthy else logging.ERROR, "health of %s: %s", version,
                         "ok" if healthy else "failed", extra={"step": "health", "healthy": healthy, **step})
            if not healthy:
                raise StepFailed(f"{url} never answered 200 within the retry policy")
        except StepFailed as exc:
            self._roll_back(version, previous, str(exc))
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._docker("rm", "--force", self.container_name(previous))
            except StepFailed as exc:
                self.log.warning("could not remove %s: %s", self.container_name(previous), exc,
                                 extra={"step": "cleanup", **step})
        self._current = version
        self.log.info("promoted %s", version, extra={"step": "promote", "previous_version": previous, **step})
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None, reason: str) -> None:
        self.log.warning("rolling back %s: %s", version, reason, extra={"step": "rollback", **{"version": version}})
        commands = [("rm", "--force", self.container_name(version))]
        if previous is not None:
            commands.append(("start", self.container_name(previous)))
        for command in commands:
            try:
                self._docker(*command)
            except StepFailed as exc:
                self.log.error("rollback step failed: %s", exc, extra={"step": "rollback", "version": version})


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
