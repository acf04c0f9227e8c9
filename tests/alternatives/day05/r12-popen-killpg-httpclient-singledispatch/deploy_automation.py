"""Deploy a container image safely: build, run, wait until healthy, promote, or roll back.

Contract (the tests check exactly this):
- `run_command(argv, timeout)` runs a program without a shell and returns its
  `subprocess.CompletedProcess` (text stdout/stderr captured, a non-zero exit is not an
  exception); past `timeout` seconds the program is killed and `subprocess.TimeoutExpired`
  is raised. A timeout that is not a finite positive number raises ValueError.
- `http_health_check(url, timeout)` is True only for a 200 answer; an error status, a
  refused connection or no answer within `timeout` seconds is False, never an exception.
- `RetryPolicy(max_attempts=6, initial_delay_s=0.5, max_delay_s=4.0, deadline_s=30.0,
  probe_timeout_s=2.0)`; nonsense values (NaN included) raise ValueError.
- `wait_until_healthy(url, *, health_check, policy=None, sleep, clock) -> bool` (None means
  `RetryPolicy()`) probes up to
  `max_attempts` times; after failed probe n it sleeps
  `min(max_delay_s, initial_delay_s * 2 ** (n - 1))`, never after the last attempt. It never
  runs past `deadline_s` of `clock()` time: no wait ends after it (it gives up rather than
  shorten a wait) and each probe's timeout is at most `probe_timeout_s` and at most the time
  left (no time left: no probe).
- `JsonLineFormatter` renders a log record as one JSON object on one line: `ts`, `level`,
  `logger`, `message`, every field passed with `extra=`, and the exception if any. It is
  strict JSON: what JSON cannot encode (a Path, NaN, infinity) is written as a string.
- `Deployer(name, port, *, runner, health_check, policy, sleep, clock, docker, labels,
  command_timeout_s, current_version, logger)`; `deploy(image, version, *, context=None,
  build_args=None) -> DeployResult`; `current_version`; `container_name(version)`.
  See the README for the steps and the rollback rules.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import math
import os
import signal
import socket
import string
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]

_ALNUM = frozenset(string.ascii_letters + string.digits)
_TAG_FIRST = _ALNUM | {"_"}
_TAG_REST = _TAG_FIRST | {".", "-"}
_NAME_REST = _ALNUM | {"_", ".", "-"}


def _is_tag(text) -> bool:
    return (isinstance(text, str) and 1 <= len(text) <= 128 and text[0] in _TAG_FIRST
            and all(c in _TAG_REST for c in text[1:]))


def _is_container_name(text) -> bool:
    return isinstance(text, str) and len(text) >= 1 and text[0] in _ALNUM and all(c in _NAME_REST for c in text)


def _check_timeout(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value) \
            or value <= 0:
        raise ValueError(f"a timeout must be a finite positive number of seconds, got {value!r}")


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
    _check_timeout(timeout)
    args = [str(a) for a in argv]
    with subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # the whole process group: `docker` runs plugins (docker-buildx) that hold our pipes too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(args, timeout, output=out, stderr=err) from None
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
    """A probe answers yes or no; the retry loop decides what a 'no' means."""
    conn = None
    try:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        if conn is not None:
            conn.close()


_RULES = {
    "max_attempts": lambda p: p.max_attempts >= 1,
    "initial_delay_s": lambda p: p.initial_delay_s > 0,
    "max_delay_s": lambda p: p.max_delay_s >= p.initial_delay_s,
    "deadline_s": lambda p: p.deadline_s > 0,
    "probe_timeout_s": lambda p: p.probe_timeout_s > 0,
}


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
            if value != value:  # NaN
                raise ValueError(f"{f.name} is NaN")
        for name, ok in _RULES.items():
            if not ok(self):
                raise ValueError(f"invalid {name}: {getattr(self, name)!r}")


def _delays(policy: RetryPolicy):
    """The waits after failed probes 1, 2, ...: doubling, then stuck at the cap."""
    delay = policy.initial_delay_s
    while True:
        yield delay
        delay = min(policy.max_delay_s, delay * 2)


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Bounded in attempts and in time, so a container that never comes up cannot stall a deploy."""
    if policy is None:
        policy = RetryPolicy()
    give_up_at = clock() + policy.deadline_s
    delays = _delays(policy)
    attempts = 0
    while True:
        remaining = give_up_at - clock()
        if remaining <= 0:
            return False
        attempts += 1
        if health_check(url, min(policy.probe_timeout_s, remaining)):
            return True
        if attempts >= policy.max_attempts:
            return False
        delay = next(delays)
        if clock() + delay >= give_up_at:
            return False
        sleep(delay)


