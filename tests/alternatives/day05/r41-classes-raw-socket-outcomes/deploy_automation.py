"""Deploy a container image safely (style B: small classes, raw-socket probe, result tuples instead of exceptions)."""

from __future__ import annotations

import json
import logging
import math
import numbers
import re
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_limit(value, what):
    if value is None:
        raise TypeError(f"{what}: None would mean no limit")
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        try:
            value = float(value)
        except Exception as exc:
            raise ValueError(f"{what}: not a number: {value!r}") from exc
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(f"{what}: must be finite and > 0, got {value!r}")
    return float(value)


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    limit = _check_limit(timeout, "timeout")
    raw = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=limit, shell=False)
    return subprocess.CompletedProcess(
        raw.args, raw.returncode,
        raw.stdout.decode("utf-8", errors="replace"),
        raw.stderr.decode("utf-8", errors="replace"),
    )


_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})(?: [^\r\n]*)?\r?\n")


def http_health_check(url: str, timeout: float) -> bool:
    """Raw HTTP/1.1 over a socket: no proxy, no redirects, whole probe bounded by one deadline."""
    try:
        limit = _check_limit(timeout, "timeout")
        end = time.monotonic() + limit
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        with socket.create_connection((parts.hostname, port), timeout=limit) as sock:
            request = (f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n"
                       f"Accept: */*\r\n\r\n").encode("latin-1")
            sock.settimeout(max(end - time.monotonic(), 1e-6))
            sock.sendall(request)
            buffer = b""
            while b"\r\n\r\n" not in buffer and b"\n\n" not in buffer:  # the whole head, up to its blank line
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                sock.settimeout(remaining)
                chunk = sock.recv(4096)
                if not chunk:
                    return False  # closed before the head ended
                buffer += chunk
                if len(buffer) > 65536:
                    return False
        match = _STATUS_LINE.match(buffer)
        return bool(match) and int(match.group(1)) == 200
    except (OSError, ValueError, UnicodeError, TypeError):
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            if getattr(self, name) != getattr(self, name):  # NaN of any numeric type
                problems.append(f"{name} is NaN")
        if not problems:
            if self.max_attempts < 1:
                problems.append("max_attempts < 1")
            if self.initial_delay_s <= 0:
                problems.append("initial_delay_s <= 0")
            if self.max_delay_s < self.initial_delay_s:
                problems.append("max_delay_s < initial_delay_s")
            if self.deadline_s <= 0:
                problems.append("deadline_s <= 0")
            if self.probe_timeout_s <= 0:
                problems.append("probe_timeout_s <= 0")
        if problems:
            raise ValueError("invalid RetryPolicy: " + ", ".join(problems))

    def delay_after(self, failed_attempt: int) -> float:
        """The wait after failed probe n (1-based), capped without ever computing a huge power."""
        delay = self.initial_delay_s
        for _ in range(failed_attempt - 1):
            delay *= 2
            if delay >= self.max_delay_s:
                return self.max_delay_s
        return min(delay, self.max_delay_s)


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    if policy is None:
        policy = RetryPolicy()
    deadline = clock() + policy.deadline_s
    for attempt in range(1, policy.max_attempts + 1):
        time_left = deadline - clock()
        if time_left <= 0:
            break
        if health_check(url, min(policy.probe_timeout_s, time_left)):
            return True
        if attempt == policy.max_attempts:
            break
        pause = policy.delay_after(attempt)
        if clock() + pause > deadline:
            break
        sleep(pause)
    return False


_BLANK = logging.LogRecord("", 0, "", 0, "", (), None)
_RESERVED = set(_BLANK.__dict__) | {"message", "asctime"}


def _jsonable(value):
    match value:
        case bool() | None | str():
            return value
        case float():
            return value if math.isfinite(value) else repr(float(value))
        case int():
            return value
        case Mapping():
            return {_jsonable_key(k): _jsonable(v) for k, v in value.items()}
        case list() | tuple():
            return [_jsonable(v) for v in value]
        case _:
            try:
                json.dumps(value, allow_nan=False)
                return value
            except (TypeError, ValueError):
                return str(value)


