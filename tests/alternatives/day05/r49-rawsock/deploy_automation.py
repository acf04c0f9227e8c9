"""Deploy automation, answer B: Popen + process-group kill, raw-socket probe, result-tuple step handling."""

from __future__ import annotations

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
from datetime import datetime, timezone
from typing import NamedTuple
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_limit(value, what):
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{what}: a finite positive number is needed, got {value!r}")
    if not (0 < float(value) < math.inf):  # False for NaN too
        raise ValueError(f"{what}: a finite positive number is needed, got {value!r}")
    return float(value)


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    timeout = _check_limit(timeout, "timeout")
    argv = list(argv)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(argv, timeout, output=exc.output, stderr=exc.stderr) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def http_health_check(url: str, timeout: float) -> bool:
    """A minimal HTTP/1.0 GET on a plain socket, every operation cut to what is left of `timeout`."""
    try:
        timeout = _check_limit(timeout, "timeout")
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        host, port = parts.hostname, parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        deadline = time.monotonic() + timeout
        with socket.create_connection((host, port), timeout=timeout) as sock:
            host_header = f"[{host}]" if ":" in host else host
            if parts.port:
                host_header += f":{port}"
            request = (f"GET {target} HTTP/1.0\r\nHost: {host_header}\r\nConnection: close\r\n"
                       f"User-Agent: deploy-probe\r\n\r\n").encode("latin-1")
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data and b"\n\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0 or len(data) > 65536:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                data += chunk
        status_line = data.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        match = re.fullmatch(r"HTTP/\d\.\d (\d{3})(?: .*)?", status_line)
        return bool(match) and match.group(1) == "200"
    except (OSError, ValueError, TypeError, UnicodeError):
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
            if value != value:  # NaN of any numeric type
                raise ValueError(f"{f.name} must not be NaN")
        checks = [
            (self.max_attempts >= 1, "max_attempts must be >= 1"),
            (self.initial_delay_s > 0, "initial_delay_s must be > 0"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s must be >= initial_delay_s"),
            (self.deadline_s > 0, "deadline_s must be > 0"),
            (self.probe_timeout_s > 0, "probe_timeout_s must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def delay_after(self, n: int) -> float:
        delay = self.initial_delay_s
        for _ in range(n - 1):
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
        if deadline - clock() <= delay:
            return False
        sleep(delay)


_RESERVED = set(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {"message", "asctime"}


def _plain(obj):
    """A copy of obj that json.dumps(allow_nan=False) can write."""
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, numbers.Integral) and isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(float(obj)) if False else str(obj)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if isinstance(k, float) and not math.isfinite(k):
                k = str(k)
            elif not (k is None or isinstance(k, (str, int, float, bool))):
                k = str(k)
            out[k] = _plain(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return str(obj)


class JsonLineFormatter(logging.Formatter):
    def _timestamp(self, created: float) -> str:
        seconds = math.floor(created)
        millis = min(999, math.floor((created - seconds) * 1000))
        base = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{base}.{millis:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and k not in line})
        exception = None
        if record.exc_info:
            exception = self.formatException(record.exc_info)
        elif record.exc_text:
            exception = record.exc_text
        if exception:
            line["exception"] = exception
        return json.dumps(_plain(line), allow_nan=False, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class _Outcome(NamedTuple):
    ok: bool
    detail: str


_CONTAINER_NAME = re.compile(r"(?a:[A-Za-z0-9][\w.-]*)")
_IMAGE_TAG = re.compile(r"(?a:\w[\w.-]{0,127})")


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
        if type(name) is not str or _CONTAINER_NAME.fullmatch(name) is None:
            raise ValueError(f"invalid container name {name!r}")
        if type(port) is not int or not (0 < port < 65536):
            raise ValueError(f"port must be an integer in 1-65535, got {port!r}")
        self._timeout = _check_limit(command_timeout_s, "command_timeout_s")
        self.name, self.port = name, port
        self._runner, self._probe = runner, health_check
        self._policy = RetryPolicy() if policy is None else policy
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = list((labels or {}).items())
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")
        self._redact = lambda text: text

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _make_redactor(self, values):
        secrets = sorted({v for v in values if v}, key=len, reverse=True)
        if not secrets:
            return lambda text: text
        return lambda text: _hide_all(text, secrets, "[hidden]")

    @staticmethod
    def _text(stream) -> str:
        if stream is None:
            return ""
        if isinstance(stream, bytes):
            return stream.decode(errors="replace")
        return str(stream)

    def _exec(self, *args: str) -> _Outcome:
        what = f"docker {args[0]}"
        try:
            done = self._runner([self._docker_bin, *args], self._timeout)
        except subprocess.TimeoutExpired as exc:
            said = self._redact(self._text(exc.stderr) or self._text(exc.output))
            return _Outcome(False, f"{what} did not finish within {self._timeout:g} s {said[-200:]}".rstrip())
        except OSError as exc:
            return _Outcome(False, f"{what} could not be started: {self._redact(str(exc))}")
        if done.returncode == 0:
            return _Outcome(True, "")
        said = self._redact(self._text(done.stderr)).strip() or self._redact(self._text(done.stdout)).strip()
        return _Outcome(False, f"{what} exited with {done.returncode}: {said[-400:]}")

    def _note(self, level, step, version, msg, *args):
        self._log.log(level, msg, *args, extra={"step": step, "version": version})

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if type(version) is not str or _IMAGE_TAG.fullmatch(version) is None:
            raise ValueError(f"version {version!r} is not a valid image tag")
        repo_last = image.split("/")[-1] if isinstance(image, str) else ""
        if not image or not isinstance(image, str) or re.search(r"\s", image) or ":" in repo_last:
            raise ValueError(f"image {image!r} must be a repository name without a tag")
        if version == self._serving:
            raise ValueError(f"{version} is the serving version")
        args = dict(build_args) if build_args else {}
        self._redact = self._make_redactor(args.values())
        old = self._serving
        ref = f"{image}:{version}"

        if context is not None:
            cmd = ["build", "-t", ref]
            for k, v in args.items():
                cmd.append(f"--build-arg={k}={v}")
            cmd.append(context)
            outcome = self._exec(*cmd)
            if not outcome.ok:
                self._note(logging.ERROR, "build", version, "build of %s failed: %s", ref, outcome.detail)
                return DeployResult(version, False, old, outcome.detail)
            self._note(logging.INFO, "build", version, "built %s with build args %s", ref, sorted(args))

        failure = None
        if old is not None:
            outcome = self._exec("stop", self.container_name(old))
            self._note(logging.INFO if outcome.ok else logging.ERROR, "stop", version, "stop %s: %s",
                       self.container_name(old), outcome.detail or "ok")
            if not outcome.ok:
                failure = outcome.detail
        if failure is None:
            cmd = ["run", "-d", "--name", self.container_name(version), "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for k, v in self._labels:
                cmd.append(f"--label={k}={v}")
            cmd.append(ref)
            outcome = self._exec(*cmd)
            self._note(logging.INFO if outcome.ok else logging.ERROR, "run", version, "run %s: %s",
                       self.container_name(version), outcome.detail or "ok")
            if not outcome.ok:
                failure = outcome.detail
        if failure is None:
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                         policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._note(logging.INFO if healthy else logging.ERROR, "health", version, "health: %s",
                       "healthy" if healthy else "never healthy")
            if not healthy:
                failure = f"health check of {self.container_name(version)} failed"
        if failure is not None:
            self._rollback(version, old)
            return DeployResult(version, False, old, failure)

        if old is not None:
            outcome = self._exec("rm", "-f", self.container_name(old))
            if not outcome.ok:
                self._note(logging.WARNING, "remove-previous", version, "%s left behind: %s",
                           self.container_name(old), outcome.detail)
        self._serving = version
        self._note(logging.INFO, "promote", version, "%s now serves on port %d", version, self.port)
        return DeployResult(version, True, version)

    def _rollback(self, version, old):
        self._note(logging.WARNING, "rollback", version, "rolling back to %s", old)
        outcome = self._exec("rm", "-f", self.container_name(version))
        if not outcome.ok:
            self._note(logging.WARNING, "rollback", version, "removing the new container failed: %s", outcome.detail)
        if old is not None:
            outcome = self._exec("start", self.container_name(old))
            if not outcome.ok:
                self._note(logging.ERROR, "rollback", version, "restarting %s failed: %s",
                           self.container_name(old), outcome.detail)


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