_RECORD_ATTRS = frozenset(logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None).__dict__) | {"message", "asctime"}


@functools.singledispatch
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
    for k, v in value.items():
        if not (k is None or isinstance(k, (str, int, bool))):
            k = str(k)
        out[k] = _jsonable(v)
    return out


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    def format(self, record: logging.LogRecord) -> str:
        millis = int(record.msecs)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{millis:03d}Z"
        entry = {"ts": ts, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(_jsonable(entry), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class Deployer:
    """Replaces the container serving `127.0.0.1:port` with a new version, or leaves the old one serving."""

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
        if not _is_container_name(name):
            raise ValueError(f"{name!r} is not a valid container name")
        if not isinstance(port, int) or port not in range(1, 65536):
            raise ValueError(f"port {port!r} is outside 1-65535")
        _check_timeout(command_timeout_s)
        self.name = name
        self.port = port
        self._runner = runner
        self._health_check = health_check
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._docker = docker
        self._labels = list((labels or {}).items())
        self._timeout = command_timeout_s
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _run(self, step: str, version: str, *args: str, hide: Sequence[str] = ()) -> str | None:
        """Runs one docker command; None when it worked, else why it did not (each value in `hide` as ***)."""
        try:
            done = self._runner([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired:
            problem = f"docker {args[0]} timed out"
        except OSError as exc:
            problem = f"docker {args[0]} could not be started ({exc})"
        else:
            problem = None if done.returncode == 0 else f"docker {args[0]} exited {done.returncode}: {done.stderr}"
            problem = problem and _hide_all(problem, hide)
        self._log.log(logging.WARNING if problem else logging.INFO, problem or f"docker {args[0]} done",
                      extra={"step": step, "version": version})
        return problem

    @staticmethod
    def _bad_image(image) -> bool:
        if not isinstance(image, str) or image == "" or " " in image or "\t" in image or "\n" in image:
            return True
        return ":" in image.split("/")[-1]

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not _is_tag(version):
            raise ValueError(f"{version!r} is not a valid image tag")
        if self._bad_image(image):
            raise ValueError(f"{image!r} is not a repository name without a tag")
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is the version serving")
        old = self._serving
        ref = f"{image}:{version}"

        if context is not None:
            cmd = ["build", "-t", ref]
            cmd += [f"--build-arg={k}={v}" for k, v in (build_args or {}).items()]
            problem = self._run("build", version, *cmd, "--", context, hide=list((build_args or {}).values()))
            if problem:
                return DeployResult(version, False, old, problem)

        problem = self._run("stop", version, "stop", self.container_name(old)) if old else None
        if not problem:
            cmd = ["run", "-d", f"--name={self.container_name(version)}",
                   f"-p=127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self._labels:
                cmd.append(f"--label={key}={value}")
            problem = self._run("run", version, *cmd, ref)
        if not problem:
            url = f"http://127.0.0.1:{self.port}/health"
            ok = wait_until_healthy(url, health_check=self._health_check, policy=self._policy,
                                    sleep=self._sleep, clock=self._clock)
            problem = None if ok else f"{url} never answered 200 within the retry policy"
            self._log.log(logging.INFO if ok else logging.WARNING, "health: %s", "ok" if ok else "failed",
                          extra={"step": "health", "version": version})
        if problem:
            self._log.warning("rolling back %s to %s: %s", version, old, problem,
                              extra={"step": "rollback", "version": version})
            new = self.container_name(version)
            self._run("undo-stop", version, "stop", new)
            self._run("undo-rm", version, "rm", new)
            if old:
                self._run("undo-start", version, "start", self.container_name(old))
            return DeployResult(version, False, old, problem)

        if old:
            self._run("retire", version, "rm", self.container_name(old))
        self._serving = version
        self._log.info("%s promoted", version, extra={"step": "promote", "version": version})
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
