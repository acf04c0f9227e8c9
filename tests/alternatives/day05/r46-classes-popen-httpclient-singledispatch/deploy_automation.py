"""Deploy a container image safely (class-based style)."""

from __future__ import annotations

import functools
import http.client
import io
import json
import logging
import math
import numbers
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_timeout(timeout) -> float:
    if timeout is None or isinstance(timeout, bool):
        raise TypeError(f"a timeout is a number of seconds, got {timeout!r}")
    seconds = float(timeout)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"timeout must be finite and positive, got {timeout!r}")
    return seconds


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    seconds = _check_timeout(timeout)
    args = [str(a) for a in argv]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        raise subprocess.TimeoutExpired(args, seconds) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    decode = lambda data: data.decode("utf-8", errors="replace")  # noqa: E731
    return subprocess.CompletedProcess(args, proc.returncode, decode(out), decode(err))


class _Budget:
    """What is left of one probe's time, handed out to each socket operation."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe timed out")
        return left


class _BudgetReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, budget: _Budget) -> None:
        self._sock, self._budget = sock, budget
        self._io = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        self._sock.settimeout(self._budget.left())
        return self._io.readinto(buf)

    def close(self) -> None:
        self._io.close()
        super().close()


class _BudgetSocket:
    def __init__(self, sock: socket.socket, budget: _Budget) -> None:
        self._sock, self._budget = sock, budget

    def sendall(self, data) -> None:
        self._sock.settimeout(self._budget.left())
        self._sock.sendall(data)

    def makefile(self, *args, **kwargs):
        return io.BufferedReader(_BudgetReader(self._sock, self._budget))

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _ProbeConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, budget: _Budget) -> None:
        super().__init__(host, port, timeout=budget.left())
        self._budget = budget

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self._budget.left())
        self.sock = _BudgetSocket(sock, self._budget)


def http_health_check(url: str, timeout: float) -> bool:
    conn = None
    try:
        budget = _Budget(_check_timeout(timeout))
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn = _ProbeConnection(parts.hostname, parts.port, budget)
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status == 200
    except (OSError, ValueError, TypeError, http.client.HTTPException):
        return False
    finally:
        if conn is not None:
            conn.close()


def _is_nan(value) -> bool:
    try:
        return math.isnan(value)
    except TypeError:
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
        if any(_is_nan(v) for v in values):
            raise ValueError(f"a RetryPolicy field is NaN: {self}")
        problems = {
            "max_attempts must be >= 1": self.max_attempts < 1,
            "initial_delay_s must be > 0": self.initial_delay_s <= 0,
            "max_delay_s must be >= initial_delay_s": self.max_delay_s < self.initial_delay_s,
            "deadline_s must be > 0": self.deadline_s <= 0,
            "probe_timeout_s must be > 0": self.probe_timeout_s <= 0,
        }
        wrong = [text for text, bad in problems.items() if bad]
        if wrong:
            raise ValueError("; ".join(wrong))

    def delays(self) -> Iterator[float]:
        delay = self.initial_delay_s
        while True:
            yield min(delay, self.max_delay_s)
            if delay < self.max_delay_s:
                delay *= 2


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    policy = policy or RetryPolicy()
    deadline = clock() + policy.deadline_s
    delays = policy.delays()
    for attempt in range(1, policy.max_attempts + 1):
        remaining = deadline - clock()
        if remaining <= 0:
            break
        if health_check(url, min(policy.probe_timeout_s, remaining)):
            return True
        if attempt == policy.max_attempts:
            break
        delay = next(delays)
        if clock() + delay > deadline:
            break
        sleep(delay)
    return False


# --- logs ---------------------------------------------------------------------------------------------------

_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@functools.singledispatch
def _jsonable(value):
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        number = float(value)
        return number if math.isfinite(number) else str(value)
    return value  # json.dumps(default=str) writes the rest


@_jsonable.register
def _(value: float):
    return value if math.isfinite(value) else str(value)


@_jsonable.register
def _(value: dict):
    return {_key(k): _jsonable(v) for k, v in value.items()}


@_jsonable.register(list)
@_jsonable.register(tuple)
def _(value):
    return [_jsonable(v) for v in value]


def _key(key):
    if isinstance(key, str) or key is None or isinstance(key, bool):
        return key
    if isinstance(key, int):
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    def _ts(self, created: float) -> str:
        whole = int(created // 1)
        millis = min(999, max(0, int((created - whole) * 1000)))
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": self._ts(record.created), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        line.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(_jsonable(line), default=str, allow_nan=False, ensure_ascii=False)


# --- deployer ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step, self.reason = step, reason


class _Redactor:
    def __init__(self, values) -> None:
        self._values = sorted({v for v in values if v}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return _hide_all(text, self._values, "<hidden>")


class _Docker:
    def __init__(self, program: str, runner: Runner, timeout: float) -> None:
        self.program, self.runner, self.timeout = program, runner, timeout

    def __call__(self, step: str, args: list[str], redact: _Redactor) -> None:
        """Runs one command; raises StepFailed (reason redacted, the end of stderr) if it does not exit 0."""
        try:
            done = self.runner([self.program, *args], self.timeout)
        except subprocess.TimeoutExpired:
            raise StepFailed(step, f"docker {args[0]} did not finish within {self.timeout:g} s") from None
        except OSError as exc:
            raise StepFailed(step, redact(f"docker {args[0]} could not run: {exc.strerror or exc}")) from None
        if done.returncode != 0:
            text = redact(str(done.stderr or "") + ("" if done.stderr else str(done.stdout or "")))
            lines = text.rstrip().splitlines()[-5:]
            tail = "\n".join(lines)[-800:]
            raise StepFailed(step, f"docker {args[0]} exited with {done.returncode}: {tail}")


_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", re.ASCII)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)


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
        if not (isinstance(name, str) and _CONTAINER_NAME.fullmatch(name)):
            raise ValueError(f"not a valid container name: {name!r}")
        if not (isinstance(port, int) and 0 < port < 65536):
            raise ValueError(f"not a TCP port: {port!r}")
        self.command_timeout_s = _check_timeout(command_timeout_s)
        self.name, self.port = name, port
        self.health_check, self.policy = health_check, policy
        self.sleep, self.clock = sleep, clock
        self.labels = dict(labels) if labels else {}
        self._docker = _Docker(docker, runner, self.command_timeout_s)
        self._serving = current_version
        self.log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _step(self, level: int, step: str, version: str, message: str, *args) -> None:
        self.log.log(level, message, *args, extra={"step": step, "version": version})

    def _check(self, image: str, version: str) -> None:
        if not (isinstance(version, str) and _TAG.fullmatch(version)):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not (isinstance(image, str) and _REPOSITORY.fullmatch(image)):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is the version serving")

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        self._check(image, version)
        build_args = dict(build_args or {})
        redact = _Redactor(build_args.values())
        previous = self._serving
        reference = f"{image}:{version}"

        if context is not None:
            args = ["build", "-t", reference]
            for key, value in build_args.items():
                args.append(f"--build-arg={key}={value}")
            args.append(context)
            try:
                self._docker("build", args, redact)
            except StepFailed as failure:
                self._step(logging.ERROR, "build", version, "build of %s failed: %s", reference, failure.reason)
                return DeployResult(version, False, previous, failure.reason)
            self._step(logging.INFO, "build", version, "built %s with build args %s", reference, sorted(build_args))

        new = self.container_name(version)
        try:
            if previous is not None:
                self._docker("stop", ["stop", self.container_name(previous)], redact)
                self._step(logging.INFO, "stop", version, "stopped %s", self.container_name(previous))
            run = ["run", "-d", f"--name={new}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["-l", f"{key}={value}"]
            self._docker("run", run + [reference], redact)
            self._step(logging.INFO, "run", version, "started %s", new)
            url = f"http://127.0.0.1:{self.port}/health"
            if not wait_until_healthy(url, health_check=self.health_check, policy=self.policy, sleep=self.sleep,
                                      clock=self.clock):
                raise StepFailed("health", f"{url} did not answer 200 within the retry policy")
            self._step(logging.INFO, "health", version, "%s healthy", new)
        except StepFailed as failure:
            self._step(logging.ERROR, failure.step, version, "%s failed: %s", failure.step, failure.reason)
            self._rollback(version, previous, redact)
            return DeployResult(version, False, previous, failure.reason)

        if previous is not None:
            try:
                self._docker("rm", ["rm", "-f", self.container_name(previous)], redact)
            except StepFailed as failure:
                self._step(logging.WARNING, "cleanup", version, "%s left behind: %s", self.container_name(previous),
                           failure.reason)
        self._serving = version
        self._step(logging.INFO, "promote", version, "%s now serves on port %d", version, self.port)
        return DeployResult(version, True, version)

    def _rollback(self, version: str, previous: str | None, redact: _Redactor) -> None:
        self._step(logging.WARNING, "rollback", version, "rolling back %s to %s", version, previous)
        commands = [("rm", ["rm", "-f", self.container_name(version)])]
        if previous is not None:
            commands.append(("start", ["start", self.container_name(previous)]))
        for name, args in commands:
            try:
                self._docker(name, args, redact)
            except StepFailed as failure:
                self._step(logging.ERROR, "rollback", version, "rollback %s failed: %s", name, failure.reason)


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
