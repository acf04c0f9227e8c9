"""Deploy a container image safely: Popen, http.client, a schedule of waits, an undo stack."""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import string
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import singledispatch

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_ASCII_ALNUM = frozenset(string.ascii_letters + string.digits)


def _positive_finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _positive_finite(timeout):
        raise ValueError(f"timeout {timeout!r} is not a finite positive number")
    args = list(argv)
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()  # not communicate(): a child of the program may still hold the pipes open
            raise
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
    try:
        parts = urllib.parse.urlsplit(url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status == 200
        finally:
            conn.close()
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
        if any(v != v for v in (getattr(self, f.name) for f in fields(self))):
            raise ValueError("a retry policy value is NaN")
        problems = [
            self.max_attempts < 1 and "max_attempts < 1",
            self.initial_delay_s <= 0 and "initial_delay_s <= 0",
            self.max_delay_s < self.initial_delay_s and "max_delay_s < initial_delay_s",
            self.deadline_s <= 0 and "deadline_s <= 0",
            self.probe_timeout_s <= 0 and "probe_timeout_s <= 0",
        ]
        problems = [p for p in problems if p]
        if problems:
            raise ValueError("invalid retry policy: " + ", ".join(problems))

    def delays(self):
        """The wait after failed probe 1, 2, ...: doubling, then the cap forever."""
        delay = self.initial_delay_s
        while delay < self.max_delay_s:
            yield delay
            delay *= 2
        while True:
            yield self.max_delay_s


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    policy = policy or RetryPolicy()
    ends_at = clock() + policy.deadline_s
    waits = policy.delays()
    attempts = 0
    while True:
        now = clock()
        if now >= ends_at:
            return False
        attempts += 1
        if health_check(url, min(policy.probe_timeout_s, ends_at - now)):
            return True
        if attempts >= policy.max_attempts:
            return False
        delay = next(waits)
        if clock() + delay > ends_at:
            return False
        sleep(delay)


_RESERVED = frozenset(logging.LogRecord("x", logging.INFO, "p", 1, "m", (), None).__dict__) | {"message", "asctime"}


@singledispatch
def _jsonable(value):
    return value


@_jsonable.register
def _(value: float):
    return value if math.isfinite(value) else repr(float(value))


@_jsonable.register(list)
@_jsonable.register(tuple)
def _(value):
    return [_jsonable(v) for v in value]


@_jsonable.register
def _(value: dict):
    out = {}
    for key, item in value.items():
        if not (key is None or isinstance(key, (str, int, float, bool))):
            key = str(key)
        elif isinstance(key, float) and not math.isfinite(key):
            key = repr(float(key))
        out[key] = _jsonable(item)
    return out


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(int(record.created), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        when += f".{int(record.created % 1 * 1_000_000):06d}Z"
        extras = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        line = dict(ts=when, level=record.levelname, logger=record.name, message=record.getMessage(), **{})
        line.update(extras)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(_jsonable(line), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


def _valid_name(name) -> bool:
    return (isinstance(name, str) and name != "" and name[0] in _ASCII_ALNUM
            and all(c in _ASCII_ALNUM or c in "_.-" for c in name))


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and (tag[0] in _ASCII_ALNUM or tag[0] == "_")
            and all(c in _ASCII_ALNUM or c in "_.-" for c in tag))


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image or " " in image or "\t" in image or "\n" in image:
        return False
    if any(c.isspace() for c in image):
        return False
    *_, last = image.split("/")
    return bool(last) and ":" not in last and "@" not in image


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
        if not _valid_name(name):
            raise ValueError(f"{name!r} is not a valid container name")
        if not isinstance(port, int) or isinstance(port, bool) or port not in range(1, 65536):
            raise ValueError(f"port {port!r} is outside 1-65535")
        if not _positive_finite(command_timeout_s):
            raise ValueError(f"command_timeout_s {command_timeout_s!r} is not a finite positive number")
        self.name, self.port = name, port
        self._run, self._probe = runner, health_check
        self._policy = policy
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = list((labels or {}).items())
        self._timeout = float(command_timeout_s)
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _call(self, *args: str) -> str | None:
        """None on success, else why it failed."""
        try:
            done = self._run([self._docker_bin, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return f"docker {args[0]}: no answer within {self._timeout:g} s"
        except OSError as exc:
            return f"docker {args[0]}: cannot run {self._docker_bin}: {exc}"
        if done.returncode == 0:
            return None
        tail = (done.stderr or "").strip().splitlines()[-3:]
        return f"docker {args[0]} failed ({done.returncode}): " + " | ".join(tail)

    def _event(self, level: int, step: str, version: str, msg: str, *args) -> None:
        self._log.log(level, msg, *args, extra={"step": step, "version": version})

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"{version!r} is not a valid image tag")
        if not _valid_repository(image):
            raise ValueError(f"{image!r} is not a repository name without a tag")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is already serving")
        previous, ref = self._serving, f"{image}:{version}"

        def failed(why: str) -> DeployResult:
            return DeployResult(version, False, previous, why)

        if context is not None:
            cmd = ["build", "-t", ref]
            for k, v in (build_args or {}).items():
                cmd.append(f"--build-arg={k}={v}")
            why = self._call(*cmd, context)
            if why:  # a failing RUN step may echo a build arg's value: never log or return it
                why = _hide_all(why, (build_args or {}).values())
            self._event(logging.ERROR if why else logging.INFO, "build", version, "build %s: %s", ref, why or "ok")
            if why:
                return failed(why)

        undo: list[tuple[str, ...]] = []
        why = None
        if previous is not None:
            undo.append(("start", self.container_name(previous)))
            why = self._call("stop", self.container_name(previous))
            self._event(logging.ERROR if why else logging.INFO, "stop", version, "stop %s: %s", previous, why or "ok")
        if why is None:
            undo.append(("rm", "-f", self.container_name(version)))
            cmd = ["run", "-d", f"--name={self.container_name(version)}", "-p",
                   f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for k, v in self._labels:
                cmd += ["-l", f"{k}={v}"]
            why = self._call(*cmd, ref)
            self._event(logging.ERROR if why else logging.INFO, "run", version, "run %s: %s", ref, why or "ok")
        if why is None:
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            why = None if ok else f"{ref} never answered 200 on /health"
            self._event(logging.INFO if ok else logging.ERROR, "health", version, "health %s: %s", ref,
                        "ok" if ok else "failed")
        if why is not None:
            self._event(logging.WARNING, "rollback", version, "rolling back %s: %s", version, why)
            for cmd in reversed(undo):
                trouble = self._call(*cmd)
                if trouble:
                    self._event(logging.ERROR, "rollback", version, "rollback step failed: %s", trouble)
            return failed(why)

        if previous is not None:
            trouble = self._call("rm", self.container_name(previous))
            if trouble:
                self._event(logging.WARNING, "cleanup", version, "could not remove %s: %s", previous, trouble)
        self._serving = version
        self._event(logging.INFO, "promote", version, "promoted %s", ref)
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
