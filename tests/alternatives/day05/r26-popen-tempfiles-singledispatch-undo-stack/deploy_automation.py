"""Deploy automation written around small objects: a temp-file command runner, a raw http.client probe,
a delay generator, a singledispatch sanitizer and a deploy that keeps an undo stack."""

from __future__ import annotations

import functools
import http.client
import json
import logging
import math
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

CONTAINER_PORT = 8000

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _is_finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """Output goes to temporary files, so nothing (not even a grandchild holding them) can block the return."""
    if not _is_finite_positive(timeout):
        raise ValueError(f"timeout must be a finite positive number of seconds, not {timeout!r}")
    args = list(argv)
    with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+b") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(args, timeout) from None
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, code, out.read().decode("utf-8", "replace"),
                                           err.read().decode("utf-8", "replace"))


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
    """http.client does not follow redirects: only the URL's own 200 counts."""
    conn = None
    try:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path)
        return conn.getresponse().status == 200
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
        if any(math.isnan(getattr(self, f.name)) for f in fields(self)):
            raise ValueError("a retry policy field is NaN")
        rules = [
            (self.max_attempts >= 1, "max_attempts must be >= 1"),
            (self.initial_delay_s > 0, "initial_delay_s must be > 0"),
            (self.max_delay_s >= self.initial_delay_s, "max_delay_s must be >= initial_delay_s"),
            (self.deadline_s > 0, "deadline_s must be > 0"),
            (self.probe_timeout_s > 0, "probe_timeout_s must be > 0"),
        ]
        broken = [why for ok, why in rules if not ok]
        if broken:
            raise ValueError("; ".join(broken))

    def delays(self):
        """The wait after each failed probe: doubling, then flat at max_delay_s (no powers, no overflow)."""
        delay = self.initial_delay_s
        while True:
            yield min(delay, self.max_delay_s)
            if delay < self.max_delay_s:
                delay *= 2


def wait_until_healthy(url, *, health_check=http_health_check, policy=None, sleep=time.sleep, clock=time.monotonic):
    policy = policy or RetryPolicy()
    deadline = clock() + policy.deadline_s
    delays = policy.delays()
    attempts_left = policy.max_attempts
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        attempts_left -= 1
        if health_check(url, min(remaining, policy.probe_timeout_s)):
            return True
        if attempts_left == 0:
            return False
        pause = next(delays)
        if deadline - clock() - pause <= 0:
            return False
        sleep(pause)


@functools.singledispatch
def _jsonable(value):
    return value


@_jsonable.register
def _(value: float):
    return value if math.isfinite(value) else repr(value)


@_jsonable.register
def _(value: dict):
    return {_jsonable_key(k): _jsonable(v) for k, v in value.items()}


@_jsonable.register(list)
@_jsonable.register(tuple)
def _(value):
    return [_jsonable(v) for v in value]


def _jsonable_key(key):
    if isinstance(key, bool) or key is None or isinstance(key, str):
        return key
    if isinstance(key, int):
        return key
    if isinstance(key, float) and math.isfinite(key):
        return key
    return str(key)


