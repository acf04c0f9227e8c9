"""Deploy a container image safely (style: Popen + communicate, http.client probe, while-loop with a
delay generator, a JSONEncoder subclass, a Deployer that collects step outcomes instead of raising)."""

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
from datetime import datetime, timezone
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _bad_number(x) -> bool:
    return isinstance(x, bool) or not isinstance(x, (int, float)) or x != x or x in (math.inf, -math.inf) or x <= 0


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if _bad_number(timeout):
        raise ValueError(f"timeout {timeout!r} is not a finite positive number")
    args = list(argv)
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
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
    try:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
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
        if any(getattr(self, f.name) != getattr(self, f.name) for f in fields(self)):
            raise ValueError("no field of a RetryPolicy may be NaN")
        problems = [
            (self.max_attempts < 1, "max_attempts < 1"),
            (self.initial_delay_s <= 0, "initial_delay_s <= 0"),
            (self.max_delay_s < self.initial_delay_s, "max_delay_s < initial_delay_s"),
            (self.deadline_s <= 0, "deadline_s <= 0"),
            (self.probe_timeout_s <= 0, "probe_timeout_s <= 0"),
        ]
        bad = [why for failed, why in problems if failed]
        if bad:
            raise ValueError(", ".join(bad))

    def delays(self):
        """The waits after failed probes 1, 2, 3, ... (infinite)."""
        delay = self.initial_delay_s
        while True:
            yield delay
            delay = min(self.max_delay_s, delay * 2)


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
    end = clock() + policy.deadline_s
    delays = policy.delays()
    attempts = 0
    while True:
        now = clock()
        if now >= end:
            return False
        attempts += 1
        if health_check(url, min(policy.probe_timeout_s, end - now)):
            return True
        if attempts >= policy.max_attempts:
            return False
        delay = next(delays)
        if clock() + delay >= end:
            return False
        sleep(delay)


_RESERVED = frozenset(logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None).__dict__) | {"message", "asctime"}


