"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back (style A)."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
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
    return 0 < value < math.inf  # NaN compares False; None raises TypeError


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if timeout is None:
        raise TypeError("timeout None means no limit")
    if not _finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=float(timeout),
                          check=False, shell=False)


def http_health_check(url: str, timeout: float) -> bool:
    """Probe in a worker thread; the caller waits at most `timeout` for the whole answer head."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout)
        elif parts.scheme == "http":
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            return False
    except (ValueError, TypeError):
        return False
    outcome: dict[str, bool] = {}

    def probe():
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            outcome["ok"] = response.status == 200
        except (OSError, ValueError, http.client.HTTPException):
            outcome["ok"] = False

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    healthy = (not worker.is_alive()) and outcome.get("ok", False)
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass
    return bool(healthy)


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
        for field_name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            if _is_nan(getattr(self, field_name)):
                raise ValueError(f"{field_name} is NaN")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.initial_delay_s <= 0:
            raise ValueError("initial_delay_s must be > 0")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must be >= initial_delay_s")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s must be > 0")
        if self.probe_timeout_s <= 0:
            raise ValueError("probe_timeout_s must be > 0")


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    policy = RetryPolicy() if policy is None else policy
    deadline = clock() + policy.deadline_s
    for attempt in range(1, policy.max_attempts + 1):
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt == policy.max_attempts:
            return False
        delay = min(policy.max_delay_s, policy.initial_delay_s * 2 ** min(attempt - 1, 1000))
        if clock() + delay >= deadline:
            return False
        sleep(delay)
    return False


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        as_float = float(value)  # NumPy and other number types
    except (TypeError, ValueError, OverflowError):
        return str(value)
    if not math.isfinite(as_float):
        return str(value)
    return str(value)


def _key(key):
    if isinstance(key, str) or key is None or isinstance(key, (bool, int)):
        return key
    if isinstance(key, float) and math.isfinite(key):
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        whole = int(record.created)
        ms = int((record.created - whole) * 1000)
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
        if not isinstance(port, int):
            raise TypeError(f"port must be an int, got {port!r}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        if command_timeout_s is None:
            raise TypeError("command_timeout_s None means no limit")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be finite and positive, got {command_timeout_s!r}")
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

    # --- helpers -----------------------------------------------------------

    def _hide(self, text) -> str:
        if text is None:
            return ""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        text = str(text)
        covered = [False] * len(text)
        for secret in self._secrets:
            if not secret:
                continue
            start = text.find(secret)
            while start != -1:
                for i in range(start, start + len(secret)):
                    covered[i] = True
                start = text.find(secret, start + 1)
        out, i = [], 0
        while i < len(text):
            if covered[i]:
                while i < len(text) and covered[i]:
                    i += 1
                out.append("***")
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _log(self, level, step, version, message, *args):
        self.logger.log(level, self._hide(message % args if args else message), extra={"step": step, "version": version})

    def _docker(self, subcommand: str, *args: str) -> None:
        argv = [self.docker, subcommand, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _StepFailed(f"docker {subcommand} timed out after {self.command_timeout_s:g} s") from None
        except OSError as exc:
            raise _StepFailed(f"docker {subcommand} could not start: {self._hide(exc)}") from None
        if done.returncode != 0:
            err = self._hide(done.stderr or done.stdout or "").strip()
            tail = err[-400:]
            raise _StepFailed(f"docker {subcommand} exited {done.returncode}: {tail}")

    # --- the deploy ----------------------------------------------------------

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if (not isinstance(image, str) or not image or any(c.isspace() for c in image)
                or ":" in image.rsplit("/", 1)[-1]):
            raise ValueError(f"invalid image repository {image!r}")
        if version == self._current:
            raise ValueError(f"version {version} is already serving")
        build_args = dict(build_args or {})
        self._secrets = sorted((v for v in build_args.values() if v), key=len, reverse=True)
        previous = self._current
        tag = f"{image}:{version}"

        if context is not None:
            args = ["--tag", tag]
            for key, value in build_args.items():
                args += ["--build-arg", f"{key}={value}"]
            try:
                self._docker("build", *args, context)
            except _StepFailed as failed:
                reason = self._hide(str(failed))
                self._log(logging.ERROR, "build", version, "build of %s failed: %s", tag, reason)
                return DeployResult(version, False, previous, reason)
            self._log(logging.INFO, "build", version, "built %s (build args: %s)", tag, ", ".join(build_args))

        new = self.container_name(version)
        try:
            if previous is not None:
                try:
                    self._docker("stop", self.container_name(previous))
                except _StepFailed as failed:
                    self._log(logging.ERROR, "stop", previous, "stopping %s failed: %s", previous, failed)
                    raise
                self._log(logging.INFO, "stop", previous, "stopped %s", self.container_name(previous))
            run_args = ["--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run_args += ["--label", f"{key}={value}"]
            try:
                self._docker("run", *run_args, tag)
            except _StepFailed as failed:
                self._log(logging.ERROR, "run", version, "run of %s failed: %s", new, failed)
                raise
            self._log(logging.INFO, "run", version, "started %s", new)
            url = f"http://127.0.0.1:{self.port}/health"
            healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                         sleep=self.sleep, clock=self.clock)
            if not healthy:
                self._log(logging.ERROR, "health", version, "%s never became healthy", new)
                raise _StepFailed(f"{new} never became healthy at {url}")
            self._log(logging.INFO, "health", version, "%s is healthy", new)
        except _StepFailed as failed:
            reason = self._hide(str(failed))
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, reason)

        if previous is not None:
            try:
                self._docker("rm", "--force", self.container_name(previous))
                self._log(logging.INFO, "cleanup", previous, "removed %s", self.container_name(previous))
            except _StepFailed as failed:
                self._log(logging.WARNING, "cleanup", previous, "could not remove %s, left behind: %s",
                          self.container_name(previous), failed)
        self._current = version
        self._log(logging.INFO, "promote", version, "promoted %s", version)
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None) -> None:
        self._log(logging.WARNING, "rollback", version, "rolling back %s", version)
        try:
            self._docker("rm", "--force", self.container_name(version))
        except _StepFailed as failed:
            self._log(logging.WARNING, "rollback", version, "removing %s failed: %s", self.container_name(version),
                      failed)
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
                self._log(logging.WARNING, "rollback", version, "started %s again", self.container_name(previous))
            except _StepFailed as failed:
                self._log(logging.ERROR, "rollback", version, "restarting %s failed: %s",
                          self.container_name(previous), failed)
