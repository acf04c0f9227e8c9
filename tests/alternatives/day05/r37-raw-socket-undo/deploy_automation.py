"""Deploy a container image safely (blind answer B: Popen + process group, raw-socket probe, undo stack)."""

from __future__ import annotations

import json
import logging
import math
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


def _is_finite_positive(x) -> bool:
    try:
        return bool(x > 0) and bool(x < float("inf"))
    except TypeError:
        return False


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _is_finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number of seconds, got {timeout!r}")
    args = [str(a) for a in argv]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(args, timeout) from None
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


_STATUS = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})(?: |\r\n)")


def http_health_check(url: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    try:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        request = (f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n"
                   f"User-Agent: day05-probe\r\n\r\n").encode("ascii")
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as conn:
            conn.settimeout(max(end - time.monotonic(), 0.001))
            conn.sendall(request)
            received = b""
            while b"\r\n\r\n" not in received:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                conn.settimeout(left)
                chunk = conn.recv(4096)
                if not chunk:
                    return False
                received += chunk
                if len(received) > 65536:
                    return False
        match = _STATUS.match(received)
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
        problems = [f.name for f in fields(self) if getattr(self, f.name) != getattr(self, f.name)]
        if problems:
            raise ValueError(f"NaN in {problems}")
        if not self.max_attempts >= 1:
            raise ValueError("max_attempts < 1")
        if not self.initial_delay_s > 0:
            raise ValueError("initial_delay_s <= 0")
        if not self.max_delay_s >= self.initial_delay_s:
            raise ValueError("max_delay_s < initial_delay_s")
        if not self.deadline_s > 0:
            raise ValueError("deadline_s <= 0")
        if not self.probe_timeout_s > 0:
            raise ValueError("probe_timeout_s <= 0")


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
    end = clock() + policy.deadline_s
    delay = policy.initial_delay_s
    attempts = 0
    while True:
        now = clock()
        if now >= end:
            return False
        attempts += 1
        if health_check(url, min(policy.probe_timeout_s, end - now)):
            return True
        if attempts >= policy.max_attempts:
            return False
        if clock() + delay > end:
            return False
        sleep(delay)
        delay = min(delay * 2, policy.max_delay_s)


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _clean(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if isinstance(k, float) and not math.isfinite(k):
                k = repr(k)
            elif not (k is None or type(k) in (str, int, float, bool) or isinstance(k, (str, int, float))):
                k = str(k)
            out[k] = _clean(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        millis = int((record.created - math.floor(record.created)) * 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(math.floor(record.created)))
        line = {"ts": f"{stamp}.{millis:03d}Z", "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        line.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED)
        exc = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        if exc:
            line["exc_info"] = exc
        return json.dumps(_clean(line), default=str, allow_nan=False, ensure_ascii=True)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
_VERSION_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}\Z")


def _ascii(s) -> bool:
    return isinstance(s, str) and s.isascii()


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
        if not (_ascii(name) and _CONTAINER_NAME.match(name)):
            raise ValueError(f"not a valid container name: {name!r}")
        if not (isinstance(port, int) and 0 < port < 65536):
            raise ValueError(f"not a TCP port: {port!r}")
        if command_timeout_s is None:
            raise TypeError("command_timeout_s=None would mean no limit")
        if not _is_finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be finite and positive: {command_timeout_s!r}")
        self.name, self.port = name, port
        self._runner, self._probe, self._policy = runner, health_check, policy
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = list((labels or {}).items())
        self._timeout = command_timeout_s
        self._serving = current_version
        self._log = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _cmd(self, *args: str, secrets: Sequence[str] = ()) -> str | None:
        """None when the command succeeded, else why it failed (with `secrets` hidden before the output is cut)."""
        try:
            done = self._runner([self._docker_bin, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return f"docker {args[0]}: no answer within {self._timeout:g} s"
        except OSError as exc:
            return f"docker {args[0]}: cannot run {self._docker_bin!r} ({exc.__class__.__name__}: {exc.strerror})"
        if done.returncode == 0:
            return None
        err = done.stderr or ""
        err = _hide_all(err, secrets)  # a failing RUN step may echo a build arg's value
        return f"docker {args[0]} failed with status {done.returncode}: {err[-400:].strip() or '(no output)'}"

    def _step(self, step, version, level, msg, *args):
        self._log.log(level, msg, *args, extra={"step": step, "version": version})

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not (_ascii(version) and _VERSION_TAG.match(version)):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not isinstance(image, str) or image == "" or any(c in image for c in " \t\r\n"):
            raise ValueError(f"not a valid image name: {image!r}")
        last = image.split("/")[-1]
        if ":" in last:
            raise ValueError(f"image {image!r} has a tag; pass the repository and the version separately")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is the version serving")
        old = self._serving
        ref = f"{image}:{version}"

        if context is not None:
            argv = ["build", "-t", ref]
            for k, v in (build_args or {}).items():
                argv.append(f"--build-arg={k}={v}")
            argv.append(context)
            why = self._cmd(*argv, secrets=sorted(filter(None, (build_args or {}).values()), key=len, reverse=True))
            if why:
                self._step("build", version, logging.ERROR, "build failed: %s", why)
                return DeployResult(version, False, old, why)
            self._step("build", version, logging.INFO, "built %s with args %s", ref, list(build_args or ()))

        undo: list[tuple[str, tuple[str, ...]]] = []
        new_name = self.container_name(version)
        why = None
        if old is not None:
            undo.append(("start", ("start", self.container_name(old))))
            why = self._cmd("stop", self.container_name(old))
            self._step("stop", version, logging.ERROR if why else logging.INFO, "stop %s: %s",
                       self.container_name(old), why or "ok")
        if why is None:
            undo.insert(0, ("remove", ("rm", "-f", new_name)))
            argv = ["run", "-d", "--name", new_name, "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for k, v in self._labels:
                argv += ["-l", f"{k}={v}"]
            why = self._cmd(*argv, ref)
            self._step("run", version, logging.ERROR if why else logging.INFO, "run %s: %s", new_name, why or "ok")
        if why is None:
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._step("health", version, logging.INFO if ok else logging.ERROR, "health of %s: %s", new_name,
                       "passed" if ok else "failed")
            if not ok:
                why = f"{new_name} did not become healthy on port {self.port}"
        if why is not None:
            if not undo:
                undo.insert(0, ("remove", ("rm", "-f", new_name)))
            elif undo[0][0] != "remove":
                undo.insert(0, ("remove", ("rm", "-f", new_name)))
            self._step("rollback", version, logging.WARNING, "rolling back %s: %s", version, why)
            for what, argv in undo:
                failed = self._cmd(*argv)
                if failed:
                    self._step("rollback", version, logging.ERROR, "rollback %s failed: %s", what, failed)
            return DeployResult(version, False, old, why)

        if old is not None:
            failed = self._cmd("rm", "-f", self.container_name(old))
            if failed:
                self._step("cleanup", version, logging.WARNING, "old container %s left behind: %s",
                           self.container_name(old), failed)
        self._serving = version
        self._step("promote", version, logging.INFO, "promoted %s", version)
        return DeployResult(version, True, version)


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
