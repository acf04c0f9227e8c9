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
import operator
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # used with fullmatch: `$` would let "name\n" through
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_STANDARD_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
    if not (timeout > 0 and math.isfinite(timeout)):  # NaN or inf would mean: no limit at all
        raise ValueError(f"timeout must be a finite positive number of seconds, not {timeout!r}")
    # errors="replace": a build step may print Latin-1 or raw bytes, which must not turn a deploy into a traceback
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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer of whatever stands in front of the service (a login page, say), not
    the service's own 200: refusing it makes the 302 an HTTPError."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# ProxyHandler({}): the probe asks the container itself; an http_proxy in the environment (which the default
# ProxyHandler reads) cannot reach this host's loopback, and its 200 would say nothing about the container.
_PROBE = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects, _DeadlineHTTPHandler)


def http_health_check(url: str, timeout: float) -> bool:
    """A probe answers yes or no; the retry loop decides what a 'no' means."""
    try:
        with _PROBE.open(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError, http.client.HTTPException):  # URLError, HTTPError, timeouts, resets
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if any(math.isnan(value) for value in vars(self).values()):
            raise ValueError("a retry policy cannot hold NaN")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.initial_delay_s <= self.max_delay_s:
            raise ValueError("delays must satisfy 0 < initial_delay_s <= max_delay_s")
        if not self.deadline_s > 0 or not self.probe_timeout_s > 0:
            raise ValueError("deadline_s and probe_timeout_s must be positive")

    def delay_after(self, failed_attempt: int) -> float:
        doublings = failed_attempt - 1
        if doublings > math.log2(self.max_delay_s / self.initial_delay_s) + 1:
            return self.max_delay_s  # capped long ago; 0.5 * 2 ** 1024 would not even fit in a float
        return min(self.max_delay_s, self.initial_delay_s * 2 ** doublings)


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
    for attempt in range(1, policy.max_attempts + 1):
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt == policy.max_attempts:
            return False
        delay = policy.delay_after(attempt)
        if clock() + delay >= deadline:
            return False
        sleep(delay)
    return False


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            # Whole seconds, then the microseconds cut: fromtimestamp rounds, and x.9999997 would become x+1.
            "ts": (datetime.fromtimestamp(int(record.created), timezone.utc)
                   + timedelta(microseconds=int(record.created % 1 * 1_000_000))).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a record rebuilt by a log receiver: the exception arrives as text
            entry["exc"] = record.exc_text
        return json.dumps(_strict(entry), default=str, allow_nan=False)


