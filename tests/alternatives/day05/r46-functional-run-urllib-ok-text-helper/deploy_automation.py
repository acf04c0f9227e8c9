"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back (functional style)."""

from __future__ import annotations

import http.client
import io
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

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value) -> bool:
    if value is None:
        raise TypeError("a timeout of None means no limit")
    return 0 < value < math.inf  # False for NaN (NumPy NaN too)


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
    if not _finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number of seconds, got {timeout!r}")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=float(timeout),
                          check=False)


# --- http probe -----------------------------------------------------------------------------------


class _DeadlineRaw(io.RawIOBase):
    def __init__(self, owner: "_DeadlineSocket") -> None:
        self._owner = owner
        self._raw = owner.sock.makefile("rb", buffering=0)  # keeps the socket open until this is closed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._owner.arm()
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """A socket whose every operation gets only what is left of the probe's time."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self.sock.settimeout(left)

    def sendall(self, data) -> None:
        self.arm()
        self.sock.sendall(data)

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_DeadlineRaw(self))

    def close(self) -> None:
        self.sock.close()

    def __getattr__(self, name):
        return getattr(self.sock, name)


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, timeout=None, **kwargs):
        super().__init__(*args, timeout=timeout, **kwargs)
        self._deadline = time.monotonic() + float(timeout)

    def connect(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        sock = socket.create_connection((self.host, self.port), left, self.source_address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = _DeadlineSocket(sock, self._deadline)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_DeadlineHTTPConnection, req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def http_health_check(url: str, timeout: float) -> bool:
    """A probe answers yes or no; the retry loop decides what a 'no' means."""
    try:
        if not _finite_positive(timeout):
            return False
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(), _DeadlineHTTPHandler())
        with opener.open(url, timeout=timeout) as response:
            response.read()
            return response.status == 200
    except (OSError, ValueError, TypeError, http.client.HTTPException):
        return False


# --- retries -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value != value:
                raise ValueError(f"{f.name} is NaN")
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


# --- logs -------------------------------------------------------------------------------------------------

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not (isinstance(key, (str, int)) or key is None) or (isinstance(key, float)):
                key = str(key)
            out[key] = _plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    try:  # NumPy floats that are not float subclasses, and friends
        as_float = float(value)
    except (TypeError, ValueError):
        return value
    if not math.isfinite(as_float):
        return str(value)
    return value


def _timestamp(created: float) -> str:
    seconds = math.floor(created)
    millis = int((created - seconds) * 1000)
    millis = min(max(millis, 0), 999)
    moment = datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=millis * 1000)
    return moment.isoformat(timespec="milliseconds")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": _timestamp(record.created),
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


# --- deployer ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TAIL = 600


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
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be in 1-65535, got {port!r}")
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
        self.logger = logger if logger is not None else logging.getLogger("deploy_automation")
        self._secrets: list[str] = []

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    # helpers

    def _hide(self, text: str) -> str:
        return _hide_all(text, self._secrets)

    def _docker(self, *args: str) -> tuple[bool, str]:
        """(succeeded, what went wrong); never raises."""
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            return False, f"docker {args[0]} timed out after {self.command_timeout_s:g} s"
        except OSError as exc:
            return False, self._hide(f"docker {args[0]} could not start: {exc}")
        if done.returncode == 0:
            return True, ""
        output = done.stderr or done.stdout or ""
        if isinstance(output, bytes):
            output = output.decode("utf-8", "replace")
        output = self._hide(output).strip()
        return False, f"docker {args[0]} exited {done.returncode}: {output[-_TAIL:]}"

    def _log(self, level: int, step: str, version: str, message: str) -> None:
        self.logger.log(level, self._hide(message), extra={"step": step, "version": version})

    def _validate(self, image: str, version: str) -> None:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if not isinstance(image, str) or not image or any(ch.isspace() for ch in image):
            raise ValueError(f"invalid image name {image!r}")
        if ":" in image.rsplit("/", 1)[-1] or "@" in image:
            raise ValueError(f"image {image!r} should be a repository without a tag")
        if version == self._current:
            raise ValueError(f"version {version!r} is already serving")

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
        self._secrets = sorted((v for v in build_args.values() if v), key=len, reverse=True)
        ref = f"{image}:{version}"
        previous = self._current

        if context is not None:
            argv = ["build", "--tag", ref]
            for key, value in build_args.items():
                argv += ["--build-arg", f"{key}={value}"]
            ok, why = self._docker(*argv, "--", context)
            if not ok:
                self._log(logging.ERROR, "build", version, f"build of {ref} failed: {why}")
                return DeployResult(version, False, previous, f"build failed: {why}")
            self._log(logging.INFO, "build", version, f"built {ref} (build args: {sorted(build_args)})")

        if previous is not None:
            ok, why = self._docker("stop", self.container_name(previous))
            if not ok:
                self._log(logging.ERROR, "stop", version, f"stopping {previous} failed: {why}")
                return self._roll_back(version, previous, f"stop of {previous} failed: {why}")
            self._log(logging.INFO, "stop", version, f"stopped {previous}")

        argv = ["run", "--detach", "--name", self.container_name(version),
                "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
        for key, value in self.labels.items():
            argv += ["--label", f"{key}={value}"]
        ok, why = self._docker(*argv, ref)
        if not ok:
            self._log(logging.ERROR, "run", version, f"run of {ref} failed: {why}")
            return self._roll_back(version, previous, f"run failed: {why}")
        self._log(logging.INFO, "run", version, f"started {self.container_name(version)}")

        url = f"http://127.0.0.1:{self.port}/health"
        healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                     sleep=self.sleep, clock=self.clock)
        if not healthy:
            self._log(logging.ERROR, "health", version, f"{url} never became healthy")
            return self._roll_back(version, previous, f"health check of {url} failed")
        self._log(logging.INFO, "health", version, f"{url} is healthy")

        if previous is not None:
            ok, why = self._docker("rm", "--force", self.container_name(previous))
            if not ok:
                self._log(logging.WARNING, "cleanup", version,
                          f"could not remove {self.container_name(previous)}, left behind: {why}")
        self._current = version
        self._log(logging.INFO, "promote", version, f"{version} promoted")
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None, reason: str) -> DeployResult:
        self._log(logging.WARNING, "rollback", version, f"rolling back {version}: {reason}")
        ok, why = self._docker("rm", "--force", self.container_name(version))
        if not ok:
            self._log(logging.WARNING, "rollback", version,
                      f"could not remove {self.container_name(version)}: {why}")
        if previous is not None:
            ok, why = self._docker("start", self.container_name(previous))
            if not ok:
                self._log(logging.ERROR, "rollback", version,
                          f"could not start {self.container_name(previous)} again: {why}")
        return DeployResult(version, False, previous, self._hide(reason))


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
