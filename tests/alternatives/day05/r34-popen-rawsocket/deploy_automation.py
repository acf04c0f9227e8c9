"""Correct answer B: Popen + communicate, a raw-socket probe with one deadline, error values instead of exceptions."""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _bad_seconds(value) -> bool:
    try:
        return not (0 < float(value) < math.inf)
    except (TypeError, ValueError):
        return True


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if _bad_seconds(timeout):
        raise ValueError(f"timeout must be a finite positive number of seconds, got {timeout!r}")
    args = [str(a) for a in argv]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        try:
            out, err = proc.communicate(timeout=float(timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(args, timeout) from None
        return subprocess.CompletedProcess(args, proc.returncode, out, err)


def http_health_check(url: str, timeout: float) -> bool:
    try:
        deadline = time.monotonic() + float(timeout)
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname
        port = parts.port or 80
        with socket.create_connection((host, port), timeout=float(timeout)) as sock:
            request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
            sock.sendall(request.encode("ascii"))
            received = b""
            while b"\r\n\r\n" not in received:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                received += chunk
                if len(received) > 65536:
                    return False
        status_line = received.split(b"\r\n", 1)[0].decode("latin-1")
        match = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", status_line)
        return bool(match) and match.group(1) == "200"
    except (OSError, ValueError, UnicodeError):
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        checks = {
            "max_attempts": self.max_attempts >= 1,
            "initial_delay_s": self.initial_delay_s > 0,
            "max_delay_s": self.max_delay_s >= self.initial_delay_s,
            "deadline_s": self.deadline_s > 0,
            "probe_timeout_s": self.probe_timeout_s > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]  # NaN fails every comparison
        if bad:
            raise ValueError(f"invalid retry policy fields: {bad}")


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    p = RetryPolicy() if policy is None else policy
    ends_at = clock() + p.deadline_s
    delay = p.initial_delay_s
    attempts = 0
    while True:
        remaining = ends_at - clock()
        if remaining <= 0:
            return False
        attempts += 1
        if health_check(url, min(p.probe_timeout_s, remaining)):
            return True
        if attempts >= p.max_attempts:
            return False
        wait = min(delay, p.max_delay_s)
        if clock() + wait >= ends_at:
            return False
        sleep(wait)
        delay = min(delay * 2, p.max_delay_s)


_RECORD_FIELDS = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "taskName", "message", "asctime",
})


def _jsonable(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(float(value))
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if isinstance(key, float) and not math.isfinite(key):
                key = repr(float(key))
            elif not (key is None or isinstance(key, (str, int, float, bool))):
                key = str(key)
            out[key] = _jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ms = int(record.created * 1000) % 1000
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(record.created))) + f".{ms:03d}Z"
        line = {"ts": stamp, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        line.update((k, v) for k, v in record.__dict__.items() if k not in _RECORD_FIELDS)
        exc = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        if exc:
            line["exception"] = exc
        return json.dumps(_jsonable(line), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_VERSION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_IMAGE = re.compile(r"(?:[^\s/:]+(?::[0-9]+)?/)?(?:[^\s/:]+/)*[^\s/:]+")


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
        problems = []
        if not (isinstance(name, str) and _CONTAINER.fullmatch(name)):
            problems.append(f"name {name!r}")
        if not (isinstance(port, int) or hasattr(port, "__index__")) or not 0 < int(port) < 65536:
            problems.append(f"port {port!r}")
        if _bad_seconds(command_timeout_s):
            problems.append(f"command_timeout_s {command_timeout_s!r}")
        if problems:
            raise ValueError("invalid settings: " + ", ".join(problems))
        self.name, self.port = name, int(port)
        self._runner, self._probe, self._policy = runner, health_check, policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker, self._labels = docker, [(k, v) for k, v in (labels or {}).items()]
        self._timeout = float(command_timeout_s)
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _cmd(self, *args: str) -> str | None:
        """Runs one docker command; None on success, else what went wrong."""
        try:
            done = self._runner([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return f"docker {args[0]}: no answer within {self._timeout:g} s"
        except OSError as exc:
            return f"docker {args[0]}: cannot run {self._docker!r}: {exc}"
        if done.returncode == 0:
            return None
        lines = (done.stderr or "").rstrip().splitlines()
        return f"docker {args[0]} failed ({done.returncode}): " + " | ".join(lines[-3:])

    def _note(self, level: int, step: str, version: str, text: str) -> None:
        self._log.log(level, text, extra={"step": step, "version": version})

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if not (isinstance(version, str) and _VERSION.fullmatch(version)):
            raise ValueError(f"not a valid tag: {version!r}")
        if not (isinstance(image, str) and _IMAGE.fullmatch(image)):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version!r} is the version serving")
        old = self._serving
        tagged = image + ":" + version
        if context is not None:
            cmd = ["build", "-t", tagged]
            for key in (build_args or {}):
                cmd.append("--build-arg=" + key + "=" + build_args[key])
            cmd.append(context)
            error = self._cmd(*cmd)
            if error:  # a failing RUN step may print a build arg's value: hide each one
                error = _hide_all(error, (build_args or {}).values())
            self._note(logging.ERROR if error else logging.INFO, "build", version, error or f"built {tagged}")
            if error:
                return DeployResult(version, False, old, error)

        error = None
        if old is not None:
            error = self._cmd("stop", self.container_name(old))
            self._note(logging.ERROR if error else logging.INFO, "stop-previous", version, error or f"stopped {old}")
        if error is None:
            cmd = ["run", "-d", "--name", self.container_name(version), "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self._labels:
                cmd.append(f"--label={key}={value}")
            cmd.append(tagged)
            error = self._cmd(*cmd)
            self._note(logging.ERROR if error else logging.INFO, "run", version, error or "started")
        if error is None:
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._note(logging.INFO if ok else logging.ERROR, "health", version, "healthy" if ok else "unhealthy")
            if not ok:
                error = f"{tagged} did not become healthy within the retry policy"
        if error is not None:
            self._note(logging.WARNING, "rollback", version, f"rolling back: {error}")
            for cmd in (["rm", "-f", self.container_name(version)],
                        ["start", self.container_name(old)] if old is not None else None):
                if cmd is None:
                    continue
                failed = self._cmd(*cmd)
                if failed:
                    self._note(logging.ERROR, "rollback", version, failed)
            return DeployResult(version, False, old, error)

        if old is not None:
            failed = self._cmd("rm", "-f", self.container_name(old))
            if failed:
                self._note(logging.WARNING, "cleanup", version, f"previous container left behind: {failed}")
        self._serving = version
        self._note(logging.INFO, "promote", version, f"{version} serves")
        return DeployResult(version, True, version, "")


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