def _strict(value):
    """NaN and infinity as text: `json.dumps` would write them as bare NaN/Infinity, which is not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_key(key): _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def _key(key):
    """JSON object keys are text: a key json.dumps cannot write (a tuple) would make format() raise."""
    return key if key is None or isinstance(key, (str, int, bool)) else str(key)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class _StepFailed(Exception):
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
            raise ValueError(f"{name!r} is not a valid container name")
        # operator.index takes an integer (a NumPy one too) and refuses 8080.0 or "8080" with a TypeError
        port = operator.index(port)
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, not {port}")
        if not (command_timeout_s > 0 and math.isfinite(command_timeout_s)):
            raise ValueError("command_timeout_s must be a finite positive number of seconds")
        if current_version is not None:
            _check_version(current_version)
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

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        _check_version(version)
        if not image or ":" in image.rsplit("/", 1)[-1] or any(c.isspace() for c in image):
            raise ValueError(f"image must be a repository name without a tag, not {image!r}")
        if version == self._current:
            raise ValueError(f"version {version} is already serving")
        tag = f"{image}:{version}"
        previous = self._current
        if context is not None:
            try:
                self._docker("build", version, "build", "-t", tag, *self._flags("--build-arg", build_args or {}),
                             context, hide=(build_args or {}).values())
            except _StepFailed as exc:
                return self._result(version, promoted=False, reason=str(exc))
        try:
            if previous is not None:
                self._docker("stop-previous", version, "stop", self.container_name(previous))
            self._docker("run", version, "run", "--detach", "--name", self.container_name(version),
                         "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}",
                         *self._flags("--label", self.labels), tag)
            healthy = wait_until_healthy(self.health_url, health_check=self.health_check, policy=self.policy,
                                         sleep=self.sleep, clock=self.clock)
            self._step("health", version, healthy, url=self.health_url)
            if not healthy:
                raise _StepFailed(f"{self.health_url} not healthy within {self.policy.max_attempts} attempts "
                                  f"or {self.policy.deadline_s:g} s")
        except _StepFailed as exc:
            self._roll_back(version, previous)
            return self._result(version, promoted=False, reason=str(exc))
        if previous is not None:
            self._cleanup("remove-previous", version, "rm", "--force", self.container_name(previous))
        self._current = version
        self.log.info("promoted %s", tag, extra={"step": "promote", "version": version, "outcome": "ok",
                                                 "previous_version": previous})
        return self._result(version, promoted=True)

    def _roll_back(self, version: str, previous: str | None) -> None:
        """The broken container goes first: it holds the port the previous one needs back."""
        self.log.warning("rolling back %s", version, extra={"step": "rollback", "version": version,
                                                           "outcome": "started", "previous_version": previous})
        self._cleanup("remove-new", version, "rm", "--force", self.container_name(version))
        if previous is not None:
            self._cleanup("restart-previous", version, "start", self.container_name(previous))

    def _result(self, version: str, promoted: bool, reason: str = "") -> DeployResult:
        return DeployResult(version=version, promoted=promoted, serving_version=self._current, reason=reason)

    def _flags(self, flag: str, values: Mapping[str, str]) -> list[str]:
        return [part for key, value in values.items() for part in (flag, f"{key}={value}")]

    def _docker(self, step: str, version: str, *args: str, hide: Iterable[str] = ()) -> None:
        ok, detail = self._call(args, hide)
        self._step(step, version, ok, detail=detail)
        if not ok:
            raise _StepFailed(f"{step} failed: {detail}")

    def _cleanup(self, step: str, version: str, *args: str) -> None:
        """Rollback and clean-up go on after a failed command; each failure is logged."""
        ok, detail = self._call(args)
        self._step(step, version, ok, detail=detail)

    def _call(self, args: Sequence[str], hide: Iterable[str] = ()) -> tuple[bool, str]:
        """`hide`: values (build args) a failing command may echo on stderr, kept out of the log and the reason;
        every character any value covers is marked and each covered run hidden whole, so values that contain or
        overlap one another leave no part, and before the tail is cut, so no part stays."""
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {self.command_timeout_s:g} s"
        except OSError as exc:
            return False, f"could not run {self.docker}: {exc}"
        if done.returncode != 0:
            stderr = _hidden(done.stderr or "", hide)
            return False, f"exit {done.returncode}: {stderr.strip()[-500:]}"
        return True, ""

    def _step(self, step: str, version: str, ok: bool, **fields) -> None:
        level = logging.INFO if ok else logging.ERROR
        self.log.log(level, "%s %s", step, "ok" if ok else "failed",
                     extra={"step": step, "version": version, "outcome": "ok" if ok else "failed", **fields})


def _hidden(text: str, values: Iterable[str]) -> str:
    """`text` with every character any non-empty value covers replaced, each covered run by one `***`."""
    covered = [False] * len(text)
    for value in filter(None, values):
        start = text.find(value)
        while start != -1:
            covered[start:start + len(value)] = [True] * len(value)
            start = text.find(value, start + 1)
    out = []
    for i, char in enumerate(text):
        if not covered[i]:
            out.append(char)
        elif i == 0 or not covered[i - 1]:
            out.append("***")
    return "".join(out)


def _check_version(version: str) -> None:
    if not isinstance(version, str) or not _TAG.fullmatch(version):
        raise ValueError(f"{version!r} is not a valid image tag (letters, digits, '_', '.', '-')")
