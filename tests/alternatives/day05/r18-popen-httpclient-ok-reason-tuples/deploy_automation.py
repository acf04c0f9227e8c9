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

import http.client
import json
import logging
import math
import socket
import string
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from urllib.parse import urlsplit

CONTAINER_PORT = 8000  # the day-03 server listens here inside the container

Runner = Callable[[list[str], float], subprocess.CompletedProcess]
HealthCheck = Callable[[str, float], bool]


def _check_timeout(timeout) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError(f"timeout must be a number, got {timeout!r}")
    if math.isnan(timeout) or math.isinf(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be finite and positive, got {timeout!r}")


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One bounded child process: a hung `docker build` must not hang the deploy."""
    _check_timeout(timeout)
    args = [str(a) for a in argv]
    with subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace") as proc:
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
    """A probe answers yes or no; the retry loop decides what a 'no' means."""
    conn = None
    try:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else _DeadlineHTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request("GET", target)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except Exception:  # noqa: BLE001 - a probe never raises
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
        problems = []
        if any(getattr(self, f.name) != getattr(self, f.name) for f in fields(self)):
            problems.append("NaN")
        if not self.max_attempts >= 1:
            problems.append("max_attempts < 1")
        if not self.initial_delay_s > 0:
            problems.append("initial_delay_s <= 0")
        if not self.max_delay_s >= self.initial_delay_s:
            problems.append("max_delay_s < initial_delay_s")
        if not self.deadline_s > 0:
            problems.append("deadline_s <= 0")
        if not self.probe_timeout_s > 0:
            problems.append("probe_timeout_s <= 0")
        if problems:
            raise ValueError("invalid RetryPolicy: " + ", ".join(problems))


def wait_until_healthy(
    url: str,
    *,
    health_check: HealthCheck = http_health_check,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Bounded in attempts and in time, so a container that never comes up cannot stall a deploy."""
    p = policy or RetryPolicy()
    start = clock()
    delay = p.initial_delay_s
    attempts = 0
    while True:
        remaining = p.deadline_s - (clock() - start)
        if remaining <= 0:
            return False
        attempts += 1
        if health_check(url, min(p.probe_timeout_s, remaining)):
            return True
        if attempts >= p.max_attempts:
            return False
        wait = min(delay, p.max_delay_s)
        if (clock() - start) + wait > p.deadline_s:
            return False
        sleep(wait)
        delay = min(delay * 2, p.max_delay_s)


_RECORD_FIELDS = set(logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None).__dict__)
_SKIP = _RECORD_FIELDS | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, so a log pipeline can filter deploys by step and version."""

    @classmethod
    def _safe(cls, obj):
        if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
            return obj
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else repr(float(obj))
        if isinstance(obj, Mapping):
            out = {}
            for k, v in obj.items():
                if not (k is None or isinstance(k, (str, int, bool)) or (isinstance(k, float) and math.isfinite(k))):
                    k = str(k)
                out[k] = cls._safe(v)
            return out
        if isinstance(obj, (list, tuple)):
            return [cls._safe(v) for v in obj]
        try:
            json.dumps(obj)
            return obj
        except (TypeError, ValueError):
            return str(obj)

    def format(self, record: logging.LogRecord) -> str:
        whole, frac = divmod(record.created, 1)
        when = datetime.fromtimestamp(whole, tz=timezone.utc).replace(microsecond=int(frac * 1_000_000))
        when = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc = {"ts": when, "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        doc.update((k, v) for k, v in record.__dict__.items() if k not in _SKIP)
        text = record.exc_text
        if record.exc_info and record.exc_info[0] is not None:
            text = self.formatException(record.exc_info)
        if text:
            doc["exception"] = text
        return json.dumps(self._safe(doc), allow_nan=False, separators=(",", ":"))


@dataclass(frozen=True)
class DeployResult:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


_ALNUM = set(string.ascii_letters + string.digits)


def _valid_name(name) -> bool:
    return isinstance(name, str) and bool(name) and name[0] in _ALNUM and set(name) <= _ALNUM | set("_.-")


def _valid_tag(tag) -> bool:
    return (isinstance(tag, str) and 1 <= len(tag) <= 128 and tag[0] in _ALNUM | {"_"}
            and set(tag) <= _ALNUM | set("_.-"))


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
        if not _valid_name(name):
            raise ValueError(f"invalid container name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"invalid port {port!r}")
        _check_timeout(command_timeout_s)
        self.name, self.port = name, port
        self._runner, self._probe = runner, health_check
        self._policy = policy if policy is not None else RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._docker = docker
        self._labels = list((labels or {}).items())
        self._timeout = float(command_timeout_s)
        self._serving = current_version
        self._log = logger or logging.getLogger("deploy_automation")

    @property
    def current_version(self) -> str | None:
        return self._serving

    def container_name(self, version: str) -> str:
        return f"{self.name}-{version}"

    def _cmd(self, *args: str, hide: Sequence[str] = ()) -> tuple[bool, str]:
        """(succeeded, why not); each value in `hide` is masked in the whole error output before it is cut."""
        try:
            done = self._runner([self._docker, *args], self._timeout)
        except subprocess.TimeoutExpired:
            return False, f"docker {args[0]}: no answer within {self._timeout:g} s"
        except OSError as exc:
            return False, f"docker {args[0]}: cannot run {self._docker}: {exc}"
        if done.returncode == 0:
            return True, ""
        err = done.stderr or ""
        err = _hide_all(err, hide)  # a RUN step may print a build arg's value
        err = err.rstrip()
        return False, f"docker {args[0]} failed (exit {done.returncode}): {err[-400:] or 'no error output'}"

    def _event(self, level: int, step: str, version: str, msg: str) -> None:
        self._log.log(level, msg, extra={"step": step, "version": version})

    def deploy(
        self,
        image: str,
        version: str,
        *,
        context: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> DeployResult:
        if not _valid_tag(version):
            raise ValueError(f"invalid version tag {version!r}")
        last = image.split("/")[-1] if isinstance(image, str) else ""
        if not last or ":" in last or any(ch.isspace() for ch in image):
            raise ValueError(f"invalid image repository {image!r}")
        old = self._serving
        if old is not None and version == old:
            raise ValueError(f"version {version} is already serving")
        tagged = f"{image}:{version}"

        if context is not None:
            cmd = ["build", "-t", tagged]
            for k, v in (build_args or {}).items():
                cmd.append(f"--build-arg={k}={v}")
            ok, why = self._cmd(*cmd, context, hide=list((build_args or {}).values()))
            self._event(logging.INFO if ok else logging.ERROR, "build", version, f"build {tagged}: {why or 'ok'}")
            if not ok:
                return DeployResult(version, False, old, why)

        failure = ""
        if old is not None:
            ok, why = self._cmd("stop", self.container_name(old))
            self._event(logging.INFO if ok else logging.ERROR, "stop", version, f"stop {old}: {why or 'ok'}")
            failure = why
        if not failure:
            cmd = ["run", "-d", f"--name={self.container_name(version)}", f"-p=127.0.0.1:{self.port}:{CONTAINER_PORT}"]
            cmd += [f"--label={k}={v}" for k, v in self._labels]
            ok, why = self._cmd(*cmd, tagged)
            self._event(logging.INFO if ok else logging.ERROR, "run", version, f"run {tagged}: {why or 'ok'}")
            failure = why
        if not failure:
            healthy = wait_until_healthy(f"http://127.0.0.1:{self.port}/health", health_check=self._probe,
                                         policy=self._policy, sleep=self._sleep, clock=self._clock)
            self._event(logging.INFO if healthy else logging.ERROR, "health", version,
                        "healthy" if healthy else "not healthy within the policy")
            if not healthy:
                failure = f"{tagged} did not pass its health check at http://127.0.0.1:{self.port}/health"
        if failure:
            self._event(logging.WARNING, "rollback", version, f"rolling back {version}: {failure}")
            for args in (("rm", "-f", self.container_name(version)),
                         ("start", self.container_name(old)) if old is not None else None):
                if args is None:
                    continue
                ok, why = self._cmd(*args)
                if not ok:
                    self._event(logging.ERROR, "rollback", version, f"rollback step {args[0]} failed: {why}")
            return DeployResult(version, False, old, failure)

        if old is not None:
            ok, why = self._cmd("rm", self.container_name(old))
            if not ok:
                self._event(logging.WARNING, "cleanup", version, f"{self.container_name(old)} left behind: {why}")
        self._serving = version
        self._event(logging.INFO, "promote", version, f"{version} serves on 127.0.0.1:{self.port}")
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
