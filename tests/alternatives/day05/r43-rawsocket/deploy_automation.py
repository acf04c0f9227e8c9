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

import itertools
import json
import logging
import math
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple
from urllib.parse import urlsplit

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _finite_positive(value, what: str) -> float:
    if value is None:
        raise TypeError(f"{what} is required (None means no limit)")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if math.isnan(number) or math.isinf(number) or number <= 0:
        raise ValueError(f"{what} must be a finite positive number, got {value!r}")
    return number


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
    limit = _finite_positive(timeout, "timeout")
    args = [str(a) for a in argv]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGKILL at once
        proc.wait()
        # children of the program may still hold the pipes: do not wait for them to close
        for pipe in (proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        raise subprocess.TimeoutExpired(args, limit) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: [^\r\n]*)?\r?\n")


def http_health_check(url: str, timeout: float) -> bool:
    """A probe answers yes or no; the retry loop decides what a 'no' means."""
    try:
        deadline = time.monotonic() + _finite_positive(timeout, "timeout")
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return False
        port = parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host_header = parts.netloc.rpartition("@")[2]
        request = (f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n"
                   f"User-Agent: deploy-probe\r\nAccept: */*\r\n\r\n").encode("ascii")

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("probe timed out")
            return remaining

        with socket.create_connection((parts.hostname, port), timeout=left()) as sock:
            sock.settimeout(left())
            sock.sendall(request)
            received = b""
            while b"\r\n\r\n" not in received:
                sock.settimeout(left())
                chunk = sock.recv(4096)
                if not chunk:
                    return False  # closed before a whole head arrived
                received += chunk
                if len(received) > 65536:
                    return False
        match = _STATUS_LINE.match(received)
        return bool(match) and match.group(1) == b"200"
    except (OSError, ValueError, TypeError, UnicodeError):
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 4.0
    deadline_s: float = 30.0
    probe_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in values.items():
            try:
                nan = float(value) != float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {value!r}") from None
            if nan:
                raise ValueError(f"{name} is NaN")
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


