"""Deployer: Popen + http.client, while-loop retry state, char-set validation, stop+rm rollback."""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import string
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError("timeout must be finite and > 0")
    argv = [str(a) for a in argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()  # not communicate(): a child of the program may still hold the pipes open
        proc.stdout.close()
        proc.stderr.close()
        raise subprocess.TimeoutExpired(argv, timeout) from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


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
    cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
    conn = None
    try:
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException, ValueError):
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
        if any(v != v for v in astuple(self)):
            raise ValueError("NaN in retry policy")
        checks = {
            "max_attempts": self.max_attempts >= 1,
            "initial_delay_s": self.initial_delay_s > 0,
            "max_delay_s": self.max_delay_s >= self.initial_delay_s,
            "deadline_s": self.deadline_s > 0,
            "probe_timeout_s": self.probe_timeout_s > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid retry policy fields: {bad}")

    def delay_after(self, n: int) -> float:
        return min(self.max_delay_s, self.initial_delay_s * 2 ** min(n - 1, 1000))


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    health_check = health_check or http_health_check
    policy = policy or RetryPolicy()
    start = clock()
    end = start + policy.deadline_s
    attempts = 0
    while attempts < policy.max_attempts:
        now = clock()
        if now >= end:
            break
        attempts += 1
        if health_check(url, min(policy.probe_timeout_s, end - now)):
            return True
        if attempts >= policy.max_attempts:
            break
        pause = policy.delay_after(attempts)
        if clock() + pause >= end:
            break
        sleep(pause)
    return False


_RESERVED = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "taskName", "message", "asctime",
}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out = {"ts": ts, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and k not in out})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a record rebuilt by a log receiver: the exception arrives as text
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(out, default=str, ensure_ascii=False, allow_nan=False)
        except (ValueError, TypeError):  # NaN, infinity or a tuple key somewhere: only those go out as text
            return json.dumps(_strict(out), default=str, ensure_ascii=False, allow_nan=False)


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k if isinstance(k, (str, int, bool)) or k is None else str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_ALNUM = frozenset(string.ascii_letters + string.digits)
_TAG_REST = _ALNUM | frozenset("_.-")


def _valid_tag(v) -> bool:
    return (isinstance(v, str) and 1 <= len(v) <= 128 and (v[0] in _ALNUM or v[0] == "_")
            and all(c in _TAG_REST for c in v))


def _valid_container_name(n) -> bool:
    return isinstance(n, str) and n != "" and n[0] in _ALNUM and all(c in _TAG_REST for c in n)


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        return False
    last = image.split("/")[-1]
    return last != "" and ":" not in last and "@" not in image


class _Failed(Exception):
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
        if not _valid_container_name(name):
            raise ValueError("bad container name")
        if not (isinstance(port, int) and 1 <= port <= 65535):
            raise ValueError("port out of range")
        if not (command_timeout_s > 0 and math.isfinite(command_timeout_s)):
            raise ValueError("command_timeout_s must be finite and positive")
        self.name, self.port = name, port
        self._run = runner
        self._probe = health_check
        self._policy = policy
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = labels or {}
        self._timeout = command_timeout_s
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _step(self, level, step, version, msg, *args):
        self._log.log(level, msg, *args, extra={"step": step, "version": version})

    def _docker(self, sub: str, *args: str, hide=()) -> str:
        argv = [self._docker_bin, sub, *args]
        try:
            done = self._run(argv, self._timeout)
        except subprocess.TimeoutExpired:
            raise _Failed(f"docker {sub} did not finish within {self._timeout:g} s")
        except OSError as exc:
            raise _Failed(f"docker {sub} could not be started: {exc}")
        if done.returncode:
            err = str(done.stderr)
            err = _hide_all(err, hide)  # every character any value covers, in the whole text, before it is cut
            raise _Failed(f"docker {sub} exited {done.returncode}: {err.strip()[-500:]}")
        return done.stdout

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"not a valid image tag: {version!r}")
        if not _valid_repository(image):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if version == self._serving:
            raise ValueError(f"version {version} is already serving")
        old = self._serving
        ref = image + ":" + version
        new_name = self.container_name(version)

        if context is not None:
            argv = ["-t", ref]
            for k in build_args or {}:
                argv.append(f"--build-arg={k}={build_args[k]}")
            self._step(logging.INFO, "build", version, "docker build %s from %s", ref, context)
            hide = [build_args[k] for k in sorted(build_args or {}, key=lambda k: -len(build_args[k])) if build_args[k]]
            try:
                self._docker("build", *argv, "--", context, hide=hide)
            except _Failed as exc:
                why = str(exc)
                self._step(logging.ERROR, "build", version, "build failed: %s", why)
                return DeployResult(version=version, promoted=False, serving_version=old, reason=why)

        reason = None
        try:
            if old:
                self._step(logging.INFO, "stop", version, "stopping %s", self.container_name(old))
                self._docker("stop", self.container_name(old))
            label_opts = [f"-l={k}={v}" for k, v in self._labels.items()]
            self._step(logging.INFO, "run", version, "starting %s", new_name)
            self._docker("run", "-d", f"--name={new_name}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}",
                         *label_opts, ref)
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._step(logging.INFO if ok else logging.WARNING, "health", version, "healthy=%s", ok)
            if not ok:
                reason = f"{new_name} did not become healthy"
        except _Failed as exc:
            reason = str(exc)

        if reason is not None:
            self._step(logging.ERROR, "rollback", version, "rolling back %s: %s", version, reason)
            for sub in ("stop", "rm"):
                try:
                    self._docker(sub, new_name)
                except _Failed as exc:
                    self._step(logging.WARNING, "rollback", version, "%s", exc)
            if old:
                try:
                    self._docker("start", self.container_name(old))
                except _Failed as exc:
                    self._step(logging.CRITICAL, "rollback", version, "previous version not restarted: %s", exc)
            return DeployResult(version, False, old, reason)

        if old:
            try:
                self._docker("rm", self.container_name(old))
            except _Failed as exc:
                self._step(logging.WARNING, "cleanup", version, "%s", exc)
        self._serving = version
        self._step(logging.INFO, "promote", version, "promoted %s", version)
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
