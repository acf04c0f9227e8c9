"""Deploy automation: object style — http.client probe, delay generator, undo stack for rollback."""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import singledispatch
from urllib.parse import urlsplit

CONTAINER_PORT = 8000


def _finite_positive(x) -> bool:
    try:
        return 0 < x and math.isfinite(x)
    except TypeError:
        return False


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not _finite_positive(timeout):
        raise ValueError("timeout must be finite and positive")
    args = [str(a) for a in argv]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(args, timeout, output=exc.output, stderr=exc.stderr) from None
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
        parts = urlsplit(url)
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout)
        elif parts.scheme == "http":
            conn = _DeadlineHTTPConnection(parts.hostname, parts.port, timeout=timeout)
        else:
            return False
        try:
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            conn.request("GET", target)
            resp = conn.getresponse()
            resp.read()
            return resp.status == 200
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError):
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
            raise ValueError("NaN in policy")
        checks = [
            (self.max_attempts >= 1, "max_attempts"),
            (self.initial_delay_s > 0, "initial_delay_s"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s"),
            (self.deadline_s > 0, "deadline_s"),
            (self.probe_timeout_s > 0, "probe_timeout_s"),
        ]
        bad = [name for ok, name in checks if not ok]
        if bad:
            raise ValueError(f"invalid policy fields: {bad}")

    def delays(self):
        """The wait after each failed probe: doubling from initial_delay_s, then max_delay_s forever."""
        d = self.initial_delay_s
        while d < self.max_delay_s:
            yield d
            d *= 2
        yield from itertools.repeat(self.max_delay_s)


def wait_until_healthy(url, *, health_check=None, policy=None, sleep=time.sleep, clock=time.monotonic):
    health_check = health_check or http_health_check
    policy = RetryPolicy() if policy is None else policy
    start = clock()
    end = start + policy.deadline_s
    delays = policy.delays()
    attempts = 0
    while True:
        remaining = end - clock()
        if remaining <= 0:
            return False
        attempts += 1
        if health_check(url, policy.probe_timeout_s if policy.probe_timeout_s < remaining else remaining):
            return True
        if attempts >= policy.max_attempts:
            return False
        pause = next(delays)
        if clock() + pause >= end:
            return False
        sleep(pause)


_RESERVED = frozenset(logging.LogRecord("x", 0, "x", 0, "x", (), None).__dict__) | {"message", "asctime"}


@singledispatch
def _jsonable(value):
    return value


@_jsonable.register
def _(value: float):
    return value if math.isfinite(value) else str(value)


@_jsonable.register
def _(value: dict):
    def key(k):
        if isinstance(k, str) or k is None or isinstance(k, bool):
            return k
        if isinstance(k, int):
            return k
        if isinstance(k, float) and math.isfinite(k):
            return k
        return str(k)
    return {key(k): _jsonable(v) for k, v in value.items()}


@_jsonable.register(list)
@_jsonable.register(tuple)
def _(value):
    return [_jsonable(v) for v in value]


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(math.floor(record.created), tz=timezone.utc)
        when = when.replace(microsecond=math.floor((record.created - math.floor(record.created)) * 1_000_000))
        ts = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
        doc = {"ts": ts, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        doc.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
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


_CONTAINER_NAME = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z", re.ASCII)
_TAG = re.compile(r"\A[\w][\w.-]{0,127}\Z", re.ASCII)
_REPO = re.compile(r"\A[^\s:/]+(:[0-9]+(?=/))?(/[^\s:/]+)*\Z", re.ASCII)


class CommandFailed(RuntimeError):
    pass


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None):
        if not (isinstance(name, str) and _CONTAINER_NAME.match(name)):
            raise ValueError(f"bad container name {name!r}")
        if not isinstance(port, int) or port not in range(1, 65536):
            raise ValueError(f"bad port {port!r}")
        if not _finite_positive(command_timeout_s):
            raise ValueError(f"bad command_timeout_s {command_timeout_s!r}")
        self.name = name
        self.port = port
        self._runner = runner
        self._probe = health_check
        self._policy = policy
        self._sleep = sleep
        self._clock = clock
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

    def _event(self, level, step, version, text):
        self._log.log(level, text, extra={"step": step, "version": version})

    def _run(self, *args):
        argv = [self._docker_bin, *args]
        try:
            res = self._runner(argv, self._timeout)
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"`docker {args[0]}` timed out") from None
        except OSError as exc:
            raise CommandFailed(f"`docker {args[0]}` could not run: {exc}") from None
        if res.returncode:
            lines = (res.stderr or "").strip().splitlines()
            raise CommandFailed(f"`docker {args[0]}` failed ({res.returncode}): " + " | ".join(lines[-5:]))
        return res

    def _validate(self, image, version):
        if not isinstance(version, str) or not _TAG.match(version):
            raise ValueError(f"bad version {version!r}")
        if not isinstance(image, str) or not _REPO.match(image):
            raise ValueError(f"bad image {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"version {version} is already serving")

    def deploy(self, image, version, *, context=None, build_args=None):
        self._validate(image, version)
        previous = self._serving
        tag = f"{image}:{version}"
        if context is not None:
            argv = ["build", "-t", tag]
            for key in (build_args or {}):
                argv.append(f"--build-arg={key}={build_args[key]}")
            argv.append(str(context))
            try:
                self._run(*argv)
            except CommandFailed as exc:
                why = str(exc)
                why = _hide_all(why, (build_args or {}).values())
                self._event(logging.ERROR, "build", version, why)
                return DeployResult(version, False, previous, why)
            self._event(logging.INFO, "build", version, f"built {tag}")

        undo: list[tuple[str, Callable[[], object]]] = []
        try:
            if previous is not None:
                old = self.container_name(previous)
                undo.append(("start", lambda: self._run("start", old)))
                try:
                    self._run("stop", old)
                finally:
                    self._event(logging.INFO, "stop", version, f"stop {old}")
            new = self.container_name(version)
            undo.append(("rm", lambda: self._run("rm", "-f", new)))
            run = ["run", "-d", f"--name={new}", f"-p=127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            run += [f"--label={k}={v}" for k, v in self._labels.items()]
            run.append(tag)
            try:
                self._run(*run)
            except CommandFailed as exc:
                self._event(logging.ERROR, "run", version, str(exc))
                raise
            self._event(logging.INFO, "run", version, f"running {new}")
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._event(logging.INFO if ok else logging.WARNING, "health", version, f"healthy={ok}")
            if not ok:
                raise CommandFailed(f"{new} did not become healthy")
        except CommandFailed as exc:
            self._event(logging.WARNING, "rollback", version, f"rolling back: {exc}")
            for what, action in reversed(undo):
                try:
                    action()
                except CommandFailed as err:
                    self._event(logging.ERROR, "rollback", version, f"rollback {what} failed: {err}")
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._run("rm", "-f", self.container_name(previous))
            except CommandFailed as exc:
                self._event(logging.WARNING, "cleanup", version, f"left {previous} behind: {exc}")
        self._serving = version
        self._event(logging.INFO, "promote", version, f"{version} serves")
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