_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        whole, frac = divmod(record.created, 1)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        payload = {
            "ts": f"{stamp}.{int(frac * 1000):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update((k, v) for k, v in record.__dict__.items() if k not in _RECORD_ATTRS)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(_jsonable(payload), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class CommandFailed(Exception):
    """A docker command that exited non-zero, timed out or could not start."""


_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", re.ASCII)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


class Deployer:
    def __init__(self, name, port, *, runner=run_command, health_check=http_health_check, policy=None,
                 sleep=time.sleep, clock=time.monotonic, docker="docker", labels=None, command_timeout_s=300.0,
                 current_version=None, logger=None):
        if not isinstance(name, str) or _CONTAINER_NAME.fullmatch(name) is None:
            raise ValueError(f"{name!r} is not a valid container name")
        if isinstance(port, bool) or not isinstance(port, int) or port not in range(1, 65536):
            raise ValueError(f"{port!r} is not a TCP port")
        if isinstance(command_timeout_s, bool) or not _is_finite_positive(command_timeout_s):
            raise ValueError(f"command_timeout_s={command_timeout_s!r} is not a finite positive number")
        self.name, self.port = name, port
        self._run, self._probe = runner, health_check
        self._policy = policy if policy is not None else RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = dict(labels) if labels else {}
        self._timeout = command_timeout_s
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self):
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _docker(self, sub: str, *args: str) -> None:
        argv = [self._docker_bin, sub, *args]
        try:
            result = self._run(argv, self._timeout)
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"`docker {sub}` did not finish within {self._timeout:g} s") from None
        except OSError as exc:
            raise CommandFailed(f"`docker {sub}` could not run: {exc}") from None
        if result.returncode != 0:
            lines = (result.stderr or "").rstrip().splitlines()
            raise CommandFailed(f"`docker {sub}` failed ({result.returncode}): " + "\n".join(lines[-5:]))

    def _event(self, step, version, level, text):
        self._log.log(level, text, extra={"step": step, "version": version})

    @staticmethod
    def _check_image(image) -> None:
        if not isinstance(image, str) or not image or re.search(r"\s", image):
            raise ValueError(f"{image!r} is not a repository name")
        if re.search(r":[^/]*$", image):
            raise ValueError(f"{image!r} carries a tag; give the repository only")

    def deploy(self, image, version, *, context=None, build_args=None):
        if not isinstance(version, str) or _IMAGE_TAG.fullmatch(version) is None:
            raise ValueError(f"{version!r} is not a valid image tag")
        self._check_image(image)
        if self._serving is not None and version == self._serving:
            raise ValueError(f"{version} is already serving")
        previous = self._serving
        reference = f"{image}:{version}"

        if context is not None:
            flags = [f"--build-arg={k}={v}" for k, v in (build_args or {}).items()]
            try:
                self._docker("build", f"--tag={reference}", *flags, context)
            except CommandFailed as exc:
                why = _hide_all(str(exc), (build_args or {}).values())
                self._event("build", version, logging.ERROR, f"build failed: {why}")
                return DeployResult(version, False, previous, why)
            self._event("build", version, logging.INFO, f"built {reference}")

        undo: list[tuple[str, Callable[[], None]]] = []
        new_name = self.container_name(version)
        try:
            if previous is not None:
                old_name = self.container_name(previous)
                undo.append((f"start {old_name}", lambda: self._docker("start", old_name)))
                self._docker("stop", old_name)
                self._event("stop", version, logging.INFO, f"stopped {old_name}")
            undo.append((f"remove {new_name}", lambda: self._docker("rm", "-f", new_name)))
            label_flags = [f"--label={k}={v}" for k, v in self._labels.items()]
            try:
                self._docker("run", "-d", f"--name={new_name}", f"-p=127.0.0.1:{self.port}:{CONTAINER_PORT}",
                             *label_flags, reference)
            except CommandFailed as exc:
                self._event("run", version, logging.ERROR, f"run failed: {exc}")
                raise
            self._event("run", version, logging.INFO, f"running {new_name}")
            ok = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                    policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._event("health", version, logging.INFO if ok else logging.WARNING, f"healthy={ok}")
            if not ok:
                raise CommandFailed(f"{new_name} never answered 200 on /health")
        except CommandFailed as exc:
            self._event("rollback", version, logging.WARNING, f"rolling back: {exc}")
            for what, action in reversed(undo):
                try:
                    action()
                except CommandFailed as undo_exc:
                    self._event("rollback", version, logging.ERROR, f"rollback step '{what}' failed: {undo_exc}")
            return DeployResult(version, False, previous, str(exc))

        if previous is not None:
            try:
                self._docker("rm", "-f", self.container_name(previous))
            except CommandFailed as exc:
                self._event("cleanup", version, logging.WARNING, f"previous container left behind: {exc}")
        self._serving = version
        self._event("promote", version, logging.INFO, f"{version} promoted")
        return DeployResult(version, True, version, "")


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
