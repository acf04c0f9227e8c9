"""Correct answer A: subprocess.run, a urllib probe in a watchdog thread, a StepFailed exception flow."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=float(timeout),
                          check=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def http_health_check(url: str, timeout: float) -> bool:
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with _OPENER.open(url, timeout=timeout) as response:
                outcome.append(response.status == 200)
        except (OSError, ValueError, http.client.HTTPException):
            outcome.append(False)
        except Exception:  # noqa: BLE001 - never an exception
            outcome.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(outcome) and outcome[0] is True


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
            if value != value:
                raise ValueError(f"{f.name} is NaN")
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
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _key(key):
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if key is None or isinstance(key, (str, int, float, bool)):
        return key
    return str(key)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(math.trunc(record.created), timezone.utc)
            .replace(microsecond=int(record.msecs) * 1000).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
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


_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class StepFailed(Exception):
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
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port out of range: {port!r}")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s must be finite and positive, got {command_timeout_s!r}")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = dict(labels or {})
        self.command_timeout_s = command_timeout_s
        self._current = current_version
        self.logger = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _docker(self, *args: str, hide: tuple[str, ...] = ()) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            raise StepFailed(f"docker {args[0]} could not run: {exc}") from None
        if done.returncode != 0:
            tail = done.stderr or ""
            tail = _hide_all(tail, hide)  # before the cut, so no part of a value is left
            tail = tail.strip()[-500:]
            raise StepFailed(f"docker {args[0]} exited {done.returncode}: {tail}")

    def _step(self, step: str, version: str, message: str, level: int = logging.INFO) -> None:
        self.logger.log(level, message, extra={"step": step, "version": version})

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"invalid image {image!r}")
        if ":" in image.rsplit("/", 1)[-1]:
            raise ValueError(f"image {image!r} should not carry a tag")
        if version == self._current:
            raise ValueError(f"{version} is already serving")
        previous = self._current
        ref = f"{image}:{version}"
        if context is not None:
            args = ["build", "--tag", ref]
            for key, value in (build_args or {}).items():
                args += ["--build-arg", f"{key}={value}"]
            hide = tuple(sorted((value for value in (build_args or {}).values() if value), key=len, reverse=True))
            try:
                self._docker(*args, context, hide=hide)
            except StepFailed as exc:
                reason = str(exc)
                self._step("build", version, f"build of {ref} failed: {reason}", logging.ERROR)
                return DeployResult(version, False, previous, reason)
            self._step("build", version, f"built {ref}")
        new = self.container_name(version)
        try:
            if previous is not None:
                try:
                    self._docker("stop", self.container_name(previous))
                except StepFailed as exc:
                    self._step("stop", version, f"stopping {previous} failed: {exc}", logging.ERROR)
                    raise
                self._step("stop", version, f"stopped {previous}")
            args = ["run", "--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                args += ["--label", f"{key}={value}"]
            try:
                self._docker(*args, ref)
            except StepFailed as exc:
                self._step("run", version, f"running {new} failed: {exc}", logging.ERROR)
                raise
            self._step("run", version, f"running {new}")
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            self._step("health", version, f"{new} healthy: {healthy}", logging.INFO if healthy else logging.ERROR)
            if not healthy:
                raise StepFailed(f"{new} never became healthy")
        except StepFailed as exc:
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, str(exc))
        if previous is not None:
            try:
                self._docker("rm", "--force", self.container_name(previous))
            except StepFailed as exc:
                self._step("cleanup", version, f"could not remove {previous}: {exc}", logging.WARNING)
        self._current = version
        self._step("promote", version, f"{version} promoted")
        return DeployResult(version, True, version)

    def _roll_back(self, version: str, previous: str | None) -> None:
        self._step("rollback", version, f"rolling back {version}", logging.WARNING)
        try:
            self._docker("rm", "--force", self.container_name(version))
        except StepFailed as exc:
            self._step("rollback", version, f"could not remove {version}: {exc}", logging.ERROR)
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except StepFailed as exc:
                self._step("rollback", version, f"could not restart {previous}: {exc}", logging.ERROR)


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
