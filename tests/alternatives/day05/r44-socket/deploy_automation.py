"""Deploy a container image safely (style B: Popen + process group, raw-socket probe, singledispatch JSON,
a Deployer that keeps an undo stack)."""

from __future__ import annotations

import functools
import itertools
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value, what: str) -> float:
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if number != number or number in (math.inf, -math.inf) or number <= 0:
        raise ValueError(f"{what} must be finite and > 0, got {value!r}")
    return number


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    limit = _finite_positive(timeout, "timeout")
    args = [str(a) for a in argv]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(args, limit) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


_STATUS_RE = re.compile(rb"HTTP/\d\.\d (\d{3})(?: |\r?$)")


def http_health_check(url: str, timeout: float) -> bool:
    """A hand-written HTTP/1.0 GET over a socket: no proxy, no redirect, one deadline for the whole probe."""
    try:
        limit = float(timeout)
        if not (limit > 0 and math.isfinite(limit)):
            return False
        deadline = time.monotonic() + limit
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        request = (f"GET {target} HTTP/1.0\r\nHost: {host_header}\r\nAccept: */*\r\n"
                   f"Connection: close\r\n\r\n").encode("latin-1")
        with socket.create_connection((parts.hostname, port), timeout=limit) as sock:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data and b"\n\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                data += chunk
                if len(data) > 1 << 20:
                    return False
        status_line = data.split(b"\n", 1)[0].rstrip(b"\r")
        match = _STATUS_RE.fullmatch(status_line) or _STATUS_RE.match(status_line)
        return bool(match) and match.group(1) == b"200"
    except Exception:
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
            value = getattr(self, f.name)
            if value != value:  # NaN of any type
                raise ValueError(f"{f.name} may not be NaN")
        problems = {
            "max_attempts < 1": self.max_attempts < 1,
            "initial_delay_s <= 0": self.initial_delay_s <= 0,
            "max_delay_s < initial_delay_s": self.max_delay_s < self.initial_delay_s,
            "deadline_s <= 0": self.deadline_s <= 0,
            "probe_timeout_s <= 0": self.probe_timeout_s <= 0,
        }
        bad = [text for text, failed in problems.items() if failed]
        if bad:
            raise ValueError("invalid RetryPolicy: " + ", ".join(bad))

    def delays(self):
        """The wait after failed probe 1, 2, 3, ...: doubling until capped, then the cap forever."""
        delay = self.initial_delay_s
        while delay < self.max_delay_s:
            yield delay
            delay = delay * 2
        while True:
            yield self.max_delay_s


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
    waits = policy.delays()
    for remaining in range(policy.max_attempts - 1, -1, -1):
        time_left = deadline - clock()
        if time_left <= 0:
            break
        if health_check(url, min(policy.probe_timeout_s, time_left)):
            return True
        if remaining == 0:
            break
        wait = next(waits)
        if clock() + wait >= deadline:
            break
        sleep(wait)
    return False


# ---- structured logs -------------------------------------------------------------------------------------------

_RESERVED = set(logging.LogRecord("x", logging.INFO, "p", 1, "m", (), None).__dict__) | {"message", "asctime"}


@functools.singledispatch
def _jsonable(value):
    return value  # json.dumps(default=str) handles what it cannot write


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
    if isinstance(key, float) and math.isfinite(key):
        return key
    return str(key)


