"""Deploy a container image safely (review alternative A: Popen + http.client, exception-driven deployer)."""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import logging
import math
import re
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

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
        raise ValueError(f"timeout must be a finite positive number of seconds, got {timeout!r}")
    args = list(argv)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()  # not communicate(): a child of the program may still hold the pipes open
        proc.stdout.close()
        proc.stderr.close()
        raise subprocess.TimeoutExpired(args, timeout) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


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


def http_health_check(url: str, timeout: float) -> bool:
    try:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status == 200
        finally:
            conn.close()
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
                raise ValueError(f"{f.name} must not be NaN")
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

    def delay_after(self, failed_attempt: int) -> float:
        return min(self.max_delay_s, self.initial_delay_s * 2 ** min(failed_attempt - 1, 1000))


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
    while True:
        attempt += 1
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt >= policy.max_attempts:
            return False
        delay = policy.delay_after(attempt)
        if clock() + delay >= deadline:
            return False
        sleep(delay)


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _jsonable(value):
    """Values JSON can encode pass through; NaN/inf and unknown objects become text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = _dt.datetime.fromtimestamp(int(record.created), tz=_dt.timezone.utc) + _dt.timedelta(
            microseconds=int(record.created % 1 * 1_000_000))
        entry = {
            "ts": when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a record rebuilt by a log receiver: the exception arrives as text
            entry["exception"] = record.exc_text
        return json.dumps(_jsonable(entry), allow_nan=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


class _DockerFailed(Exception):
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
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be finite and positive, got {command_timeout_s!r}")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy
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

    def _docker(self, *args: str, secrets: list[str] | None = None) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _DockerFailed(f"docker {args[0]} timed out after {self.command_timeout_s:g} s") from None
        except OSError as exc:
            raise _DockerFailed(f"docker {args[0]} could not run: {exc}") from None
        if done.returncode != 0:
            err = done.stderr or ''
            if secrets:  # hide them in the whole output before it is cut, or a cut may leave part of one
                err = _hide_all(err, secrets)
            raise _DockerFailed(f"docker {args[0]} exited {done.returncode}: {err.strip()[-300:]}")

    @staticmethod
    def _check_image(image: str) -> None:
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"invalid image name {image!r}")
        last = image.rsplit("/", 1)[-1]
        if ":" in last or "@" in image or not last:
            raise ValueError(f"image must be a repository without a tag, got {image!r}")

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        self._check_image(image)
        previous = self._current
        if version == previous:
            raise ValueError(f"{version} is already serving")
        log = lambda level, step, msg, *a: self.log.log(level, msg, *a, extra={"step": step, "version": version})  # noqa: E731
        ref = f"{image}:{version}"
        if context is not None:
            log(logging.INFO, "build", "building %s", ref)
            args = ["build", "--tag", ref]
            for key, value in (build_args or {}).items():
                args += ["--build-arg", f"{key}={value}"]
            secrets = sorted((v for v in (build_args or {}).values() if v), key=len, reverse=True)
            try:
                self._docker(*args, str(context), secrets=secrets)
            except _DockerFailed as exc:
                why = str(exc)
                log(logging.ERROR, "build", "build failed: %s", why)
                return DeployResult(version, False, previous, f"build failed: {why}")
        new = self.container_name(version)
        try:
            if previous is not None:
                log(logging.INFO, "stop", "stopping %s", self.container_name(previous))
                self._docker("stop", self.container_name(previous))
            log(logging.INFO, "run", "starting %s", new)
            run = ["run", "-d", f"--name={new}", f"-p=127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run.append(f"--label={key}={value}")
            self._docker(*run, ref)
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            log(logging.INFO if healthy else logging.ERROR, "health", "health of %s: %s", new, healthy)
            if not healthy:
                raise _DockerFailed(f"{new} never became healthy")
        except _DockerFailed as exc:
            self._roll_back(version, previous, log)
            return DeployResult(version, False, previous, str(exc))
        if previous is not None:
            try:
                self._docker("rm", self.container_name(previous))
            except _DockerFailed as exc:
                log(logging.WARNING, "cleanup", "could not remove %s: %s", self.container_name(previous), exc)
        self._current = version
        log(logging.INFO, "promote", "%s promoted", ref)
        return DeployResult(version, True, version)

    def _roll_back(self, version, previous, log) -> None:
        log(logging.WARNING, "rollback", "rolling back %s to %s", version, previous)
        new = self.container_name(version)
        for args in (("stop", new), ("rm", new)):
            try:
                self._docker(*args)
            except _DockerFailed as exc:
                log(logging.WARNING, "rollback", "%s", exc)
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except _DockerFailed as exc:
                log(logging.CRITICAL, "rollback", "could not restart %s: %s", previous, exc)


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
