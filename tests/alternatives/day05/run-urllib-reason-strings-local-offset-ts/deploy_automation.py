"""Deploy a container image safely (review alternative B: subprocess.run + urllib, results not exceptions)."""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import math
import socket
import string
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _bad_seconds(x) -> bool:
    return not (0 < x < math.inf)  # False for NaN, so NaN is bad too


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    if _bad_seconds(timeout):
        raise ValueError(f"bad timeout {timeout!r}")
    return subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=timeout, check=False,
                          shell=False)


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


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is not the service's own 200: let it raise HTTPError


_NO_REDIRECTS = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects, _DeadlineHTTPHandler)


def http_health_check(url: str, timeout: float) -> bool:
    request = urllib.request.Request(url, method="GET")
    try:
        with _NO_REDIRECTS.open(request, timeout=timeout) as response:
            return response.getcode() == 200
    except urllib.error.HTTPError:
        return False
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
        problems = [
            (any(v != v for v in astuple(self)), "no field may be NaN"),
            (not self.max_attempts >= 1, "max_attempts >= 1"),
            (not self.initial_delay_s > 0, "initial_delay_s > 0"),
            (not self.max_delay_s >= self.initial_delay_s, "max_delay_s >= initial_delay_s"),
            (not self.deadline_s > 0, "deadline_s > 0"),
            (not self.probe_timeout_s > 0, "probe_timeout_s > 0"),
        ]
        broken = [why for bad, why in problems if bad]
        if broken:
            raise ValueError("invalid RetryPolicy: " + "; ".join(broken))


def _delays(policy: RetryPolicy):
    delay = policy.initial_delay_s
    while True:
        yield min(delay, policy.max_delay_s)
        delay *= 2


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
    ends_at = clock() + policy.deadline_s
    delays = _delays(policy)
    for attempt in range(1, policy.max_attempts + 1):
        remaining = ends_at - clock()
        if remaining <= 0:
            break
        if health_check(url, min(remaining, policy.probe_timeout_s)):
            return True
        if attempt == policy.max_attempts:
            break
        pause = next(delays)
        if clock() + pause >= ends_at:
            break
        sleep(pause)
    return False


_RESERVED = set(logging.LogRecord("x", logging.INFO, "f", 1, "m", (), None).__dict__) | {"message", "asctime"}


def _text_for_unencodable(obj):
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return repr(obj)
    if isinstance(obj, Mapping):
        return {(k if isinstance(k, (str, int, bool)) or k is None else str(k)): _text_for_unencodable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_text_for_unencodable(v) for v in obj]
    return obj


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": (datetime.fromtimestamp(int(record.created)).astimezone()
                   + timedelta(milliseconds=int(record.msecs))).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in record.__dict__.keys() - _RESERVED:
            entry[key] = _text_for_unencodable(record.__dict__[key])
        if record.exc_info is not None:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a record rebuilt by a log receiver: the exception arrives as text
            entry["exc_info"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=True)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_ALNUM = set(string.ascii_letters + string.digits)
_TAG_CHARS = _ALNUM | set("_.-")


def _valid_container_name(name) -> bool:
    return isinstance(name, str) and name[:1] in _ALNUM and set(name) <= _TAG_CHARS


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and (tag[0] in _ALNUM or tag[0] == "_")
            and set(tag) <= _TAG_CHARS)


def _valid_repository(image) -> bool:
    if not isinstance(image, str) or not image or image != image.strip() or any(c.isspace() for c in image):
        return False
    *host_and_path, last = image.split("/")
    return ":" not in last and "@" not in image and last != ""


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
            raise ValueError(f"not a container name: {name!r}")
        if not isinstance(port, int) or port not in range(1, 65536):
            raise ValueError(f"not a port: {port!r}")
        if _bad_seconds(command_timeout_s):
            raise ValueError(f"bad command_timeout_s {command_timeout_s!r}")
        self.name, self.port = name, port
        self._runner, self._health_check = runner, health_check
        self._policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker = docker
        self._labels = labels or {}
        self._timeout = command_timeout_s
        self._version = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._version

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _run(self, *args: str) -> str | None:
        """None on success, else why it failed."""
        try:
            done = self._runner([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return f"`docker {args[0]}` did not finish within {self._timeout} s"
        except OSError as exc:
            return f"`docker {args[0]}` could not be started: {exc}"
        if done.returncode:
            return f"`docker {args[0]}` failed ({done.returncode}): {str(done.stderr).strip()}"
        return None

    def _step(self, step, version, message, level=logging.INFO):
        self._log.log(level, message, extra={"step": step, "version": version})

    def deploy(self, image, version, *, context=None, build_args=None) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"not a valid tag: {version!r}")
        if not _valid_repository(image):
            raise ValueError(f"not a repository name without a tag: {image!r}")
        if version == self._version:
            raise ValueError(f"{version!r} is the version serving now")
        previous = self._version
        tagged = f"{image}:{version}"

        def failed(reason):
            return DeployResult(version, False, previous, reason)

        if context is not None:
            self._step("build", version, f"build {tagged}")
            extra = list(itertools.chain.from_iterable(("--build-arg", f"{k}={v}") for k, v in (build_args or {}).items()))
            why = self._run("build", "-t", tagged, *extra, context)
            if why:  # a failing RUN step may print a build arg's value: hide each one
                why = _hide_all(why, (build_args or {}).values())
                self._step("build", version, why, logging.ERROR)
                return failed(why)

        new = self.container_name(version)
        why = None
        if previous:
            why = self._run("stop", self.container_name(previous))
        if not why:
            self._step("run", version, f"run {new}")
            label_args = list(itertools.chain.from_iterable(("--label", f"{k}={v}") for k, v in self._labels.items()))
            why = self._run("run", "--detach", "--name", new, "--publish", f"127.0.0.1:{self.port}:{CONTAINER_PORT}",
                            *label_args, tagged)
        if not why:
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._health_check,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._step("health", version, "healthy" if ok else "not healthy", logging.INFO if ok else logging.WARNING)
            why = None if ok else f"{new} did not become healthy"
        if why:
            self._step("rollback", version, f"rolling back: {why}", logging.WARNING)
            trouble = self._run("rm", "-f", new)
            if trouble:
                self._step("rollback", version, trouble, logging.WARNING)
            if previous:
                trouble = self._run("start", self.container_name(previous))
                if trouble:
                    self._step("rollback", version, trouble, logging.ERROR)
            return failed(why)

        if previous:
            trouble = self._run("rm", "-f", self.container_name(previous))
            if trouble:
                self._step("cleanup", version, trouble, logging.WARNING)
        self._version = version
        self._step("promote", version, f"promoted {tagged}")
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