def _timestamp(created: float) -> str:
    whole = int(created // 1)
    millis = min(999, int((created - whole) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": _timestamp(record.created), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        extras = {k: v for k, v in record.__dict__.items() if k not in _RESERVED and k not in line}
        line.update(extras)
        exc_info = record.exc_info
        if exc_info and any(exc_info):
            line["exc"] = self.formatException(exc_info)
        elif getattr(record, "exc_text", None):
            line["exc"] = record.exc_text
        return json.dumps(_jsonable(line), default=str, allow_nan=False, separators=(",", ":"))


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", re.ASCII)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}", re.ASCII)
_REPOSITORY = re.compile(r"(?:[^\s/:@]+(?::[0-9]+)?/)?(?:[^\s/:@]+/)*[^\s/:@]+")


class CommandFailed(Exception):
    def __init__(self, command: str, detail: str):
        super().__init__(f"docker {command}: {detail}")
        self.command = command


class _Redactor:
    def __init__(self, secrets):
        self.patterns = [re.compile("(?=(" + re.escape(s) + "))") for s in secrets if s]

    def __call__(self, text: str) -> str:
        spans = []
        for pattern in self.patterns:
            spans += [(m.start(1), m.end(1)) for m in pattern.finditer(text)]
        if not spans:
            return text
        spans.sort()
        merged = [list(spans[0])]
        for start, end in spans[1:]:
            if start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        pieces, pos = [], 0
        for start, end in merged:
            pieces += [text[pos:start], "[hidden]"]
            pos = end
        pieces.append(text[pos:])
        return "".join(pieces)


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
            raise ValueError(f"not a container name: {name!r}")
        if not (isinstance(port, numbers.Integral) and not isinstance(port, bool) and 0 < port < 65536):
            raise ValueError(f"port must be an integer in 1-65535, got {port!r}")
        self._timeout = _finite_positive(command_timeout_s, "command_timeout_s")
        self.name, self.port = name, int(port)
        self._runner, self._probe = runner, health_check
        self._policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker = docker
        self._labels = dict(labels) if labels else {}
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _exec(self, redact: _Redactor, *args: str) -> None:
        try:
            done = self._runner([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired:
            raise CommandFailed(args[0], f"no answer within {self._timeout:g} s, killed") from None
        except OSError as exc:
            raise CommandFailed(args[0], redact(f"could not run {self._docker!r}: {exc.__class__.__name__} "
                                                f"{exc.strerror or ''}".strip())) from None
        if done.returncode == 0:
            return
        err = done.stderr
        if isinstance(err, (bytes, bytearray)):
            err = err.decode("utf-8", "replace")
        err = redact(err or "").rstrip()
        tail = err[-400:] if err else "(no output)"
        raise CommandFailed(args[0], f"exit status {done.returncode}: {tail}")

    def _event(self, level, step, version, msg, *fmt):
        self._log.log(level, msg, *fmt, extra={"step": step, "version": version})

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not (isinstance(version, str) and _IMAGE_TAG.fullmatch(version)):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not (isinstance(image, str) and _REPOSITORY.fullmatch(image)):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version!r} is the version serving now")

        args_map = dict(build_args) if build_args else {}
        redact = _Redactor(args_map.values())
        previous = self._serving
        tagged = f"{image}:{version}"
        new_name = self.container_name(version)

        if context is not None:
            cmd = ["build", "-t", tagged]
            for key, value in args_map.items():
                cmd.append(f"--build-arg={key}={value}")
            cmd.append(context)
            try:
                self._exec(redact, *cmd)
            except CommandFailed as exc:
                self._event(logging.ERROR, "build", version, "build failed: %s", str(exc))
                return DeployResult(version, False, previous, str(exc))
            self._event(logging.INFO, "build", version, "built %s with build-arg keys %s", tagged,
                        sorted(args_map))

        undo: list[tuple[str, ...]] = []
        try:
            if previous is not None:
                undo.append(("start", self.container_name(previous)))
                self._exec(redact, "stop", self.container_name(previous))
                self._event(logging.INFO, "stop", version, "stopped %s", self.container_name(previous))
            undo.append(("rm", "--force", new_name))
            cmd = ["run", "-d", f"--name={new_name}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self._labels.items():
                cmd += ["-l", f"{key}={value}"]
            self._exec(redact, *cmd, tagged)
            self._event(logging.INFO, "run", version, "running %s", new_name)
            url = f"http://127.0.0.1:{self.port}/health"
            ok = wait_until_healthy(url, health_check=self._probe, policy=self._policy, sleep=self._sleep,
                                    clock=self._clock)
            self._event(logging.INFO if ok else logging.ERROR, "health", version, "%s healthy: %s", url, ok)
            if not ok:
                raise CommandFailed("health", f"{url} did not become healthy")
        except CommandFailed as exc:
            if exc.command != "health":
                self._event(logging.ERROR, exc.command, version, "%s", str(exc))
            self._event(logging.WARNING, "rollback", version, "rolling back %s", version)
            for cmd in reversed(undo):
                try:
                    self._exec(redact, *cmd)
                except CommandFailed as rb:
                    self._event(logging.ERROR, "rollback", version, "rollback step failed: %s", str(rb))
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._exec(redact, "rm", "-f", self.container_name(previous))
            except CommandFailed as exc:
                self._event(logging.WARNING, "cleanup", version, "old container left behind: %s", str(exc))
        self._serving = version
        self._event(logging.INFO, "promote", version, "promoted %s", version)
        return DeployResult(version, True, version)
