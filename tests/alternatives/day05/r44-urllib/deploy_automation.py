"""Deploy a container image safely (style A: urllib opener, functions + helper methods)."""

from __future__ import annotations

import datetime as _dt
import functools
import http.client
import io
import json
import logging
import math
import operator
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_timeout(timeout, what="timeout"):
    if timeout is None:
        raise ValueError(f"{what} must be a finite positive number, not None")
    value = float(timeout)  # TypeError for nonsense types
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a finite positive number, got {timeout!r}")
    return value


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    t = _check_timeout(timeout)
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                          timeout=t, check=False, shell=False)


class _DeadlineRaw(io.RawIOBase):
    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline

    def readable(self):
        return True

    def readinto(self, b):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        self._sock.settimeout(left)
        return self._sock.recv_into(b)


def _make_connection_class(deadline):
    class _Response(http.client.HTTPResponse):
        def __init__(self, sock, *args, **kwargs):
            super().__init__(sock, *args, **kwargs)
            self.fp = io.BufferedReader(_DeadlineRaw(sock, deadline))

    class _Conn(http.client.HTTPConnection):
        response_class = _Response

    return _Conn


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline):
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        return self.do_open(_make_connection_class(self._deadline), req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def http_health_check(url: str, timeout: float) -> bool:
    try:
        t = float(timeout)
        if not (t > 0 and math.isfinite(t)):
            return False
        deadline = time.monotonic() + t
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(),
                                             _DeadlineHTTPHandler(deadline))
        with opener.open(url, timeout=t) as response:
            return response.status == 200
    except Exception:
        return False


def _is_nan(x) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError, OverflowError):
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
            raise ValueError("max_attempts must be >= 1")
        if self.initial_delay_s <= 0:
            raise ValueError("initial_delay_s must be > 0")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must be >= initial_delay_s")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s must be > 0")
        if self.probe_timeout_s <= 0:
            raise ValueError("probe_timeout_s must be > 0")


