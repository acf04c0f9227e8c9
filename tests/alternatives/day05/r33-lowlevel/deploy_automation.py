"""Deployer, low-level style: Popen + communicate, http.client probe, while-loop retries,
an explicit step table and a _Failed exception."""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import logging
import math
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit
import socket


class _DeadlineSocket(socket.socket):
    """A socket whose every read waits only for what is left of the probe's whole timeout: a server that trickles
    its answer a byte at a time cannot stretch the probe past it (a plain socket timeout bounds each read only)."""

    deadline = math.inf

    def recv_into(self, *args, **kwargs):
        self._cut_timeout()
        return super().recv_into(*args, **kwargs)

    def recv(self, *args, **kwargs):
        self._cut_timeout()
        return super().recv(*args, **kwargs)

    def _cut_timeout(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the probe's timeout ran out")
        self.settimeout(left)


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection that must have its whole answer within `timeout` s of being made."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else math.inf
        deadline = time.monotonic() + timeout

        def connect(address, timeout=None, source_address=None):
            sock = socket.create_connection(address, timeout, source_address)
            bounded = _DeadlineSocket(fileno=sock.detach())
            bounded.deadline = deadline
            bounded.settimeout(timeout)
            return bounded

        self._create_connection = connect

CONTAINER_PORT = 8000


def _finite_positive(x) -> bool:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and v > 0


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
    args = list(argv)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(args, timeout) from None
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def http_health_check(url: str, timeout: float) -> bool:
    conn = None
    try:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request("GET", target)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        if conn is not None:
            conn.close()


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
        if not self.max_attempts >= 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.initial_delay_s > 0:
            raise ValueError("initial_delay_s must be positive")
        if not self.max_delay_s >= self.initial_delay_s:
            raise ValueError("max_delay_s must be at least initial_delay_s")
        if not self.deadline_s > 0:
            raise ValueError("deadline_s must be positive")
        if not self.probe_timeout_s > 0:
            raise ValueError("probe_timeout_s must be positive")


def wait_until_healthy(url, *, health_check=http_health_check, policy=None, sleep=time.sleep, clock=time.monotonic):
    policy = policy if policy is not None else RetryPolicy()
    deadline = clock() + policy.deadline_s
    delay = policy.initial_delay_s
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
        wait = min(policy.max_delay_s, delay)
        if clock() + wait >= deadline:
            return False
        sleep(wait)
        delay = wait * 2


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, float) and not math.isfinite(k):
                k = str(k)
            elif not isinstance(k, (str, int, float, bool)) and k is not None:
                k = str(k)
            out[k] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
            seconds=int(record.created), milliseconds=int(record.msecs))
        entry = {
            "ts": when.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
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


class _Failed(Exception):
    pass


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None):
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"invalid container name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"invalid port {port!r}")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"invalid command_timeout_s {command_timeout_s!r}")
        self.name, self.port = name, port
        self._runner, self._health_check, self._policy = runner, health_check, policy
        self._sleep, self._clock, self._docker = sleep, clock, docker
        self._labels = dict(labels or {})
        self._timeout = float(command_timeout_s)
        self._current = current_version
        self._log = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self):
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _docker_cmd(self, step, version, *args, hide=()):
        argv = [self._docker, *args]
        try:
            done = self._runner(argv, self._timeout)
        except subprocess.TimeoutExpired:
            raise _Failed(f"docker {args[0]} timed out after {self._timeout:g} s") from None
        except OSError as exc:
            raise _Failed(f"docker {args[0]} could not run: {exc}") from None
        if done.returncode != 0:
            err = done.stderr or ""
            err = _hide_all(err, hide)  # a failing RUN step may echo it; hide it before the cut
            tail = err[-2000:].strip()
            raise _Failed(f"docker {args[0]} exited {done.returncode}: {tail}")
        return done

    def _try(self, step, version, *args, level=logging.WARNING):
        try:
            self._docker_cmd(step, version, *args)
            return True
        except _Failed as exc:
            self._log.log(level, "%s failed: %s", step, exc, extra={"step": step, "version": version})
            return False

    @staticmethod
    def _check_image(image):
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            raise ValueError(f"invalid image {image!r}")
        last = image.rsplit("/", 1)[-1]
        if ":" in last or "@" in image or not last:
            raise ValueError(f"image {image!r} must be a repository without a tag")

    def deploy(self, image, version, *, context=None, build_args=None):
        if not isinstance(version, str) or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version {version!r}")
        self._check_image(image)
        if version == self._current:
            raise ValueError(f"{version} is already serving")
        previous = self._current
        ref = f"{image}:{version}"
        new = self.container_name(version)
        log = self._log
        if context is not None:
            argv = ["build", "--tag", ref]
            for k, v in (build_args or {}).items():
                argv += ["--build-arg", f"{k}={v}"]
            argv.append(str(context))
            try:
                self._docker_cmd("build", version, *argv, hide=tuple((build_args or {}).values()))
            except _Failed as exc:
                reason = str(exc)
                log.error("build failed: %s", reason, extra={"step": "build", "version": version})
                return DeployResult(version, False, previous, reason)
            log.info("built %s", ref, extra={"step": "build", "version": version})
        try:
            if previous is not None:
                try:
                    self._docker_cmd("stop", version, "stop", self.container_name(previous))
                except _Failed as exc:
                    log.error("stop failed: %s", exc, extra={"step": "stop", "version": version})
                    raise
                log.info("stopped %s", previous, extra={"step": "stop", "version": version})
            run = ["run", "--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for k, v in self._labels.items():
                run += ["--label", f"{k}={v}"]
            run.append(ref)
            try:
                self._docker_cmd("run", version, *run)
            except _Failed as exc:
                log.error("run failed: %s", exc, extra={"step": "run", "version": version})
                raise
            log.info("started %s", new, extra={"step": "run", "version": version})
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._health_check,
                                         policy=self._policy, sleep=self._sleep, clock=self._clock)
            log.log(logging.INFO if healthy else logging.ERROR, "health %s", "ok" if healthy else "failed",
                    extra={"step": "health", "version": version})
            if not healthy:
                raise _Failed(f"{new} never became healthy within the retry policy")
        except _Failed as exc:
            log.warning("rolling back %s: %s", version, exc, extra={"step": "rollback", "version": version})
            self._try("rollback", version, "rm", "--force", new)
            if previous is not None:
                self._try("rollback", version, "start", self.container_name(previous))
            return DeployResult(version, False, previous, str(exc))
        if previous is not None:
            self._try("cleanup", version, "rm", "--force", self.container_name(previous))
        self._current = version
        log.info("promoted %s", version, extra={"step": "promote", "version": version})
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
