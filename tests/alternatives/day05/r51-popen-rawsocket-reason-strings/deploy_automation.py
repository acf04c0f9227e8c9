"""Deploy a container image safely (style B: raw sockets, Popen, result tuples)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import select
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
        raise TypeError(f"{what}: None means no limit, which is refused")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")
    return number


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    limit = _check_limit(timeout, "timeout")
    args = list(argv)
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired as exc:
        proc.kill()          # SIGKILL at once
        proc.wait()          # reap it; do not wait for the pipes a grandchild may hold
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(args, timeout, output=exc.output, stderr=exc.stderr) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    decode = lambda b: b.decode("utf-8", errors="replace")  # noqa: E731
    return subprocess.CompletedProcess(args, proc.returncode, decode(out), decode(err))


def http_health_check(url: str, timeout: float) -> bool:
    """A hand-rolled HTTP/1.0 GET: no proxy, no redirect, one deadline for the whole probe."""
    try:
        deadline = time.monotonic() + float(timeout)
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = (f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\nUser-Agent: deployer\r\n"
                   f"Connection: close\r\n\r\n").encode("latin-1")
        with socket.create_connection((parts.hostname, port), timeout=timeout) as sock:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            sock.sendall(request)
            head = b""
            closed = False
            while b"\r\n\r\n" not in head and b"\n\n" not in head:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    closed = True
                    break
                head += chunk
                if len(head) > 1 << 16:
                    return False
            if closed and b"\n" not in head:
                return False
            status_line = head.split(b"\n", 1)[0].rstrip(b"\r")
            match = re.fullmatch(rb"HTTP/\d(?:\.\d)? (\d{3})(?: .*)?", status_line)
            return bool(match) and match.group(1) == b"200"
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
        if any(math.isnan(float(getattr(self, f.name))) for f in fields(self)):
            raise ValueError("a retry policy field is NaN")
        checks = [
            (self.max_attempts >= 1, "max_attempts < 1"),
            (self.initial_delay_s > 0, "initial_delay_s <= 0"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s < initial_delay_s"),
            (self.deadline_s > 0, "deadline_s <= 0"),
            (self.probe_timeout_s > 0, "probe_timeout_s <= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def _delays(policy: RetryPolicy):
    """The wait after failed probe 1, 2, ... ; once capped, the cap for ever."""
    delay = policy.initial_delay_s
    while delay < policy.max_delay_s:
        yield delay
        delay *= 2
    while True:
        yield policy.max_delay_s


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
    waits = _delays(policy)
    for attempt in range(1, policy.max_attempts + 1):
        if attempt > 1:
            delay = next(waits)
            if clock() + delay > deadline:
                return False
            sleep(delay)
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, remaining)):
            return True
    return False


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    @staticmethod
    def _key(key):
        if isinstance(key, str) or key is None or type(key) in (int, bool):
            return key
        if type(key) is float and math.isfinite(key):
            return key
        return str(key)

    @classmethod
    def _clean(cls, value):
        if isinstance(value, Mapping):
            return {cls._key(k): cls._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)) and not isinstance(value, (str, bytes)):
            return [cls._clean(v) for v in value]
        if isinstance(value, (str, bool, int)) or value is None:
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        return str(value)

    def format(self, record: logging.LogRecord) -> str:
        seconds, fraction = divmod(record.created, 1)
        millis = min(int(fraction * 1000), 999)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(seconds)))
        entry = {
            "ts": f"{stamp}.{millis:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(self._clean(entry), allow_nan=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
_IMAGE_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}\Z")


def _image_has_tag(image: str) -> bool:
    last = image.split("/")[-1]
    return ":" in last


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
        if type(name) is not str or _CONTAINER_NAME.match(name) is None:
            raise ValueError(f"not a container name: {name!r}")
        if type(port) is not int:
            raise TypeError(f"port must be an integer, got {type(port).__name__}")
        if port < 1 or port > 65535:
            raise ValueError(f"port {port} is outside 1-65535")
        _check_limit(command_timeout_s, "command_timeout_s")
        self.name, self.port = name, port
        self._runner, self._health_check = runner, health_check
        self._policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker = docker
        self._labels = dict(labels) if labels else {}
        self._timeout = command_timeout_s
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _event(self, level: int, step: str, version: str, text: str) -> None:
        self._log.log(level, "%s", text, extra={"step": step, "version": version})

    def _exec(self, masks: list[str], *args: str) -> str | None:
        """None on success, else a reason (secrets hidden) for the failure."""
        def scrub(text) -> str:
            if isinstance(text, (bytes, bytearray)):
                text = bytes(text).decode("utf-8", "replace")
            text = "" if text is None else str(text)
            return _hide_all(text, masks, "[hidden]")

        try:
            done = self._runner([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired as exc:
            said = scrub(exc.stderr or "").strip()[-300:]
            return f"docker {args[0]} timed out ({self._timeout}s) {said}".strip()
        except OSError as exc:
            return scrub(f"docker {args[0]} could not start: {exc.strerror or exc}")
        if done.returncode == 0:
            return None
        said = scrub(done.stderr).strip()[-300:]
        return f"docker {args[0]} failed with exit code {done.returncode}: {said}"

    def _rollback(self, masks, version: str, previous: str | None, why: str) -> None:
        self._event(logging.WARNING, "rollback", version, f"rolling back {version}: {why}")
        problem = self._exec(masks, "rm", "--force", self.container_name(version))
        if problem:
            self._event(logging.ERROR, "rollback", version, f"removing {version} failed: {problem}")
        if previous is None:
            return
        problem = self._exec(masks, "start", self.container_name(previous))
        if problem:
            self._event(logging.CRITICAL, "rollback", version, f"restarting {previous} failed: {problem}")
        else:
            self._event(logging.WARNING, "rollback", version, f"restarted {previous}")

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if type(version) is not str or not _IMAGE_TAG.match(version):
            raise ValueError(f"version {version!r} is not a valid image tag")
        if type(image) is not str or image == "" or re.search(r"\s", image) or _image_has_tag(image):
            raise ValueError(f"image {image!r} should be a repository without a tag")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is the version serving now")
        args = dict(build_args) if build_args else {}
        masks = sorted({v for v in args.values() if v}, key=len, reverse=True)
        previous = self._serving
        ref = f"{image}:{version}"

        def fail(why: str) -> DeployResult:
            return DeployResult(version, False, previous, why)

        if context is not None:
            cmd = ["build", "-t", ref]
            for key, value in args.items():
                cmd.append(f"--build-arg={key}={value}")
            problem = self._exec(masks, *cmd, context)
            if problem:
                self._event(logging.ERROR, "build", version, f"build failed: {problem}")
                return fail(problem)
            self._event(logging.INFO, "build", version, f"built {ref}")

        if previous is not None:
            problem = self._exec(masks, "stop", self.container_name(previous))
            if problem:
                self._event(logging.ERROR, "stop", version, problem)
                self._rollback(masks, version, previous, problem)
                return fail(problem)
            self._event(logging.INFO, "stop", version, f"stopped {previous}")

        cmd = ["run", "-d", f"--name={self.container_name(version)}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
        for key, value in self._labels.items():
            cmd += ["-l", f"{key}={value}"]
        problem = self._exec(masks, *cmd, ref)
        if problem:
            self._event(logging.ERROR, "run", version, problem)
            self._rollback(masks, version, previous, problem)
            return fail(problem)
        self._event(logging.INFO, "run", version, f"running {self.container_name(version)}")

        url = f"http://127.0.0.1:{self.port}/health"
        ok = wait_until_healthy(url, health_check=self._health_check, policy=self._policy,
                                sleep=self._sleep, clock=self._clock)
        if not ok:
            problem = f"{version} never answered 200 on {url} within the retry policy"
            self._event(logging.WARNING, "health", version, problem)
            self._rollback(masks, version, previous, problem)
            return fail(problem)
        self._event(logging.INFO, "health", version, f"{version} healthy")

        if previous is not None:
            problem = self._exec(masks, "rm", "-f", self.container_name(previous))
            if problem:
                self._event(logging.WARNING, "cleanup", version, f"{previous} left behind: {problem}")
        self._serving = version
        self._event(logging.INFO, "promote", version, f"{version} promoted")
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
