"""Deploy a container image safely (answer: raw-socket probe, Popen runner, interval redaction)."""

from __future__ import annotations

import json
import logging
import math
import numbers
import operator
import os
import re
import selectors
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _is_finite_positive(value) -> bool:
    if value is None:
        raise TypeError("no limit is not a limit")
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"not a number: {value!r}")
    number = float(value)
    return math.isfinite(number) and number > 0


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _is_finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
    timeout = float(timeout)
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()  # SIGKILL at once
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(proc.args, timeout, output=exc.output, stderr=exc.stderr) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(
        proc.args, proc.returncode,
        out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace"),
    )


def _read_head(sock: socket.socket, deadline: float) -> bytes | None:
    """The bytes of the answer's head, or None when it does not arrive whole in time."""
    data = b""
    while True:
        for end in (b"\r\n\r\n", b"\n\n", b"\n\r\n"):
            if end in data:
                return data
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        chunk = sock.recv(4096)
        if not chunk:  # closed cleanly: the head is whatever complete lines came
            return data if data.endswith(b"\n") else None
        data += chunk
        if len(data) > 1 << 20:
            return None


def http_health_check(url: str, timeout: float) -> bool:
    try:
        limit = float(timeout)
        if not (math.isfinite(limit) and limit > 0):
            return False
        deadline = time.monotonic() + limit
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host_header = parts.netloc.rsplit("@", 1)[-1]
        sock = socket.create_connection((parts.hostname, port), timeout=limit)
        try:
            if parts.scheme == "https":
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
            request = (f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: deployer-probe\r\n"
                       f"Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1")
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            sock.sendall(request)
            head = _read_head(sock, deadline)
        finally:
            sock.close()
        if head is None:
            return False
        status_line = head.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        words = status_line.split(None, 2)
        if len(words) < 2 or not re.fullmatch(r"HTTP/\d+\.\d+", words[0]):
            return False
        return words[1] == "200"
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
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                if value != value or math.isnan(float(value)):
                    problems.append(f"{f.name} is NaN")
            except (TypeError, ValueError):
                problems.append(f"{f.name} is not a number")
        if not problems:
            checks = {
                "max_attempts must be >= 1": self.max_attempts >= 1,
                "initial_delay_s must be > 0": self.initial_delay_s > 0,
                "max_delay_s must be >= initial_delay_s": self.max_delay_s >= self.initial_delay_s,
                "deadline_s must be > 0": self.deadline_s > 0,
                "probe_timeout_s must be > 0": self.probe_timeout_s > 0,
            }
            problems = [text for text, ok in checks.items() if not ok]
        if problems:
            raise ValueError("invalid RetryPolicy: " + "; ".join(problems))

    def delays(self):
        """The wait after failed probe 1, 2, ... (capped, never overflowing)."""
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
    waits = policy.delays()
    for attempt in range(1, policy.max_attempts + 1):
        remaining = deadline - clock()
        if remaining <= 0:
            break
        if health_check(url, min(policy.probe_timeout_s, remaining)):
            return True
        if attempt == policy.max_attempts:
            break
        wait = next(waits)
        if clock() + wait >= deadline:
            break
        sleep(wait)
    return False


_BASE_ATTRS = set(logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None).__dict__) | {"message", "asctime"}


def _jsonable(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if isinstance(key, float) or not isinstance(key, (str, int, type(None))):
                key = str(key)
            result[key] = _jsonable(item)
        return result
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (str, int, type(None))):
        return value
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except Exception:
            return str(value)
        if not math.isfinite(number):
            return str(value)
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created // 1)
        millis = min(int((record.created - seconds) * 1000), 999)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
        line = dict(ts=ts, level=record.levelname, logger=record.name, message=record.getMessage())
        line.update({k: v for k, v in record.__dict__.items() if k not in _BASE_ATTRS})
        if record.exc_info and record.exc_info != (None, None, None):
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(_jsonable(line), default=str, allow_nan=False, ensure_ascii=True)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z", re.ASCII)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z", re.ASCII)


def _hide_all(text: str, secrets: Sequence[str]) -> str:
    spans = []
    for secret in secrets:
        for m in re.finditer(f"(?={re.escape(secret)})", text):
            spans.append((m.start(), m.start() + len(secret)))
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


