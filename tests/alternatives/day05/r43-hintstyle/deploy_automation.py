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
import io
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
from functools import partial

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_timeout(timeout) -> float:
    if timeout is None:
        raise TypeError("timeout must be a finite positive number, not None")
    if isinstance(timeout, bool):
        raise ValueError("timeout must be a number")
    value = float(timeout)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
    return value


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
    timeout = _check_timeout(timeout)
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=timeout,
                          check=False)


class _DeadlineRaw(io.RawIOBase):
    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline

    def readable(self):
        return True

    def close(self):
        if not self.closed:
            self._sock.close()
        super().close()

    def readinto(self, b):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self._sock.settimeout(left)
        return self._sock.recv_into(b)


class _DeadlineSocket:
    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode="rb", *args, **kwargs):
        # a file of its own on a duplicate of the socket, as socket.makefile keeps the socket open
        return io.BufferedReader(_DeadlineRaw(self._sock.dup(), self._deadline))

    def sendall(self, data):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self._sock.settimeout(left)
        return self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _DeadlineConnection(http.client.HTTPConnection):
    def __init__(self, host, *, deadline, **kwargs):
        super().__init__(host, **kwargs)
        self._deadline = deadline

    def connect(self):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self.timeout = left
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _DeadlineHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline):
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        return self.do_open(partial(_DeadlineConnection, deadline=self._deadline), req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def http_health_check(url: str, timeout: float) -> bool:
    """A probe answers yes or no; the retry loop decides what a 'no' means."""
    try:
        deadline = time.monotonic() + float(timeout)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(),
                                             _DeadlineHandler(deadline))
        with opener.open(url, timeout=timeout) as response:
            response.read()
            return response.status == 200
    except (OSError, ValueError, TypeError, http.client.HTTPException):
        return False


def _bad_number(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            if _bad_number(getattr(self, name)):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}")
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
    policy = RetryPolicy() if policy is None else policy
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
        if clock() + delay >= deadline:
            return False
        sleep(delay)
    return False


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, float) and not math.isfinite(key):
                key = str(key)
            elif not (key is None or isinstance(key, (str, int, float, bool))):
                key = str(key)
            out[key] = _plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        return value
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f" and not math.isfinite(as_float):
        return str(value)
    return value


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    def format(self, record: logging.LogRecord) -> str:
        whole = math.floor(record.created)
        millis = int((record.created - whole) * 1000)
        ts = (datetime.fromtimestamp(whole, timezone.utc) + timedelta(milliseconds=millis)).isoformat(
            timespec="milliseconds")
        entry = {"ts": ts, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
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


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_REASON_CHARS = 500


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
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"invalid container name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be 1-65535, got {port!r}")
        self.command_timeout_s = _check_timeout(command_timeout_s)
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy if policy is not None else RetryPolicy()
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
        text = "" if text is None else (text if isinstance(text, str) else
                                         text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
        return _hide_all(text, self._secrets)

    def _tail(self, text) -> str:
        text = self._hide(text).strip()
        return text[-_REASON_CHARS:]

    def _log(self, level, step, version, message, *args, **fields):
        self.logger.log(level, self._hide(message % args if args else message),
                        extra={"step": step, "version": version, **fields})

    def _docker(self, step: str, version: str, *args: str):
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            raise _StepFailed(f"docker {args[0]} could not start: {type(exc).__name__}: {self._hide(exc)}") from None
        if done.returncode != 0:
            raise _StepFailed(f"docker {args[0]} exited {done.returncode}: {self._tail(done.stderr)}")
        return done

    def _validate(self, image, version):
        if not isinstance(version, str) or not _TAG_RE.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"invalid image name {image!r}")
        if ":" in image.rsplit("/", 1)[-1] or "@" in image:
            raise ValueError(f"image {image!r} should be a repository name without a tag")
        if self._current is not None and version == self._current:
            raise ValueError(f"version {version!r} is already serving")

    # --- the deploy ------------------------------------------------------------

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        self._validate(image, version)
        build_args = dict(build_args or {})
        self._secrets = [str(v) for v in build_args.values() if str(v)]
        previous = self._current
        tag = f"{image}:{version}"
        try:
            if context is not None:
                argv = ["build", "--tag", tag]
                for key, value in build_args.items():
                    argv += ["--build-arg", f"{key}={value}"]
                argv.append(context)
                try:
                    self._docker("build", version, *argv)
                except _StepFailed as failed:
                    reason = str(failed)
                    self._log(logging.ERROR, "build", version, "build of %s failed: %s", tag, reason)
                    return DeployResult(version, False, previous, reason)
                self._log(logging.INFO, "build", version, "built %s (build args: %s)", tag,
                          ", ".join(build_args) or "none")
            try:
                if previous is not None:
                    try:
                        self._docker("stop", version, "stop", self.container_name(previous))
                    except _StepFailed as failed:
                        self._log(logging.ERROR, "stop", version, "stopping %s failed: %s",
                                  self.container_name(previous), str(failed))
                        raise
                    self._log(logging.INFO, "stop", version, "stopped %s", self.container_name(previous))
                run = ["run", "--detach", "--name", self.container_name(version),
                       "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
                for key, value in self.labels.items():
                    run += ["--label", f"{key}={value}"]
                run.append(tag)
                try:
                    self._docker("run", version, *run)
                except _StepFailed as failed:
                    self._log(logging.ERROR, "run", version, "running %s failed: %s", tag, str(failed))
                    raise
                self._log(logging.INFO, "run", version, "started %s", self.container_name(version))
                url = f"http://127.0.0.1:{self.port}/health"
                healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                             sleep=self.sleep, clock=self.clock)
                self._log(logging.INFO if healthy else logging.ERROR, "health", version,
                          "%s is %s", url, "healthy" if healthy else "not healthy")
                if not healthy:
                    raise _StepFailed(f"{self.container_name(version)} never became healthy at {url}")
            except _StepFailed as failed:
                reason = str(failed)
                self._roll_back(version, previous)
                return DeployResult(version, False, previous, reason)
            if previous is not None:
                try:
                    self._docker("rm", version, "rm", "--force", self.container_name(previous))
                    self._log(logging.INFO, "cleanup", version, "removed %s", self.container_name(previous))
                except _StepFailed as failed:
                    self._log(logging.WARNING, "cleanup", version, "could not remove %s, left behind: %s",
                              self.container_name(previous), str(failed))
            self._current = version
            self._log(logging.INFO, "promote", version, "promoted %s", version)
            return DeployResult(version, True, version)
        finally:
            self._secrets = []

    def _roll_back(self, version, previous):
        self._log(logging.WARNING, "rollback", version, "rolling back %s to %s", version, previous)
        try:
            self._docker("rm", version, "rm", "--force", self.container_name(version))
        except _StepFailed as failed:
            self._log(logging.WARNING, "rollback", version, "removing %s failed: %s",
                      self.container_name(version), str(failed))
        if previous is not None:
            try:
                self._docker("start", version, "start", self.container_name(previous))
            except _StepFailed as failed:
                self._log(logging.ERROR, "rollback", version, "restarting %s failed: %s",
                          self.container_name(previous), str(failed))


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
