"""Deploy a container image safely (style B: Popen, raw sockets, a step table)."""

from __future__ import annotations

import json
import logging
import math
import numbers
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_limit(value, what: str) -> float:
    if value is None:
        raise ValueError(f"{what}: None would mean no limit")
    number = float(value)  # TypeError for non-numbers
    if math.isnan(number) or math.isinf(number) or number <= 0:
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")
    return number


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    limit = _check_limit(timeout, "timeout")
    args = list(argv)
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            encoding="utf-8", errors="replace")
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGKILL
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(args, limit) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def http_health_check(url: str, timeout: float) -> bool:
    """A hand-written HTTP/1.1 GET over a plain socket: no proxy, no redirects, one deadline for all of it."""
    deadline = time.monotonic() + timeout
    try:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with socket.create_connection((parts.hostname, port), timeout=left) as sock:
            request = (f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: deployer-probe\r\n"
                       f"Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1")
            sock.settimeout(max(deadline - time.monotonic(), 1e-6))
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head and b"\n\n" not in head:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:  # a clean close: the head ends here
                    break
                head += chunk
                if len(head) > 1 << 20:
                    return False
        first, sep, _ = head.partition(b"\n")
        if not sep:
            return False
        words = first.decode("latin-1").strip().split(None, 2)
        return len(words) >= 2 and words[0].startswith("HTTP/") and words[1] == "200"
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
        for f in fields(self):
            value = getattr(self, f.name)
            if value != value:  # NaN, of any numeric type
                raise ValueError(f"{f.name} is NaN")
        problems = [
            (self.max_attempts < 1, "max_attempts must be at least 1"),
            (self.initial_delay_s <= 0, "initial_delay_s must be positive"),
            (self.max_delay_s < self.initial_delay_s, "max_delay_s must not be below initial_delay_s"),
            (self.deadline_s <= 0, "deadline_s must be positive"),
            (self.probe_timeout_s <= 0, "probe_timeout_s must be positive"),
        ]
        for bad, message in problems:
            if bad:
                raise ValueError(message)


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    p = policy or RetryPolicy()
    deadline = clock() + p.deadline_s
    delay = p.initial_delay_s
    attempts = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        attempts += 1
        if health_check(url, min(p.probe_timeout_s, remaining)):
            return True
        if attempts >= p.max_attempts:
            return False
        wait = min(delay, p.max_delay_s)
        if clock() + wait >= deadline:
            return False
        sleep(wait)
        delay = wait * 2 if wait < p.max_delay_s else p.max_delay_s