def _delay(policy: RetryPolicy, attempt: int) -> float:
    exponent = attempt - 1
    if exponent > 1000:
        return policy.max_delay_s
    return min(policy.max_delay_s, policy.initial_delay_s * 2 ** exponent)


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
    while attempt < policy.max_attempts:
        attempt += 1
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt >= policy.max_attempts:
            return False
        delay = _delay(policy, attempt)
        if clock() + delay >= deadline:
            return False
        sleep(delay)
    return False


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, float):
                key = k if math.isfinite(k) else str(k)
            elif k is None or isinstance(k, (str, int, bool)):
                key = k
            else:
                key = str(k)
            out[key] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _iso_ts(created: float) -> str:
    seconds = math.floor(created)
    millis = int((created - seconds) * 1000)
    if millis > 999:
        millis = 999
    moment = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).replace(microsecond=millis * 1000)
    return moment.isoformat(timespec="milliseconds")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": _iso_ts(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
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


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _valid_image(image) -> bool:
    if not isinstance(image, str) or not image:
        return False
    if any(c.isspace() for c in image):
        return False
    parts = image.split("/")
    if any(p == "" for p in parts):
        return False
    return ":" not in parts[-1] and "@" not in image


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
        if isinstance(port, bool):
            raise ValueError("port must be an integer")
        try:
            port_i = operator.index(port)
        except TypeError:
            raise ValueError(f"port must be an integer, got {port!r}") from None
        if not 1 <= port_i <= 65535:
            raise ValueError(f"port out of range: {port!r}")
        self.command_timeout_s = _check_timeout(command_timeout_s, "command_timeout_s")
        self.name = name
        self.port = port_i
        self.runner = runner
        self.health_check = health_check
        self.policy = policy if policy is not None else RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = dict(labels or {})
        self._current = current_version
        self.logger = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    # --- helpers -------------------------------------------------------------------------
    def _hide(self, text: str, secrets: list[str]) -> str:
        if not text or not secrets:
            return text
        covered = [False] * len(text)
        for secret in secrets:
            start = text.find(secret)
            while start != -1:
                for i in range(start, start + len(secret)):
                    covered[i] = True
                start = text.find(secret, start + 1)
        out = []
        i = 0
        while i < len(text):
            if covered[i]:
                out.append("***")
                while i < len(text) and covered[i]:
                    i += 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _docker(self, step: str, version: str, args: list[str], secrets: list[str]) -> None:
        argv = [self.docker, *args]
        try:
            proc = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s}s") from None
        except OSError as exc:
            msg = self._hide(f"docker {args[0]} could not start: {exc.strerror or exc}", secrets)
            raise _StepFailed(msg) from None
        if proc.returncode != 0:
            stderr = proc.stderr or ""
            if isinstance(stderr, bytes):
                stderr = stderr.decode("utf-8", "replace")
            tail = self._hide(stderr, secrets).strip()[-300:]
            raise _StepFailed(f"docker {args[0]} exited {proc.returncode}: {tail}")

    def _log(self, level: int, step: str, version: str, message: str) -> None:
        self.logger.log(level, message, extra={"step": step, "version": version})

    def _roll_back(self, version: str, previous: str | None, secrets: list[str]) -> None:
        self._log(logging.WARNING, "rollback", version, f"rolling back {version}")
        try:
            self._docker("rollback", version, ["rm", "-f", self.container_name(version)], secrets)
        except _StepFailed as exc:
            self._log(logging.WARNING, "rollback", version, f"rollback: removing the new container failed: {exc}")
        if previous is not None:
            try:
                self._docker("rollback", version, ["start", self.container_name(previous)], secrets)
            except _StepFailed as exc:
                self._log(logging.ERROR, "rollback", version,
                          f"rollback: starting {previous} again failed: {exc}")

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not isinstance(version, str) or not _TAG_RE.fullmatch(version):
            raise ValueError(f"invalid version tag {version!r}")
        if not _valid_image(image):
            raise ValueError(f"invalid image repository {image!r}")
        if version == self._current:
            raise ValueError(f"version {version!r} is already serving")
        build_args = dict(build_args or {})
        secrets = [v for v in build_args.values() if v]
        previous = self._current
        ref = f"{image}:{version}"

        if context is not None:
            args = ["build", "--tag", ref]
            for key, value in build_args.items():
                args += ["--build-arg", f"{key}={value}"]
            args.append(context)
            try:
                self._docker("build", version, args, secrets)
            except _StepFailed as exc:
                reason = str(exc)
                self._log(logging.ERROR, "build", version, f"build of {ref} failed: {reason}")
                return DeployResult(version, False, previous, reason)
            self._log(logging.INFO, "build", version,
                      f"built {ref} (build args: {', '.join(build_args) or 'none'})")

        step = "stop"
        try:
            if previous is not None:
                self._docker("stop", version, ["stop", self.container_name(previous)], secrets)
                self._log(logging.INFO, "stop", version, f"stopped {self.container_name(previous)}")
            step = "run"
            args = ["run", "--detach", "--name", self.container_name(version),
                    "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                args += ["--label", f"{key}={value}"]
            args.append(ref)
            self._docker("run", version, args, secrets)
            self._log(logging.INFO, "run", version, f"started {self.container_name(version)}")
            step = "health"
            url = f"http://127.0.0.1:{self.port}/health"
            healthy = wait_until_healthy(url, health_check=self.health_check, policy=self.policy,
                                         sleep=self.sleep, clock=self.clock)
            if not healthy:
                self._log(logging.WARNING, "health", version, f"{url} never became healthy")
                raise _StepFailed(f"health check of {url} failed within the retry policy")
            self._log(logging.INFO, "health", version, f"{url} is healthy")
        except _StepFailed as exc:
            reason = str(exc)
            if step != "health":
                self._log(logging.ERROR, step, version, f"{step} failed: {reason}")
            self._roll_back(version, previous, secrets)
            return DeployResult(version, False, previous, reason)

        if previous is not None:
            try:
                self._docker("promote", version, ["rm", "-f", self.container_name(previous)], secrets)
            except _StepFailed as exc:
                self._log(logging.WARNING, "cleanup", version,
                          f"could not remove {self.container_name(previous)}, left behind: {exc}")
        self._current = version
        self._log(logging.INFO, "promote", version, f"{version} promoted and serving on port {self.port}")
        return DeployResult(version, True, version)
