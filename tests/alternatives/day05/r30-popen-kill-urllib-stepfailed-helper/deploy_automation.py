"""Deploy automation: straightforward functional style (subprocess.run, urllib, loop)."""

from __future__ import annotations

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
from datetime import datetime, timezone

CONTAINER_PORT = 8000


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not isinstance(timeout, (int, float)) or not (0 < timeout < math.inf):
        raise ValueError(f"timeout must be a finite positive number, got {timeout!r}")
    with subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                          start_new_session=False) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
            raise subprocess.TimeoutExpired(list(argv), timeout) from None
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


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


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_DeadlineHTTPConnection, req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect, _DeadlineHTTPHandler)


def http_health_check(url: str, timeout: float) -> bool:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False


def _bad(x) -> bool:
    return x != x  # NaN, a NumPy NaN too (not a float instance)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for f in ("max_attempts", "initial_delay_s", "max_delay_s", "deadline_s", "probe_timeout_s"):
            if _bad(getattr(self, f)):
                raise ValueError(f"{f} is NaN")
        if self.max_attempts < 1:
            raise ValueError("max_attempts < 1")
        if self.initial_delay_s <= 0:
            raise ValueError("initial_delay_s <= 0")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s < initial_delay_s")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s <= 0")
        if self.probe_timeout_s <= 0:
            raise ValueError("probe_timeout_s <= 0")


def wait_until_healthy(url, *, health_check=http_health_check, policy=None, sleep=time.sleep, clock=time.monotonic):
    policy = policy or RetryPolicy()
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


def _plain(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        out = {}
        for k, val in v.items():
            if isinstance(k, float) and not math.isfinite(k):
                k = str(k)
            elif not isinstance(k, (str, int, float, bool)) and k is not None:
                k = str(k)
            out[k] = _plain(val)
        return out
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(math.floor(record.created), timezone.utc)
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


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class _StepFailed(Exception):
    pass


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None):
        if not isinstance(name, str) or not name.isascii() or not _NAME.fullmatch(name):
            raise ValueError(f"invalid container name {name!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ValueError(f"invalid port {port!r}")
        if not isinstance(command_timeout_s, (int, float)) or not 0 < command_timeout_s < math.inf:
            raise ValueError(f"invalid command_timeout_s {command_timeout_s!r}")
        self.name, self.port = name, port
        self.runner, self.health_check = runner, health_check
        self.policy = policy or RetryPolicy()
        self.sleep, self.clock = sleep, clock
        self.docker = docker
        self.labels = dict(labels or {})
        self.command_timeout_s = command_timeout_s
        self._current = current_version
        self.logger = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self):
        return self._current

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _log(self, level, step, version, msg, *args):
        self.logger.log(level, msg, *args, extra={"step": step, "version": version})

    def _docker(self, *args, hide=()):
        argv = [self.docker, *args]
        try:
            done = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise _StepFailed(f"docker {args[0]} timed out after {self.command_timeout_s} s") from None
        except OSError as exc:
            raise _StepFailed(f"docker {args[0]} could not start: {exc}") from None
        if done.returncode != 0:
            tail = done.stderr or ""
            tail = _hide_all(tail, hide)  # a RUN step may echo a build arg's value: hide it before the cut
            tail = tail.strip()[-500:]
            raise _StepFailed(f"docker {args[0]} exited {done.returncode}: {tail}")
        return done

    def deploy(self, image, version, *, context=None, build_args=None):
        if not isinstance(version, str) or not version.isascii() or not _TAG.fullmatch(version):
            raise ValueError(f"invalid version {version!r}")
        if not isinstance(image, str) or not image or not image.isascii() or any(c.isspace() for c in image):
            raise ValueError(f"invalid image {image!r}")
        if ":" in image.rsplit("/", 1)[-1]:
            raise ValueError(f"image {image!r} must not carry a tag")
        if version == self._current:
            raise ValueError(f"{version} is already serving")
        previous = self._current
        ref = f"{image}:{version}"
        new = self.container_name(version)
        if context is not None:
            cmd = ["build", "--tag", ref]
            for k, v in (build_args or {}).items():
                cmd += ["--build-arg", f"{k}={v}"]
            cmd.append(context)
            try:
                self._docker(*cmd, hide=sorted(filter(None, (build_args or {}).values()), key=len, reverse=True))
            except _StepFailed as exc:
                reason = str(exc)
                self._log(logging.ERROR, "build", version, "build of %s failed: %s", ref, reason)
                return DeployResult(version, False, previous, reason)
            self._log(logging.INFO, "build", version, "built %s", ref)
        try:
            if previous is not None:
                try:
                    self._docker("stop", self.container_name(previous))
                except _StepFailed as exc:
                    self._log(logging.ERROR, "stop", version, "stopping %s failed: %s", previous, exc)
                    raise
                self._log(logging.INFO, "stop", version, "stopped %s", previous)
            cmd = ["run", "--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for k, v in self.labels.items():
                cmd += ["--label", f"{k}={v}"]
            cmd.append(ref)
            try:
                self._docker(*cmd)
            except _StepFailed as exc:
                self._log(logging.ERROR, "run", version, "run failed: %s", exc)
                raise
            self._log(logging.INFO, "run", version, "started %s", new)
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                         policy=self.policy, sleep=self.sleep, clock=self.clock)
            self._log(logging.INFO if healthy else logging.ERROR, "health", version, "healthy: %s", healthy)
            if not healthy:
                raise _StepFailed(f"{new} never became healthy")
        except _StepFailed as exc:
            self._roll_back(version, previous)
            return DeployResult(version, False, previous, str(exc))
        if previous is not None:
            try:
                self._docker("rm", "--force", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.WARNING, "cleanup", version, "could not remove %s: %s", previous, exc)
        self._current = version
        self._log(logging.INFO, "promote", version, "promoted %s", version)
        return DeployResult(version, True, version)

    def _roll_back(self, version, previous):
        self._log(logging.WARNING, "rollback", version, "rolling back %s", version)
        try:
            self._docker("rm", "--force", self.container_name(version))
        except _StepFailed as exc:
            self._log(logging.WARNING, "rollback", version, "removing %s failed: %s", version, exc)
        if previous is not None:
            try:
                self._docker("start", self.container_name(previous))
            except _StepFailed as exc:
                self._log(logging.ERROR, "rollback", version, "restarting %s failed: %s", previous, exc)


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