def _backoff(policy: RetryPolicy) -> Iterator[float]:
    """The waits after failed probes 1, 2, 3, ...: doubling until the cap, then the cap forever."""
    delay = float(policy.initial_delay_s)
    while delay < policy.max_delay_s:
        yield delay
        delay *= 2
    yield from itertools.repeat(float(policy.max_delay_s))


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Bounded in attempts and in time, so a container that never comes up cannot stall a deploy."""
    policy = policy or RetryPolicy()
    give_up_at = clock() + policy.deadline_s
    waits = _backoff(policy)
    for attempt in range(1, policy.max_attempts + 1):
        if attempt > 1:
            wait = next(waits)
            if clock() + wait >= give_up_at:
                return False
            sleep(wait)
        remaining = give_up_at - clock()
        if remaining <= 0:
            return False
        if health_check(url, min(policy.probe_timeout_s, remaining)):
            return True
    return False


_BLANK = logging.LogRecord("", 0, "", 0, "", (), None)
_RESERVED = set(_BLANK.__dict__) | {"message", "asctime"}


def _not_finite(value) -> bool:
    if isinstance(value, (str, bytes, bool, int)) or value is None:
        return False
    try:
        return not math.isfinite(value)
    except (TypeError, ValueError, OverflowError):
        return False


def _key(key):
    if isinstance(key, str):
        return key
    if isinstance(key, (bool, int)) and type(key) in (bool, int):
        return key
    if isinstance(key, float) and math.isfinite(key):
        return key
    if key is None:
        return key
    return str(key)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)) and not isinstance(value, (str, bytes)):
        return [_jsonable(v) for v in value]
    if _not_finite(value):
        return str(value)
    return value


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    @staticmethod
    def _timestamp(created: float) -> str:
        seconds = math.floor(created)
        millis = min(999, int((created - seconds) * 1000))
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and k not in line})
        exception = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        if exception:
            line["exc_info"] = exception
        return json.dumps(_jsonable(line), default=str, allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


class _Outcome(NamedTuple):
    ok: bool
    detail: str


_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)


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
        if not (isinstance(name, str) and _CONTAINER_NAME.fullmatch(name)):
            raise ValueError(f"not a valid container name: {name!r}")
        if not (isinstance(port, int) and 0 < port < 65536):
            raise ValueError(f"port out of range: {port!r}")
        self._timeout = _finite_positive(command_timeout_s, "command_timeout_s")
        self.name, self.port = name, port
        self._runner, self._probe, self._policy = runner, health_check, policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker_bin = docker
        self._labels = dict(labels) if labels else {}
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")
        self._masks: list[str] | None = None

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _redact(self, text: object) -> str:
        text = text if isinstance(text, str) else ("" if text is None else str(text))
        return _hide_all(text, self._masks, "[hidden]") if self._masks else text

    def _event(self, level: int, step: str, version: str, text: str) -> None:
        self._log.log(level, "%s", self._redact(text), extra={"step": step, "version": version})

    def _cmd(self, *args: str) -> _Outcome:
        what = f"docker {args[0]}"
        try:
            done = self._runner([self._docker_bin, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return _Outcome(False, f"{what} timed out ({self._timeout:g} s)")
        except OSError as error:
            return _Outcome(False, f"{what} could not start ({error.__class__.__name__}, errno {error.errno})")
        if done.returncode == 0:
            return _Outcome(True, "")
        stderr = self._redact(done.stderr or "").rstrip()
        return _Outcome(False, f"{what} failed with exit {done.returncode}: ...{stderr[-800:]}")

    @staticmethod
    def _check_image(image) -> None:
        if not isinstance(image, str) or image == "" or re.search(r"\s", image):
            raise ValueError(f"invalid image {image!r}")
        last = image.split("/")[-1]
        if ":" in last or last == "":
            raise ValueError(f"image {image!r} must be a repository without a tag")

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not (isinstance(version, str) and _IMAGE_TAG.fullmatch(version)):
            raise ValueError(f"not a valid tag: {version!r}")
        self._check_image(image)
        if version == self._serving:
            raise ValueError(f"{version!r} is the version serving now")
        args = dict(build_args) if build_args else {}
        secrets = sorted({str(v) for v in args.values() if str(v)}, key=len, reverse=True)
        self._masks = secrets or None
        try:
            return self._deploy(image, version, context, args)
        finally:
            self._masks = None

    def _deploy(self, image: str, version: str, context, args: dict) -> DeployResult:
        old = self._serving
        ref = f"{image}:{version}"
        new_name = self.container_name(version)

        if context is not None:
            build = ["build", "-t", ref]
            for key, value in args.items():
                build.append(f"--build-arg={key}={value}")
            outcome = self._cmd(*build, "--", context)
            self._event(logging.INFO if outcome.ok else logging.ERROR, "build", version,
                        f"build {ref} with args {sorted(args)}: {'ok' if outcome.ok else outcome.detail}")
            if not outcome.ok:
                return DeployResult(version, False, old, outcome.detail)

        failure = ""
        if old is not None:
            outcome = self._cmd("stop", self.container_name(old))
            self._event(logging.INFO if outcome.ok else logging.ERROR, "stop", version,
                        f"stop {self.container_name(old)}: {'ok' if outcome.ok else outcome.detail}")
            failure = outcome.detail if not outcome.ok else ""
        if not failure:
            run = ["run", "-d", "--name", new_name, "-p", f"127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            for key, value in self._labels.items():
                run += ["-l", f"{key}={value}"]
            outcome = self._cmd(*run, ref)
            self._event(logging.INFO if outcome.ok else logging.ERROR, "run", version,
                        f"run {new_name}: {'ok' if outcome.ok else outcome.detail}")
            failure = outcome.detail if not outcome.ok else ""
        if not failure:
            url = f"http://127.0.0.1:{self.port}/health"
            healthy = wait_until_healthy(url, health_check=self._probe, policy=self._policy,
                                         sleep=self._sleep, clock=self._clock)
            self._event(logging.INFO if healthy else logging.ERROR, "health", version,
                        f"{url}: {'healthy' if healthy else 'never healthy'}")
            if not healthy:
                failure = f"{new_name} did not become healthy within the retry policy"

        if failure:
            self._event(logging.WARNING, "rollback", version, f"rolling back {version}: {failure}")
            outcome = self._cmd("rm", "-f", new_name)
            if not outcome.ok:
                self._event(logging.ERROR, "rollback", version, f"could not remove {new_name}: {outcome.detail}")
            if old is not None:
                outcome = self._cmd("start", self.container_name(old))
                if not outcome.ok:
                    self._event(logging.CRITICAL, "rollback", version,
                                f"could not restart {self.container_name(old)}: {outcome.detail}")
            return DeployResult(version, False, old, failure)

        if old is not None:
            outcome = self._cmd("rm", "-f", self.container_name(old))
            if not outcome.ok:
                self._event(logging.WARNING, "cleanup", version,
                            f"{self.container_name(old)} left behind: {outcome.detail}")
        self._serving = version
        self._event(logging.INFO, "promote", version, f"{version} promoted, serving on port {self.port}")
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
