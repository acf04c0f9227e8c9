"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back."""

from __future__ import annotations

import http.client
import logging
import math
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value) -> bool:
    if value is None:
        raise TypeError("a limit is required")
    return 0 < value < math.inf


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=timeout, check=False)


def http_health_check(url: str, timeout: float) -> bool:
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        deadline = time.monotonic() + timeout
        conn = cls(parts.hostname, parts.port, timeout=timeout)
    except (ValueError, TypeError):
        return False
    lock = threading.Lock()
    state = {"done": False, "cut": False}

    def cut():
        with lock:
            if state["done"]:
                return
            state["cut"] = True
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        conn.sock.settimeout(left)
        conn.request("GET", target, headers={"Connection": "close"})
        response = conn.getresponse()
        status = response.status
        with lock:
            state["done"] = True
            if state["cut"]:
                return False
        return status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        with lock:
            state["done"] = True
        timer.cancel()
        conn.close()


def _is_nan(value) -> bool:
    try:
        return value != value
    except Exception:  # noqa: BLE001
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            if _is_nan(getattr(self, name)):
                raise ValueError(f"{name} is NaN")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay_s <= 0:
            raise ValueError("initial_delay_s must be positive")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must be at least initial_delay_s")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        if self.probe_timeout_s <= 0:
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
    while True:
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


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_KEY_TYPES = (str, int, bool, type(None))


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, float) and math.isfinite(key):
                pass
            elif not isinstance(key, _KEY_TYPES) or (isinstance(key, int) and not type(key) in (int, bool)):
                key = str(key)
            out[key] = _plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if type(value).__module__ == "numpy":
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            return value
        if not math.isfinite(as_float):
            return str(value)
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json

        whole = math.floor(record.created)
        ms = int((record.created - whole) * 1000)
        ms = min(ms, 999)
        ts = (datetime.fromtimestamp(whole, timezone.utc) + timedelta(milliseconds=ms)).isoformat(
            timespec="milliseconds")
        entry = {"ts": ts, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD:
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


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_REASON_CHARS = 400


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
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"invalid container name {name!r}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"port must be an int, got {port!r}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be a finite positive number, got {command_timeout_s!r}")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy if policy is not None else RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = dict(labels or {})
        self.command_timeout_s = command_timeout_s
        self._current = current_version
        self.logger = logger if logger is not None else logging.getLogger("deploy_automation")
        self._secrets: list[str] = []

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    # --- helpers ---------------------------------------------------------------

    def _hide(self, text) -> str:
        if text is None:
            return ""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        text = str(text)
        return _hide_all(text, self._secrets)

    def _log(self, level, step, version, message, *args):
        self.logger.log(level, message, *args, extra={"step": step, "version": version})

    def _docker(self, step: str, version: str, *args: str):
        """Runs one docker command; raises _StepFailed with a safe reason on any failure."""
        argv = [self.docker, *args]
        what = f"docker {args[0]}"
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired as exc:
            tail = self._hide(exc.stderr or exc.output or "")[-_REASON_CHARS:].strip()
            reason = f"{what} timed out after {self.command_timeout_s:g} s" + (f": {tail}" if tail else "")
            raise _StepFailed(reason) from None
        except OSError as exc:
            raise _StepFailed(self._hide(f"{what} could not start: {exc}")) from None
        if done.returncode != 0:
            tail = self._hide(done.stderr)[-_REASON_CHARS:].strip()
            raise _StepFailed(f"{what} exited {done.returncode}: {tail}")
        return done

    def _roll_back(self, version: str, previous: str | None, reason: str) -> None:
        self._log(logging.WARNING, "rollback", version, "rolling back %s: %s", version, reason)
        try:
            self._docker("rollback", version, "rm", "-f", self.container_name(version))
        except _StepFailed as exc:
            self._log(logging.ERROR, "rollback", version, "could not remove the new container: %s", exc)
        if previous is not None:
            try:
                self._docker("rollback", version, "start", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.ERROR, "rollback", version, "could not restart %s: %s", previous, exc)
            else:
                self._log(logging.WARNING, "rollback", version, "%s serves again", previous)

    # --- deploy ------------------------------------------------------------------

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if (not isinstance(image, str) or not image or any(c.isspace() for c in image)
                or ":" in image.rsplit("/", 1)[-1]):
            raise ValueError(f"invalid image {image!r}: a repository name without a tag")
        if version == self._current:
            raise ValueError(f"version {version} is already serving")
        build_args = dict(build_args or {})
        self._secrets = [str(v) for v in build_args.values() if str(v)]
        previous = self._current
        tag = f"{image}:{version}"

        if context is not None:
            args = ["build", "--tag", tag]
            for key, value in build_args.items():
                args += ["--build-arg", f"{key}={value}"]
            args.append(context)
            try:
                self._docker("build", version, *args)
            except _StepFailed as exc:
                self._log(logging.ERROR, "build", version, "build of %s failed: %s", version, exc)
                return DeployResult(version, False, previous, f"build failed: {exc}")
            self._log(logging.INFO, "build", version, "built %s (build args: %s)", tag, ", ".join(build_args))

        try:
            if previous is not None:
                try:
                    self._docker("stop", version, "stop", self.container_name(previous))
                except _StepFailed as exc:
                    self._log(logging.ERROR, "stop", version, "stopping %s failed: %s", previous, exc)
                    raise
                self._log(logging.INFO, "stop", version, "stopped %s", previous)
            run = ["run", "--detach", "--name", self.container_name(version),
                   "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["--label", f"{key}={value}"]
            run.append(tag)
            try:
                self._docker("run", version, *run)
            except _StepFailed as exc:
                self._log(logging.ERROR, "run", version, "running %s failed: %s", version, exc)
                raise
            self._log(logging.INFO, "run", version, "started %s", self.container_name(version))
            url = f"http://127.0.0.1:{self.port}/health"
            healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                         sleep=self.sleep, clock=self.clock)
            if not healthy:
                self._log(logging.ERROR, "health", version, "%s never became healthy at %s", version, url)
                raise _StepFailed(f"{version} did not become healthy at {url}")
            self._log(logging.INFO, "health", version, "%s is healthy", version)
        except _StepFailed as exc:
            reason = str(exc)
            self._roll_back(version, previous, reason)
            return DeployResult(version, False, previous, reason)

        if previous is not None:
            try:
                self._docker("cleanup", version, "rm", "-f", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.WARNING, "cleanup", version, "could not remove %s (left behind): %s", previous, exc)
        self._current = version
        self._log(logging.INFO, "promote", version, "promoted %s", version)
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
