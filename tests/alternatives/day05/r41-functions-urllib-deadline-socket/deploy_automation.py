"""Deploy a container image safely (style A: functions, urllib, hint-style)."""

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

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value, what: str) -> float:
    if value is None:
        raise TypeError(f"{what} must be a number, got None")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number, got {value!r}") from exc
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")
    return v


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    timeout = _finite_positive(timeout, "timeout")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False)


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline

    def readable(self):
        return True

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
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def sendall(self, data, *args):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self._sock.settimeout(left)
        return self._sock.sendall(data, *args)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _connection_class(deadline):
    class DeadlineHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("probe deadline reached")
            self.timeout = left
            super().connect()
            self.sock = _DeadlineSocket(self.sock, deadline)

    return DeadlineHTTPConnection


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def http_health_check(url: str, timeout: float) -> bool:
    try:
        timeout = _finite_positive(timeout, "timeout")
    except (TypeError, ValueError):
        return False
    deadline = time.monotonic() + timeout
    conn_cls = _connection_class(deadline)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(conn_cls, req)

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(), Handler())
    try:
        with opener.open(url, timeout=timeout) as response:
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
        values = {}
        for field_name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            raw = getattr(self, field_name)
            try:
                v = float(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{field_name} must be a number, got {raw!r}") from exc
            if math.isnan(v):
                raise ValueError(f"{field_name} must not be NaN")
            values[field_name] = v
        if values["max_attempts"] < 1:
            raise ValueError("max_attempts must be at least 1")
        if values["initial_delay_s"] <= 0:
            raise ValueError("initial_delay_s must be positive")
        if values["max_delay_s"] < values["initial_delay_s"]:
            raise ValueError("max_delay_s must not be below initial_delay_s")
        if values["deadline_s"] <= 0:
            raise ValueError("deadline_s must be positive")
        if values["probe_timeout_s"] <= 0:
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


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if isinstance(k, float):
                key = k if math.isfinite(k) else str(k)
            elif k is None or isinstance(k, (str, int, bool)) and type(k) in (str, int, bool):
                key = k
            else:
                key = str(k)
            out[key] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        whole = int(record.created // 1)
        micros = int((record.created - whole) * 1_000_000)
        ts = datetime.fromtimestamp(whole, timezone.utc) + timedelta(microseconds=micros)
        entry = {
            "ts": ts.isoformat(timespec="milliseconds"),
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


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


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
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"invalid container name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be 1-65535, got {port!r}")
        self.command_timeout_s = _finite_positive(command_timeout_s, "command_timeout_s")
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

    def _redact(self, text: str) -> str:
        return _hide_all(text, self._secrets)

    def _log(self, level, message, step, version, **fields):
        self.logger.log(level, self._redact(message), extra={"step": step, "version": version, **fields})

    def _docker(self, subcommand: str, *args: str) -> None:
        argv = [self.docker, subcommand, *args]
        try:
            proc = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _StepFailed(f"docker {subcommand} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            raise _StepFailed(f"docker {subcommand} could not start: {exc.strerror or exc}") from None
        if proc.returncode != 0:
            stderr = proc.stderr or ""
            if isinstance(stderr, bytes):
                stderr = stderr.decode("utf-8", "replace")
            tail = self._redact(stderr).strip()[-500:]  # redact the whole output first: a cut may split a value
            raise _StepFailed(self._redact(f"docker {subcommand} exited {proc.returncode}: {tail}"))

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not isinstance(version, str) or not _TAG_RE.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if (not isinstance(image, str) or not image or any(c.isspace() for c in image)
                or ":" in image.rsplit("/", 1)[-1]):
            raise ValueError(f"invalid image repository {image!r}")
        if version == self._current:
            raise ValueError(f"version {version!r} is already serving")
        build_args = dict(build_args or {})
        self._secrets = [v for v in build_args.values() if v]
        previous = self._current
        ref = f"{image}:{version}"

        if context is not None:
            args = ["--tag", ref]
            for key, value in build_args.items():
                args += ["--build-arg", f"{key}={value}"]
            try:
                self._docker("build", *args, context)
            except _StepFailed as exc:
                self._log(logging.ERROR, f"build of {ref} failed: {exc}", "build", version)
                return DeployResult(version, False, previous, str(exc))
            self._log(logging.INFO, f"built {ref} (build args: {sorted(build_args)})", "build", version)

        new_name = self.container_name(version)
        try:
            if previous is not None:
                try:
                    self._docker("stop", self.container_name(previous))
                except _StepFailed as exc:
                    self._log(logging.ERROR, f"stopping {previous} failed: {exc}", "stop", version)
                    raise
                self._log(logging.INFO, f"stopped {previous}", "stop", version)
            run_args = ["--detach", "--name", new_name, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run_args += ["--label", f"{key}={value}"]
            try:
                self._docker("run", *run_args, ref)
            except _StepFailed as exc:
                self._log(logging.ERROR, f"run of {new_name} failed: {exc}", "run", version)
                raise
            self._log(logging.INFO, f"started {new_name}", "run", version)
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            if not healthy:
                self._log(logging.ERROR, f"{new_name} never became healthy", "health", version, healthy=False)
                raise _StepFailed(f"{new_name} did not become healthy within the retry policy")
            self._log(logging.INFO, f"{new_name} is healthy", "health", version, healthy=True)
        except _StepFailed as exc:
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._docker("rm", "-f", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.WARNING, f"removing {previous} failed, container left behind: {exc}",
                          "cleanup", version)
        self._current = version
        self._log(logging.INFO, f"promoted {version}", "promote", version)
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None) -> None:
        self._log(logging.WARNING, f"rolling back {version}, restoring {previous}", "rollback", version)
        try:
            self._docker("rm", "-f", self.container_name(version))
        except _StepFailed as exc:
            self._log(logging.WARNING, f"rollback: removing {version} failed: {exc}", "rollback", version)
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.ERROR, f"rollback: restarting {previous} failed: {exc}", "rollback", version)


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