class _StrictEncoder(json.JSONEncoder):
    def __init__(self, **kw):
        kw["allow_nan"] = False
        super().__init__(**kw)

    def encode(self, o):
        return super().encode(self._clean(o))

    def _clean(self, o):
        if isinstance(o, float):
            return o if math.isfinite(o) else repr(o)
        if isinstance(o, Mapping):
            return {k if isinstance(k, (str, int, bool)) or k is None else str(k): self._clean(v)
                    for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [self._clean(v) for v in o]
        return o

    def default(self, o):
        return str(o)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = dict(
            ts=datetime.fromtimestamp(record.created // 1, timezone.utc)
            .replace(microsecond=int(record.created % 1 * 1_000_000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
        )
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, cls=_StrictEncoder)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_ALNUM = set(string.ascii_letters + string.digits)
_TAG_CHARS = _ALNUM | set("_.-")
_REPO_LOWER = set(string.ascii_lowercase + string.digits)


def _valid_container_name(name) -> bool:
    return isinstance(name, str) and name != "" and name[0] in _ALNUM and set(name) <= _TAG_CHARS


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and (tag[0] in _ALNUM or tag[0] == "_")
            and set(tag) <= _TAG_CHARS)


def _valid_path_component(part: str) -> bool:
    if not part or part[0] not in _REPO_LOWER or part[-1] not in _REPO_LOWER:
        return False
    return set(part) <= _REPO_LOWER | set("._-")


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image:
        return False
    parts = image.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        host, _, port = parts[0].partition(":")
        if not host or not set(host) <= _ALNUM | set(".-") or (port and not port.isdigit()) or (":" in parts[0] and not port):
            return False
        parts = parts[1:]
    return all(_valid_path_component(p) for p in parts)


@dataclass
class _Outcome:
    ok: bool
    reason: str = ""


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
        if not _valid_container_name(name):
            raise ValueError(f"{name!r} is not a valid container name")
        if not isinstance(port, int) or isinstance(port, bool) or port < 1 or port > 65535:
            raise ValueError(f"port {port!r} is outside 1-65535")
        if _bad_number(command_timeout_s):
            raise ValueError(f"command_timeout_s {command_timeout_s!r} is not a finite positive number")
        self.name, self.port = name, port
        self._runner, self._probe = runner, health_check
        self._policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = dict(labels) if labels else {}
        self._timeout = float(command_timeout_s)
        self._version = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._version

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _step(self, step, version, message, level=logging.INFO):
        self._log.log(level, message, extra={"step": step, "version": version})

    def _cmd(self, *args: str) -> _Outcome:
        try:
            done = self._runner([self._docker_bin, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return _Outcome(False, f"`docker {args[0]}` did not finish within {self._timeout:g} s")
        except OSError as exc:
            return _Outcome(False, f"`docker {args[0]}` could not be started: {exc}")
        if done.returncode:
            return _Outcome(False, f"`docker {args[0]}` exited {done.returncode}: {str(done.stderr).strip()}")
        return _Outcome(True)

    def deploy(self, image: str, version: str, *, context: str | None = None,
               build_args: Mapping[str, str] | None = None) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"{version!r} is not a valid image tag")
        if not _valid_repository(image):
            raise ValueError(f"{image!r} is not a repository name without a tag")
        old = self._version
        if old == version:
            raise ValueError(f"version {version} is the one serving")
        tagged = f"{image}:{version}"

        if context is not None:
            argv = ["build", f"-t={tagged}"]
            argv += [f"--build-arg={k}={v}" for k, v in (build_args or {}).items()]
            outcome = self._cmd(*argv, "--", context)
            outcome.reason = _hide_all(outcome.reason, (build_args or {}).values())  # a RUN step may echo one
            self._step("build", version, f"build {tagged}: {'ok' if outcome.ok else outcome.reason}",
                       logging.INFO if outcome.ok else logging.ERROR)
            if not outcome.ok:
                return DeployResult(version, False, old, f"build failed: {outcome.reason}")

        failure = None
        if old is not None:
            outcome = self._cmd("stop", self.container_name(old))
            self._step("stop", version, f"stop {old}: {'ok' if outcome.ok else outcome.reason}")
            if not outcome.ok:
                failure = f"stopping {old} failed: {outcome.reason}"
        if failure is None:
            argv = ["run", "-d", f"--name={self.container_name(version)}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for k, v in self._labels.items():
                argv += ["-l", f"{k}={v}"]
            outcome = self._cmd(*argv, tagged)
            self._step("run", version, f"run {tagged}: {'ok' if outcome.ok else outcome.reason}")
            if not outcome.ok:
                failure = f"starting {tagged} failed: {outcome.reason}"
        if failure is None:
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                         policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._step("health", version, f"health of {version}: {'ok' if healthy else 'failed'}")
            if not healthy:
                failure = f"{version} did not become healthy"
        if failure is not None:
            self._step("rollback", version, f"rolling back {version}: {failure}", logging.ERROR)
            new_name = self.container_name(version)
            stopped = self._cmd("stop", new_name)
            removed = self._cmd("rm", new_name)
            if not removed.ok:
                self._step("rollback", version, f"rm {new_name}: {stopped.reason} {removed.reason}", logging.WARNING)
            if old is not None:
                started = self._cmd("start", self.container_name(old))
                if not started.ok:
                    self._step("rollback", version, f"could not restart {old}: {started.reason}", logging.CRITICAL)
            return DeployResult(version, False, old, failure)

        if old is not None:
            cleaned = self._cmd("rm", "-f", self.container_name(old))
            self._step("cleanup", version, f"remove {old}: {'ok' if cleaned.ok else cleaned.reason}",
                       logging.INFO if cleaned.ok else logging.WARNING)
        self._version = version
        self._step("promote", version, f"{version} promoted")
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
