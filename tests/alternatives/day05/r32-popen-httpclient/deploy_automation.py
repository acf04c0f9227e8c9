"""Deploy automation: Popen + http.client, state-carrying backoff, an undo stack for rollback."""

from __future__ import annotations

import http.client
import json
import logging
import math
import numbers
import re
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if not (isinstance(timeout, numbers.Real) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"bad timeout {timeout!r}")
    argv = list(argv)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
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
        raise subprocess.TimeoutExpired(argv, timeout) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
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
    conn = None
    try:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn = _DeadlineHTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
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
        values = (self.max_attempts, self.initial_delay_s, self.max_delay_s, self.deadline_s, self.probe_timeout_s)
        problems = [
            any(v != v for v in values) and "NaN",
            not self.max_attempts >= 1 and "max_attempts",
            not self.initial_delay_s > 0 and "initial_delay_s",
            not self.max_delay_s >= self.initial_delay_s and "max_delay_s",
            not self.deadline_s > 0 and "deadline_s",
            not self.probe_timeout_s > 0 and "probe_timeout_s",
        ]
        bad = [p for p in problems if p]
        if bad:
            raise ValueError(f"invalid retry policy: {', '.join(bad)}")


def wait_until_healthy(url, *, health_check=http_health_check, policy=None, sleep=time.sleep,
                       clock=time.monotonic) -> bool:
    p = RetryPolicy() if policy is None else policy
    deadline = clock() + p.deadline_s
    delay = p.initial_delay_s
    remaining = p.max_attempts
    while True:
        left = deadline - clock()
        if left <= 0:
            return False
        if health_check(url, min(p.probe_timeout_s, left)):
            return True
        remaining -= 1
        if remaining <= 0:
            return False
        if clock() + delay > deadline:
            return False
        sleep(delay)
        delay = min(p.max_delay_s, delay * 2)


_RESERVED = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "taskName", "message", "asctime",
})


def _jsonable(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, Mapping):
        return {(k if isinstance(k, (str, int, type(None))) and not isinstance(k, float) else str(k)): _jsonable(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return list(map(_jsonable, value))
    return value


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        whole = int(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        millis = int((record.created - whole) * 1000)
        entry = {"ts": f"{stamp}.{millis:03d}Z", "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
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


_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", re.ASCII)
_IMAGE_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None) -> None:
        if not (isinstance(name, str) and _CONTAINER_NAME.fullmatch(name)):
            raise ValueError(f"bad container name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or port < 1 or port > 65535:
            raise ValueError(f"bad port {port!r}")
        t = command_timeout_s
        if not (isinstance(t, numbers.Real) and math.isfinite(t) and t > 0):
            raise ValueError(f"bad command_timeout_s {t!r}")
        self.name, self.port = name, port
        self._run_cmd, self._probe = runner, health_check
        self._policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker, self._labels, self._timeout = docker, dict(labels or {}), float(t)
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self):
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _cmd(self, *args) -> tuple[bool, str]:
        """(ok, what went wrong)."""
        try:
            done = self._run_cmd([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return False, f"`docker {args[0]}` did not finish within {self._timeout:g} s"
        except OSError as exc:
            return False, f"`docker {args[0]}` could not be run: {exc}"
        if done.returncode == 0:
            return True, ""
        lines = (done.stderr or "").rstrip().splitlines()
        return False, f"`docker {args[0]}` failed ({done.returncode}): " + "\n".join(lines[-5:])

    def _step(self, step, version, ok, msg, level=logging.INFO):
        self._log.log(level if ok else max(level, logging.ERROR), "%s %s: %s", step, version, msg or "ok",
                      extra={"step": step, "version": version})

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not isinstance(version, str) or not _IMAGE_TAG.fullmatch(version):
            raise ValueError(f"bad version {version!r}")
        if (not isinstance(image, str) or not image or re.search(r"\s", image)
                or re.search(r":[^/]*$", image)):
            raise ValueError(f"bad image {image!r} (a repository without a tag)")
        if version == self._serving:
            raise ValueError(f"{version} is serving already")
        old = self._serving
        tagged = f"{image}:{version}"
        if context is not None:
            cmd = ["build", "-t", tagged]
            for k, v in (build_args or {}).items():
                cmd.append(f"--build-arg={k}={v}")
            ok, why = self._cmd(*cmd, context)
            why = _hide_all(why, (build_args or {}).values())  # a failing RUN step may print a build arg's value
            self._step("build", version, ok, why)
            if not ok:
                return DeployResult(version, False, old, why)

        undo: list[tuple[str, ...]] = []
        failure = ""
        if old is not None:
            ok, why = self._cmd("stop", self.container_name(old))
            undo.append(("start", self.container_name(old)))
            self._step("stop", version, ok, why)
            if not ok:
                failure = why
        if not failure:
            cmd = ["run", "-d", f"--name={self.container_name(version)}", "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            cmd += [f"--label={k}={v}" for k, v in self._labels.items()]
            undo.append(("rm", "-f", self.container_name(version)))
            ok, why = self._cmd(*cmd, tagged)
            self._step("run", version, ok, why)
            if not ok:
                failure = why
        if not failure:
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                         policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._step("health", version, healthy, "" if healthy else "never healthy")
            if not healthy:
                failure = f"{version} did not become healthy on port {self.port}"
        if failure:
            self._log.warning("rolling back %s", version, extra={"step": "rollback", "version": version})
            for args in reversed(undo):
                ok, why = self._cmd(*args)
                if not ok:
                    self._log.warning("rollback %s failed: %s", args[0], why,
                                      extra={"step": "rollback", "version": version})
            return DeployResult(version, False, old, failure)
        if old is not None:
            ok, why = self._cmd("rm", self.container_name(old))
            if not ok:
                self._log.warning("old container left behind: %s", why, extra={"step": "cleanup", "version": version})
        self._serving = version
        self._step("promote", version, True, "")
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
