"""Deploy a container image safely (answer: urllib opener, hint-style)."""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import logging
import math
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value, what: str) -> float:
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be a finite positive number, got {value!r}")
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")
    return v


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    t = _finite_positive(timeout, "timeout")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=t, check=False)


class _DeadlineSocket(socket.socket):
    deadline = 0.0

    def _arm(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self.settimeout(left)

    def recv_into(self, *a, **k):
        self._arm()
        return super().recv_into(*a, **k)

    def recv(self, *a, **k):
        self._arm()
        return super().recv(*a, **k)

    def sendall(self, *a, **k):
        self._arm()
        return super().sendall(*a, **k)


def _deadline_connection(deadline: float):
    class Conn(http.client.HTTPConnection):
        def connect(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("probe deadline reached")
            plain = socket.create_connection((self.host, self.port), left)
            sock = _DeadlineSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
            sock.deadline = deadline
            sock._arm()
            self.sock = sock

    return Conn


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def http_health_check(url: str, timeout: float) -> bool:
    try:
        t = float(timeout)
        if not (t > 0 and math.isfinite(t)):
            return False
        deadline = time.monotonic() + t
        conn_class = _deadline_connection(deadline)

        class Handler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(conn_class, req)

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(), Handler())
        with opener.open(url, timeout=t) as response:
            return response.status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False
    except Exception:
        return False


def _check_nan(value, what):
    try:
        if math.isnan(float(value)):
            raise ValueError(f"{what} is NaN")
    except TypeError:
        raise ValueError(f"{what} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            _check_nan(getattr(self, name), name)
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay_s <= 0:
            raise ValueError("initial_delay_s must be positive")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must be >= initial_delay_s")
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
    policy = RetryPolicy() if policy is None else policy
    deadline = clock() + policy.deadline_s
    attempt = 0
    while attempt < policy.max_attempts:
        attempt += 1
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt >= policy.max_attempts:
            return False
        delay = min(policy.max_delay_s, policy.initial_delay_s * 2 ** min(attempt - 1, 1000))
        if clock() + delay >= deadline:
            return False
        sleep(delay)
    return False


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not (isinstance(k, (str, int, bool)) or k is None) or (isinstance(k, float)):
                k = str(k)
            out[k] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        import numpy  # noqa: F401
    except Exception:  # pragma: no cover
        return value
    return value


def _default(obj):
    try:
        f = float(obj)
    except Exception:
        return str(obj)
    if not math.isfinite(f):
        return str(obj)
    return str(obj)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        whole = math.floor(created)
        ms = int((created - whole) * 1000)
        if ms > 999:
            ms = 999
        stamp = _dt.datetime.fromtimestamp(whole, tz=_dt.timezone.utc).replace(microsecond=ms * 1000)
        entry = {
            "ts": stamp.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(_plain(entry), default=_default, allow_nan=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


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
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"invalid container name {name!r}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"port must be an int, got {port!r}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        self.command_timeout_s = _finite_positive(command_timeout_s, "command_timeout_s")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = RetryPolicy() if policy is None else policy
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = dict(labels or {})
        self._current = current_version
        self.logger = logger if logger is not None else logging.getLogger("deploy_automation")
        self._secrets: list[str] = []

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    # --- helpers -------------------------------------------------------------

    def _hide(self, text) -> str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = "" if text is None else str(text)
        covered = [False] * len(text)
        for secret in self._secrets:
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

    def _log(self, level, step, version, message, **fields):
        extra = {"step": step, "version": version}
        extra.update({k: self._hide(v) for k, v in fields.items()})
        self.logger.log(level, self._hide(message), extra=extra)

    def _docker(self, step, version, *args) -> None:
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            reason = f"docker {args[0]} timed out after {self.command_timeout_s:g}s"
        except OSError as exc:
            reason = f"docker {args[0]} could not start: {exc.strerror or type(exc).__name__}"
        else:
            if done.returncode == 0:
                self._log(logging.INFO, step, version, f"docker {args[0]} ok")
                return
            err = self._hide(done.stderr or "").strip()
            reason = f"docker {args[0]} exited {done.returncode}: {err[-400:]}"
        reason = self._hide(reason)
        self._log(logging.WARNING, step, version, reason)
        raise _StepFailed(reason)

    # --- deploy --------------------------------------------------------------

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not isinstance(version, str) or not _TAG_RE.fullmatch(version) or not version.isascii():
            raise ValueError(f"invalid version tag {version!r}")
        if (not isinstance(image, str) or not image or any(c.isspace() for c in image)
                or ":" in image.rsplit("/", 1)[-1]):
            raise ValueError(f"invalid image repository {image!r}")
        if version == self._current:
            raise ValueError(f"version {version!r} is already serving")
        build_args = dict(build_args or {})
        self._secrets = [v for v in build_args.values() if v]
        tag = f"{image}:{version}"
        previous = self._current
        new_name = self.container_name(version)

        if context is not None:
            argv = ["build", "--tag", tag]
            for key, value in build_args.items():
                argv += ["--build-arg", f"{key}={value}"]
            argv.append(context)
            try:
                self._docker("build", version, *argv)
            except _StepFailed as exc:
                return DeployResult(version, False, previous, f"build failed: {exc}")

        try:
            if previous is not None:
                self._docker("stop", previous, "stop", self.container_name(previous))
            run = ["run", "--detach", "--name", new_name, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                run += ["--label", f"{key}={value}"]
            run.append(tag)
            self._docker("run", version, *run)
            url = f"http://127.0.0.1:{self.port}/health"
            healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                         sleep=self.sleep, clock=self.clock)
            if not healthy:
                reason = self._hide(f"health check of {url} did not pass")
                self._log(logging.WARNING, "health", version, reason)
                raise _StepFailed(reason)
            self._log(logging.INFO, "health", version, "healthy")
        except _StepFailed as exc:
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, str(exc) or "deploy failed")

        if previous is not None:
            try:
                self._docker("cleanup", previous, "rm", "-f", self.container_name(previous))
            except _StepFailed:
                pass
        self._current = version
        self._log(logging.INFO, "promote", version, f"promoted {version}")
        return DeployResult(version, True, version)

    def _roll_back(self, version, previous):
        self._log(logging.WARNING, "rollback", version, f"rolling back {version}")
        try:
            self._docker("remove", version, "rm", "-f", self.container_name(version))
        except _StepFailed:
            pass
        if previous is not None:
            try:
                self._docker("restart", previous, "start", self.container_name(previous))
            except _StepFailed:
                pass