_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _jsonable(value):
    """A copy JSON can write strictly; the original is never touched."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and isinstance(value, int):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {_json_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return list(map(_jsonable, value))
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            return str(value)
        return as_float if math.isfinite(as_float) else str(value)
    return str(value)


def _json_key(key):
    if isinstance(key, (str, bool)) or key is None:
        return key
    if isinstance(key, int):
        return key
    if isinstance(key, float) and math.isfinite(key):
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    @staticmethod
    def _timestamp(created: float) -> str:
        seconds = math.floor(created)
        millis = math.floor((created - seconds) * 1000)
        millis = min(millis, 999)
        stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{stamp}.{millis:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(_jsonable(line), allow_nan=False, ensure_ascii=True)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _valid_container_name(name) -> bool:
    return (isinstance(name, str) and len(name) >= 1 and name[0] in _ALNUM
            and all(c in _ALNUM or c in "_.-" for c in name[1:]))


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and (tag[0] in _ALNUM or tag[0] == "_")
            and all(c in _ALNUM or c in "_.-" for c in tag[1:]))


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or image == "":
        return False
    if any(c in " \t\n\r\v\f" for c in image) or any(c.isspace() for c in image):
        return False
    last = image.split("/")[-1]
    return ":" not in last and last != ""


class _Failed(Exception):
    def __init__(self, step: str, reason: str):
        super().__init__(reason)
        self.step = step
        self.reason = reason


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
        if not _valid_container_name(name):
            raise ValueError(f"not a valid container name: {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not (1 <= port <= 65535):
            raise ValueError(f"port must be an integer in 1-65535, got {port!r}")
        self._timeout = _check_limit(command_timeout_s, "command_timeout_s")
        self.name, self.port = name, port
        self._run = runner
        self._probe = health_check
        self._policy = policy
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = list((labels or {}).items())
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")
        self._hidden: tuple[str, ...] = ()

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _redact(self, text) -> str:
        if text is None:
            return ""
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        text = str(text)
        spans = []
        for secret in self._hidden:
            i = text.find(secret)
            while i >= 0:
                spans.append((i, i + len(secret)))
                i = text.find(secret, i + 1)
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
            pieces.append(text[pos:start])
            pieces.append("[hidden]")
            pos = end
        pieces.append(text[pos:])
        return "".join(pieces)

    def _event(self, level: int, step: str, version: str, message: str) -> None:
        self._log.log(level, "%s", self._redact(message), extra={"step": step, "version": version})

    def _cmd(self, step: str, *argv: str) -> None:
        full = [self._docker_bin, *argv]
        try:
            result = self._run(full, self._timeout)
        except subprocess.TimeoutExpired:
            raise _Failed(step, f"docker {argv[0]} did not finish within {self._timeout:g} s") from None
        except OSError as err:
            raise _Failed(step, f"docker {argv[0]} could not be started ({type(err).__name__}: "
                                f"{self._redact(err.strerror or err)})") from None
        if result.returncode == 0:
            return
        output = self._redact(result.stderr or "") or self._redact(result.stdout or "")
        output = output.strip()
        if len(output) > 500:
            output = "..." + output[-500:]
        raise _Failed(step, f"docker {argv[0]} failed with exit code {result.returncode}: {output}")

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not _valid_repository(image):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is the version serving now")
        args = dict(build_args or {})
        self._hidden = tuple(v for v in args.values() if v != "")
        reference = f"{image}:{version}"
        old = self._serving

        if context is not None:
            build = ["build", "-t", reference]
            for key, value in args.items():
                build.append(f"--build-arg={key}={value}")
            build.append(context)
            try:
                self._cmd("build", *build)
            except _Failed as failure:
                self._event(logging.ERROR, "build", version, f"build failed: {failure.reason}")
                return DeployResult(version, False, old, self._redact(failure.reason))
            self._event(logging.INFO, "build", version, f"built {reference} with args {sorted(args)}")

        new_name = self.container_name(version)
        run = ["run", "-d", f"--name={new_name}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
        for key, value in self._labels:
            run += ["-l", f"{key}={value}"]
        run.append(reference)
        try:
            if old is not None:
                self._cmd("stop", "stop", self.container_name(old))
                self._event(logging.INFO, "stop", version, f"stopped {self.container_name(old)}")
            self._cmd("run", *run)
            self._event(logging.INFO, "run", version, f"running {new_name}")
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            if not ok:
                raise _Failed("health", f"{new_name} did not answer 200 on /health in time")
            self._event(logging.INFO, "health", version, f"{new_name} is healthy")
        except _Failed as failure:
            self._event(logging.ERROR, failure.step, version, failure.reason)
            self._rollback(version, old)
            return DeployResult(version, False, old, self._redact(failure.reason))

        if old is not None:
            try:
                self._cmd("cleanup", "rm", "-f", self.container_name(old))
            except _Failed as failure:
                self._event(logging.WARNING, "cleanup", old, f"left behind: {failure.reason}")
        self._serving = version
        self._event(logging.INFO, "promote", version, f"{version} promoted")
        return DeployResult(version, True, version, "")

    def _rollback(self, version: str, old: str | None) -> None:
        self._event(logging.WARNING, "rollback", version, f"rolling back {version}")
        for argv in (["rm", "-f", self.container_name(version)],
                     ["start", self.container_name(old)] if old is not None else None):
            if argv is None:
                continue
            try:
                self._cmd("rollback", *argv)
            except _Failed as failure:
                self._event(logging.ERROR, "rollback", version, f"rollback step failed: {failure.reason}")
