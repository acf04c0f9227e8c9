"""Alternative B: Popen + communicate, http.client, a generator of delays, a hard-coded set of
reserved record attributes, and a Deployer that keeps a stack of undo actions and rolls
back with `stop --time` then `rm` (no -f), long-form `--opt=value` options."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

CONTAINER_PORT = 8000
QUICK_COMMAND_S = 60.0  # stop/start/rm never need the build's long timeout
STOP_GRACE_S = 10

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not (0 < timeout < float("inf")):
        raise ValueError("timeout must be a finite number > 0")
    args = [str(a) for a in argv]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          text=True, errors="replace") as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()  # not communicate(): a child of the program may still hold the pipes open
            raise subprocess.TimeoutExpired(args, timeout) from None
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


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


def http_health_check(url: str, timeout: float) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        problems = [
            (self.max_attempts >= 1, "max_attempts >= 1"),
            (self.initial_delay_s > 0, "initial_delay_s > 0"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s >= initial_delay_s"),
            (self.deadline_s > 0, "deadline_s > 0"),
            (self.probe_timeout_s > 0, "probe_timeout_s > 0"),
        ]
        broken = [rule for ok, rule in problems if not ok]
        if broken:
            raise ValueError(f"invalid RetryPolicy: need {', '.join(broken)}")

    def delays(self) -> Iterator[float]:
        delay = self.initial_delay_s
        while True:
            yield min(delay, self.max_delay_s)
            delay *= 2


def wait_until_healthy(url, *, health_check=http_health_check, policy=None, sleep=time.sleep, clock=time.monotonic):
    if policy is None:
        policy = RetryPolicy()
    give_up_at = clock() + policy.deadline_s
    delays = policy.delays()
    attempts = 0
    while True:
        remaining = give_up_at - clock()
        if remaining <= 0:
            return False
        attempts += 1
        if health_check(url, policy.probe_timeout_s if policy.probe_timeout_s < remaining else remaining):
            return True
        if attempts >= policy.max_attempts:
            return False
        pause = next(delays)
        if clock() + pause > give_up_at:
            return False
        sleep(pause)


_RESERVED = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "taskName", "message", "asctime",
})


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        entry = dict(ts=stamp, level=record.levelname, logger=record.name, message=record.getMessage())
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = "".join(self.formatException(record.exc_info))
        elif record.exc_text:  # a record rebuilt by a log receiver: the exception arrives as text
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_finite(entry), default=str, ensure_ascii=False, allow_nan=False)


def _finite(obj):
    """Non-finite floats as text (x != x is NaN; an infinity equals itself doubled), containers walked."""
    if isinstance(obj, float) and (obj != obj or obj * 2 == obj != 0):
        return repr(obj)
    if isinstance(obj, dict):
        return {(k if isinstance(k, (str, int, bool)) or k is None else str(k)): _finite(val) for k, val in obj.items()}
    if isinstance(obj, (list, tuple)):
        return list(map(_finite, obj))
    return obj


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class _Failed(RuntimeError):
    pass


_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_CONTAINER_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::\d{1,5})?\Z")


def _is_repository(image: str) -> bool:
    if not isinstance(image, str) or not image or "@" in image:
        return False
    parts = image.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _HOST_RE.match(parts[0]):
            return False
        parts = parts[1:]
    return all(_PATH_COMPONENT_RE.match(p) for p in parts)


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None):
        if not (isinstance(name, str) and _CONTAINER_RE.match(name)):
            raise ValueError(f"bad container name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or port not in range(1, 65536):
            raise ValueError(f"bad port {port!r}")
        if not (0 < command_timeout_s < float("inf")):
            raise ValueError(f"bad command_timeout_s {command_timeout_s!r}")
        self.name, self.port = name, port
        self._runner, self._probe = runner, health_check
        self._policy = policy if policy is not None else RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = dict(labels) if labels else {}
        self._timeout = float(command_timeout_s)
        self._serving = current_version
        self._log = logger if logger is not None else logging.getLogger("deploy_automation")

    @property
    def current_version(self):
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _event(self, level, step, version, message, *args, **more):
        self._log.log(level, message, *args, extra={"step": step, "version": version, **more})

    def _run(self, subcommand: str, *args: str, long: bool = False) -> None:
        timeout = self._timeout if long else min(self._timeout, QUICK_COMMAND_S)
        argv = [self._docker_bin, subcommand, *args]
        try:
            proc = self._runner(argv, timeout)
        except subprocess.TimeoutExpired:
            raise _Failed(f"`docker {subcommand}` gave no answer within {timeout:g} s")
        except OSError as exc:
            raise _Failed(f"`docker {subcommand}` could not be started: {exc}")
        if proc.returncode:
            detail = (proc.stderr or proc.stdout or "").strip().splitlines()
            raise _Failed(f"`docker {subcommand}` failed ({proc.returncode}): {detail[-1] if detail else ''}")

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not (isinstance(version, str) and _TAG_RE.match(version)):
            raise ValueError(f"{version!r} is not a valid image tag")
        if not _is_repository(image):
            raise ValueError(f"{image!r} is not a repository name without a tag")
        old = self._serving
        if old == version:
            raise ValueError(f"version {version} is the one serving")
        tagged = f"{image}:{version}"

        if context is not None:
            argv = [f"--tag={tagged}"]
            argv += [f"--build-arg={k}={v}" for k, v in (build_args or {}).items()]
            self._event(logging.INFO, "build", version, "docker build %s from %s", tagged, context)
            try:
                self._run("build", *argv, str(context), long=True)
            except _Failed as exc:
                self._event(logging.ERROR, "build", version, "build failed: %s", exc)
                return DeployResult(version, False, old, f"build of {tagged} failed: {exc}")

        undo: list[tuple[str, Callable[[], None]]] = []
        new = self.container_name(version)
        try:
            if old is not None:
                # registered before the stop: a stop that fails or times out may have stopped it all the same
                undo.append(("restart previous", lambda: self._run("start", self.container_name(old))))
                self._event(logging.INFO, "stop-previous", version, "stopping %s", self.container_name(old))
                self._run("stop", f"--time={STOP_GRACE_S}", self.container_name(old))
            # registered before the run: a run that times out may still have created the container
            undo.append(("remove new", lambda: self._run("rm", new)))
            undo.append(("stop new", lambda: self._run("stop", "--time", str(STOP_GRACE_S), new)))
            self._event(logging.INFO, "run", version, "starting %s", new)
            self._run("run", "--detach", f"--name={new}",
                      f"--publish=127.0.0.1:{self.port}:{CONTAINER_PORT}",
                      *[f"--label={k}={v}" for k, v in self._labels.items()], tagged)
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._event(logging.INFO if ok else logging.WARNING, "health", version, "healthy: %s", ok, healthy=ok)
            if not ok:
                raise _Failed(f"{new} did not become healthy within the retry policy")
        except _Failed as exc:
            self._event(logging.WARNING, "rollback", version, "rolling back %s: %s", version, exc)
            while undo:
                what, action = undo.pop()
                try:
                    action()
                except _Failed as step_exc:
                    self._event(logging.WARNING, "rollback", version, "%s: %s", what, step_exc)
            return DeployResult(version, False, old, str(exc))

        if old is not None:
            try:
                self._run("rm", self.container_name(old))
            except _Failed as exc:
                self._event(logging.WARNING, "cleanup", version, "could not remove %s: %s", old, exc)
        self._serving = version
        self._event(logging.INFO, "promote", version, "%s now serves on port %d", version, self.port)
        return DeployResult(version, True, version)
