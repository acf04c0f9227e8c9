"""Deployer, classic style: subprocess.run, a urllib opener that refuses redirects, a for-loop with
2 ** n backoff, a walk-and-copy formatter and an undo stack for the rollback."""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
import http.client
import socket

CONTAINER_PORT = 8000


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not (0 < timeout < math.inf):
        raise ValueError("timeout must be finite and positive")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=timeout, check=False)


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


_OPENER = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}), _DeadlineHTTPHandler)  # loopback: never via a proxy


def http_health_check(url: str, timeout: float) -> bool:
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if any(math.isnan(float(v)) for v in astuple(self)):
            raise ValueError("a RetryPolicy field is NaN")
        checks = [
            (self.max_attempts < 1, "max_attempts < 1"),
            (not self.initial_delay_s > 0, "initial_delay_s <= 0"),
            (self.max_delay_s < self.initial_delay_s, "max_delay_s < initial_delay_s"),
            (not self.deadline_s > 0, "deadline_s <= 0"),
            (self.probe_timeout_s <= 0, "probe_timeout_s <= 0"),
        ]
        for bad, why in checks:
            if bad:
                raise ValueError(why)


def wait_until_healthy(url, *, health_check=http_health_check, policy=None, sleep=time.sleep, clock=time.monotonic):
    if policy is None:
        policy = RetryPolicy()
    deadline = clock() + policy.deadline_s
    for attempt in range(1, policy.max_attempts + 1):
        left = deadline - clock()
        if left <= 0:
            break
        if health_check(url, min(policy.probe_timeout_s, left)):
            return True
        if attempt == policy.max_attempts:
            break
        delay = min(policy.max_delay_s, policy.initial_delay_s * 2 ** min(attempt - 1, 1000))
        if clock() + delay >= deadline:
            break
        sleep(delay)
    return False


_BUILTIN = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _jsonable(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return repr(float(value))
    if isinstance(value, Mapping) and isinstance(value, dict):
        return {(_key(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return list(map(_jsonable, value))
    return value


def _key(k):
    if k is None or isinstance(k, (str, bool, int)):
        return k
    if isinstance(k, float) and math.isfinite(k):
        return k
    return str(k)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(int(record.created), timezone.utc).replace(
            microsecond=int((record.created - int(record.created)) * 1e6) // 1000 * 1000)
        doc = dict(ts=created.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", level=record.levelname,
                   logger=record.name, message=record.getMessage())
        doc.update((k, v) for k, v in record.__dict__.items() if k not in _BUILTIN)
        exc = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        if exc:
            doc["exc"] = exc
        return json.dumps(_jsonable(doc), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class StepFailed(RuntimeError):
    pass


_CONTAINER_NAME = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
_IMAGE_TAG = re.compile(r"\A[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}\Z")


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None):
        if not (isinstance(name, str) and name.isascii() and _CONTAINER_NAME.match(name)):
            raise ValueError("bad container name")
        if not (isinstance(port, int) and 0 < port < 65536):
            raise ValueError("bad port")
        if not (0 < command_timeout_s < math.inf):
            raise ValueError("bad command timeout")
        self.name = name
        self.port = port
        self.runner = runner
        self.health_check = health_check
        self.policy = policy
        self.sleep = sleep
        self.clock = clock
        self.docker = docker
        self.labels = labels or {}
        self.command_timeout_s = command_timeout_s
        self._serving = current_version
        self.logger = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self):
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _run(self, *args: str) -> None:
        argv = [self.docker, *args]
        try:
            result = self.runner(argv, self.command_timeout_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"`docker {args[0]}` timed out") from None
        except OSError as err:
            raise StepFailed(f"`docker {args[0]}` failed to start: {err}") from None
        if result.returncode:
            lines = (result.stderr or "").strip().splitlines()
            raise StepFailed(f"`docker {args[0]}` exited with {result.returncode}: " + "\n".join(lines[-5:]))

    def _event(self, level, step, version, msg, *args):
        self.logger.log(level, msg, *args, extra={"step": step, "version": version})

    def deploy(self, image, version, *, context=None, build_args=None):
        if not (isinstance(version, str) and version.isascii() and _IMAGE_TAG.match(version)):
            raise ValueError("version is not a valid tag")
        if not isinstance(image, str) or image == "":
            raise ValueError("bad image")
        if ":" in image.split("/")[-1] or any(ch.isspace() for ch in image):
            raise ValueError("image must not carry a tag")
        if self._serving == version:
            raise ValueError("that version is serving already")
        previous = self._serving
        tagged = image + ":" + version
        new_name = self.container_name(version)

        if context is not None:
            cmd = ["build", "-t", tagged]
            for key in build_args or {}:
                cmd.extend(("--build-arg", key + "=" + build_args[key]))
            cmd.append(context)
            try:
                self._run(*cmd)
            except StepFailed as err:
                reason = str(err)
                reason = _hide_all(reason, (build_args or {}).values())
                self._event(logging.ERROR, "build", version, "build of %s failed: %s", tagged, reason)
                return DeployResult(version, False, previous, reason)
            self._event(logging.INFO, "build", version, "built %s", tagged)

        undo = []  # compensations, run last-in first-out
        step = "stop"
        try:
            if previous is not None:
                undo.append(("start", self.container_name(previous)))
                self._run("stop", self.container_name(previous))
                self._event(logging.INFO, "stop", version, "stopped %s", previous)
            step = "run"
            undo.append(("rm", "-f", new_name))
            cmd = ["run", "-d", "--name", new_name, "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self.labels.items():
                cmd += ["--label", f"{key}={value}"]
            self._run(*cmd, tagged)
            self._event(logging.INFO, "run", version, "running %s", new_name)
            step = "health"
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self.health_check,
                                    policy=self.policy, sleep=self.sleep, clock=self.clock)
            if not ok:
                raise StepFailed("health check never passed")
            self._event(logging.INFO, "health", version, "healthy")
        except StepFailed as err:
            self._event(logging.ERROR, step, version, "%s failed: %s", step, err)
            self._event(logging.WARNING, "rollback", version, "rolling back %s", version)
            for action in reversed(undo):
                try:
                    self._run(*action)
                except StepFailed as problem:
                    self._event(logging.ERROR, "rollback", version, "rollback command failed: %s", problem)
            return DeployResult(version, False, previous, str(err))

        if previous is not None:
            try:
                self._run("rm", self.container_name(previous))
            except StepFailed as problem:
                self._event(logging.WARNING, "cleanup", version, "left %s behind: %s", previous, problem)
        self._serving = version
        self._event(logging.INFO, "promote", version, "promoted %s", version)
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