@dataclass
class _Outcome:
    ok: bool
    reason: str = ""


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
            raise ValueError(f"not a container name: {name!r}")
        if isinstance(port, float) or isinstance(port, str):
            raise TypeError(f"port must be an integer: {port!r}")
        port = operator.index(port)
        if port < 1 or port > 65535:
            raise ValueError(f"port must be in 1-65535: {port}")
        if not _is_finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be finite and positive: {command_timeout_s!r}")
        self.name, self.port = name, port
        self._run, self._probe = runner, health_check
        self.policy = policy if policy is not None else RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self.docker = docker
        self.labels = dict(labels) if labels else {}
        self.command_timeout_s = float(command_timeout_s)
        self._serving = current_version
        self.log = logger or logging.getLogger("deploy_automation")
        self._secrets: tuple[str, ...] = ()

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _say(self, level: int, step: str, version: str, text: str) -> None:
        self.log.log(level, _hide_all(text, self._secrets), extra={"step": step, "version": version})

    def _cmd(self, step: str, version: str, *args: str) -> _Outcome:
        what = f"docker {args[0]}"
        try:
            done = self._run([self.docker, *args], self.command_timeout_s)
        except subprocess.TimeoutExpired:
            outcome = _Outcome(False, f"{what} did not finish within {self.command_timeout_s}s")
        except OSError as exc:
            outcome = _Outcome(False, f"{what} could not run ({exc.__class__.__name__})")
        else:
            if done.returncode == 0:
                outcome = _Outcome(True)
            else:
                stderr = done.stderr
                if isinstance(stderr, bytes):
                    stderr = stderr.decode("utf-8", "replace")
                tail = _hide_all((stderr or "").strip(), self._secrets)[-300:]
                outcome = _Outcome(False, f"{what} failed with exit code {done.returncode}: {tail}")
        outcome.reason = _hide_all(outcome.reason, self._secrets)
        if outcome.ok:
            self._say(logging.INFO, step, version, f"{what} succeeded")
        else:
            self._say(logging.ERROR, step, version, outcome.reason)
        return outcome

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not (isinstance(version, str) and _IMAGE_TAG.match(version)):
            raise ValueError(f"not a valid tag: {version!r}")
        if not isinstance(image, str) or image == "" or re.search(r"\s", image):
            raise ValueError(f"not a valid image name: {image!r}")
        last = image.split("/")[-1]
        if ":" in last:
            raise ValueError(f"image must not carry a tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version!r} is already serving")

        args = dict(build_args) if build_args else {}
        self._secrets = tuple(value for value in args.values() if value != "")
        previous = self._serving
        reference = f"{image}:{version}"

        if context is not None:
            build = ["build", "-t", reference]
            for key, value in args.items():
                build.extend(["--build-arg", f"{key}={value}"])
            build.append(str(context))
            outcome = self._cmd("build", version, *build)
            if not outcome.ok:
                return DeployResult(version, False, previous, outcome.reason)
        else:
            self._say(logging.INFO, "build", version, f"no context: using the existing image {reference}")

        failure = self._swap_in(reference, version, previous)
        if failure is not None:
            self._say(logging.WARNING, "rollback", version, f"rolling back {version}: {failure}")
            self._cleanup(version, previous)
            return DeployResult(version, False, previous, failure)

        if previous is not None:
            gone = self._cmd("remove-previous", previous, "rm", "--force", self.container_name(previous))
            if not gone.ok:
                self._say(logging.WARNING, "remove-previous", previous,
                          f"container {self.container_name(previous)} left behind")
        self._serving = version
        self._say(logging.INFO, "promote", version, f"{version} promoted")
        return DeployResult(version, True, version, "")

    def _swap_in(self, reference: str, version: str, previous: str | None) -> str | None:
        if previous is not None:
            stopped = self._cmd("stop", previous, "stop", self.container_name(previous))
            if not stopped.ok:
                return stopped.reason
        run = ["run", "-d", "--name", self.container_name(version), "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
        for key, value in self.labels.items():
            run.extend(["--label", f"{key}={value}"])
        run.append(reference)
        started = self._cmd("run", version, *run)
        if not started.ok:
            return started.reason
        url = f"http://127.0.0.1:{self.port}/health"
        ok = wait_until_healthy(url, health_check=self._probe, policy=self.policy, sleep=self._sleep,
                                clock=self._clock)
        if not ok:
            reason = _hide_all(f"{url} never answered healthy", self._secrets)
            self._say(logging.ERROR, "health", version, reason)
            return reason
        self._say(logging.INFO, "health", version, "healthy")
        return None

    def _cleanup(self, version: str, previous: str | None) -> None:
        self._cmd("discard", version, "rm", "-f", self.container_name(version))
        if previous is not None:
            self._cmd("restore", previous, "start", self.container_name(previous))
