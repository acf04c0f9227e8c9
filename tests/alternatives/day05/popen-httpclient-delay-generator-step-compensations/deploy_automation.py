"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back.

This version drives the deploy as a list of steps, each registering its compensation
before it runs (a small saga): a failure unwinds the compensations newest first.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import string
import subprocess
import time
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import singledispatch
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_timeout(timeout) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError(f"timeout must be a number, got {timeout!r}")
    if not (0 < timeout < math.inf):
        raise ValueError(f"timeout must be finite and positive, got {timeout!r}")


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    _check_timeout(timeout)
    args = [str(a) for a in argv]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
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
            raise ValueError("a retry policy field is NaN")
        rules = [
            (self.max_attempts >= 1, "max_attempts must be >= 1"),
            (self.initial_delay_s > 0, "initial_delay_s must be > 0"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s must be >= initial_delay_s"),
            (self.deadline_s > 0, "deadline_s must be > 0"),
            (self.probe_timeout_s > 0, "probe_timeout_s must be > 0"),
        ]
        broken = [message for ok, message in rules if not ok]
        if broken:
            raise ValueError("; ".join(broken))

    def delays(self):
        """The waits after failed probes 1, 2, ...: doubling, then max_delay_s forever."""
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
    if policy is None:
        policy = RetryPolicy()
    deadline = clock() + policy.deadline_s
    delays = policy.delays()
    attempts_left = policy.max_attempts
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        if health_check(url, min(remaining, policy.probe_timeout_s)):
            return True
        attempts_left -= 1
        if attempts_left == 0:
            return False
        wait = next(delays)
        if deadline - clock() < wait:
            return False
        sleep(wait)


@singledispatch
def _jsonable(value):
    return value


@_jsonable.register
def _(value: float):
    return value if math.isfinite(value) else str(value)


@_jsonable.register(list)
@_jsonable.register(tuple)
def _(value):
    return [_jsonable(v) for v in value]


@_jsonable.register
def _(value: dict):
    out = {}
    for k, v in value.items():
        if isinstance(k, float) and not math.isfinite(k):
            k = str(k)
        elif not (k is None or isinstance(k, (str, int, float))):
            k = str(k)
        out[k] = _jsonable(v)
    return out


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(record.created)))
        millis = int((record.created - int(record.created)) * 1000)
        entry = {"ts": f"{seconds}.{millis:03d}Z", "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        known = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
        entry.update({k: v for k, v in record.__dict__.items() if k not in known})
        exc = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        if exc:
            entry["exc_info"] = exc
        return json.dumps(_jsonable(entry), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_ALNUM = set(string.ascii_letters + string.digits)


def _valid_name(name) -> bool:
    return (isinstance(name, str) and name != "" and name[0] in _ALNUM
            and all(c in _ALNUM or c in "_.-" for c in name))


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and (tag[0] in _ALNUM or tag[0] == "_")
            and all(c in _ALNUM or c in "_.-" for c in tag))


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        return False
    return ":" not in image.split("/")[-1]


class CommandFailed(Exception):
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
        if not _valid_name(name):
            raise ValueError(f"not a valid container name: {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or port < 1 or port > 65535:
            raise ValueError(f"port must be 1-65535, got {port!r}")
        _check_timeout(command_timeout_s)
        self.name, self.port = name, port
        self._runner, self._health_check = runner, health_check
        self._policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = dict(labels) if labels else {}
        self._timeout = float(command_timeout_s)
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    # --- plumbing ------------------------------------------------------------

    def _event(self, level: int, step: str, version: str, message: str, *args, **fields) -> None:
        self._log.log(level, message, *args, extra={"step": step, "version": version, **fields})

    def _run(self, *args: str, secrets: Sequence[str] = ()) -> str:
        argv = [self._docker_bin, *args]
        try:
            done = self._runner(argv, self._timeout)
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"`docker {args[0]}` did not finish within {self._timeout:g} s") from None
        except OSError as exc:
            raise CommandFailed(f"`docker {args[0]}` could not be run: {exc}") from None
        if done.returncode:
            err = done.stderr or ""
            err = _hide_all(err, secrets)  # a RUN step may print a build arg's value
            err = err.rstrip()
            tail = err[-1500:] if err else f"(exit status {done.returncode}, nothing on stderr)"
            raise CommandFailed(f"`docker {args[0]}` failed: {tail}")
        return done.stdout or ""

    def _try(self, step: str, version: str, *args: str) -> bool:
        """A command whose failure is worth a warning but must not stop what comes next."""
        try:
            self._run(*args)
            return True
        except CommandFailed as exc:
            self._event(logging.WARNING, step, version, "%s (a container may be left behind)", exc)
            return False

    # --- the deploy ----------------------------------------------------------

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not _valid_repository(image):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"version {version} is already serving")

        previous = self._serving
        ref = f"{image}:{version}"

        if context is not None:
            cmd = ["build", "-t", ref]
            for key, value in (build_args or {}).items():
                cmd.append(f"--build-arg={key}={value}")
            cmd.append(context)
            try:
                self._run(*cmd, secrets=list((build_args or {}).values()))
            except CommandFailed as exc:
                self._event(logging.ERROR, "build", version, "build of %s failed", ref, outcome="failed")
                return DeployResult(version, False, previous, str(exc))
            self._event(logging.INFO, "build", version, "built %s", ref, outcome="ok")

        compensations: list[tuple[str, tuple[str, ...]]] = []
        new = self.container_name(version)
        run_cmd = ["run", "-d", f"--name={new}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
        for key, value in self._labels.items():
            run_cmd += ["-l", f"{key}={value}"]
        run_cmd.append(ref)

        steps: list[tuple[str, tuple[str, ...] | None, tuple[str, ...] | None]] = []
        if previous is not None:
            old = self.container_name(previous)
            steps.append(("stop", ("stop", old), ("start", old)))
        steps.append(("run", tuple(run_cmd), ("rm", "-f", new)))

        try:
            for step, command, undo in steps:
                compensations.append((step, undo))  # a failed command may have done its work anyway
                try:
                    self._run(*command)
                except CommandFailed as exc:
                    self._event(logging.ERROR, step, version, "%s failed: %s", step, exc, outcome="failed")
                    raise
                self._event(logging.INFO, step, version, "%s ok", step, outcome="ok")
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._health_check,
                                         policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._event(logging.INFO if healthy else logging.ERROR, "health", version, "healthy: %s", healthy,
                        outcome="ok" if healthy else "failed")
            if not healthy:
                raise CommandFailed(f"{new} did not answer 200 on /health within the retry policy")
        except CommandFailed as exc:
            self._event(logging.WARNING, "rollback", version, "rolling back %s: %s", version, exc)
            for step, undo in reversed(compensations):
                self._try("rollback", version, *undo)
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            self._try("cleanup", version, "rm", "-f", self.container_name(previous))
        self._serving = version
        self._event(logging.INFO, "promote", version, "%s serves on 127.0.0.1:%d", version, self.port)
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