def _jsonable_key(key):
    if type(key) in (str, int, bool) or key is None:
        return key
    if isinstance(key, float) and math.isfinite(key):
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        millis = int((record.created - seconds) * 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
        entry = {"ts": stamp, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(_jsonable(entry), default=str, allow_nan=False, ensure_ascii=True)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z", re.ASCII)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z", re.ASCII)
_REPOSITORY = re.compile(r"(?:[^\s/:]+(?::[0-9]+)?/)?[^\s/:]+(?:/[^\s/:]+)*\Z")


@dataclass
class _Outcome:
    ok: bool
    reason: str = ""


@dataclass
class _DockerCli:
    program: str
    runner: Runner
    timeout: float
    secrets: list[str] = field(default_factory=list)

    def scrub(self, text: str) -> str:
        return _hide_all(text, self.secrets, "<redacted>")

    def __call__(self, *args: str) -> _Outcome:
        sub = args[0]
        try:
            done = self.runner([self.program, *args], self.timeout)
        except subprocess.TimeoutExpired:
            return _Outcome(False, f"docker {sub}: no answer within {self.timeout:g} s, killed")
        except OSError as exc:
            return _Outcome(False, f"docker {sub}: cannot run {self.program!r}: {exc.__class__.__name__} {exc.errno}")
        if done.returncode == 0:
            return _Outcome(True)
        err = done.stderr if isinstance(done.stderr, str) else (done.stderr or b"").decode("utf-8", "replace")
        lines = [line for line in self.scrub(err).splitlines() if line.strip()]  # scrub before the cut
        tail = "\n".join(lines[-5:])[-800:]
        return _Outcome(False, self.scrub(f"docker {sub} failed (exit {done.returncode}): {tail}"))


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
        if not (isinstance(name, str) and _CONTAINER_NAME.match(name)):
            raise ValueError(f"not a valid container name: {name!r}")
        if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
            raise ValueError(f"port out of range: {port!r}")
        timeout = _check_limit(command_timeout_s, "command_timeout_s")
        self.name, self.port = name, port
        self._probe = health_check
        self._policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._labels = list((labels or {}).items())
        self._cli = _DockerCli(docker, runner, timeout)
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _event(self, level: int, step: str, version: str, text: str) -> None:
        self._log.log(level, "%s", self._cli.scrub(text), extra={"step": step, "version": version})

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not (isinstance(version, str) and _IMAGE_TAG.match(version)):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not (isinstance(image, str) and _REPOSITORY.match(image)):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is already serving")

        args = list((build_args or {}).items())
        self._cli.secrets = [value for _, value in args if value]
        previous = self._serving
        reference = f"{image}:{version}"

        if context is not None:
            cmd = ["build", "-t", reference]
            for key, value in args:
                cmd.append(f"--build-arg={key}={value}")
            cmd.append(context)
            outcome = self._cli(*cmd)
            if not outcome.ok:
                self._event(logging.ERROR, "build", version, outcome.reason)
                return DeployResult(version, False, previous, outcome.reason)
            self._event(logging.INFO, "build", version, f"built {reference} with build args {[k for k, _ in args]}")

        failure = self._swap_in(reference, version, previous)
        if failure is not None:
            self._rollback(version, previous)
            return DeployResult(version, False, previous, failure)

        if previous is not None:
            removal = self._cli("rm", "--force", self.container_name(previous))
            if not removal.ok:
                self._event(logging.WARNING, "remove-previous", version,
                            f"{self.container_name(previous)} left behind: {removal.reason}")
        self._serving = version
        self._event(logging.INFO, "promote", version, f"{version} serves on 127.0.0.1:{self.port}")
        return DeployResult(version, True, version)

    def _swap_in(self, reference: str, version: str, previous: str | None) -> str | None:
        """Stop the old, run the new, wait for health. Returns why it failed, or None."""
        if previous is not None:
            stop = self._cli("stop", self.container_name(previous))
            self._event(logging.INFO if stop.ok else logging.ERROR, "stop", version,
                        stop.reason or f"stopped {previous}")
            if not stop.ok:
                return stop.reason
        run = ["run", "-d", "--name", self.container_name(version), "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
        for key, value in self._labels:
            run += ["-l", f"{key}={value}"]
        started = self._cli(*run, reference)
        self._event(logging.INFO if started.ok else logging.ERROR, "run", version,
                    started.reason or f"running {self.container_name(version)}")
        if not started.ok:
            return started.reason
        healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                     policy=self._policy, sleep=self._sleep, clock=self._clock)
        self._event(logging.INFO if healthy else logging.ERROR, "health", version,
                    "healthy" if healthy else "health check never passed")
        return None if healthy else f"{reference} never answered 200 on /health"

    def _rollback(self, version: str, previous: str | None) -> None:
        self._event(logging.WARNING, "rollback", version, f"rolling back {version} to {previous}")
        undo = [("rm", "-f", self.container_name(version))]
        if previous is not None:
            undo.append(("start", self.container_name(previous)))
        for command in undo:
            result = self._cli(*command)
            if not result.ok:
                self._event(logging.ERROR, "rollback", version, f"rollback step {command[0]} failed: {result.reason}")


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
