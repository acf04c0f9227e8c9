"""Day 14 fixtures: real collaborators for the monitor loop, recording fakes for the pipeline.

The monitoring system is tested with a real SQLite metric store, a real HTTP model
server on loopback and a real SMTP server: small stand-ins for day 11's monitor and
alert manager, written here so this day never imports another day's code. Time is a
fake clock that only the fake sleep moves, so a test of a 60 s interval takes no time.

`pipeline.sh` runs as a real process; in the unit tier `docker`, `kubectl` and `kind`
are recording fakes first on PATH (each call is logged, each answer is scripted), and
`curl` is real.
"""

from __future__ import annotations

import json
import os
import smtplib
import sqlite3
import stat
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from mlops_katas.fakes import FakeClock
from mlops_katas.infra.http_server import ControlledServer
from mlops_katas.infra.smtp import SmtpSink
from mlops_katas.shell import run_script



# --- time -------------------------------------------------------------------------------------


class RunawayLoop(BaseException):
    """Raised by the fake sleep when a loop keeps going; BaseException so `except Exception` cannot hide it."""


class FakeSleep:
    """Records each pause and moves the fake clock by it; `on_sleep(n)` runs before the n-th pause returns."""

    LIMIT = 200

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []
        self.on_sleep = None

    def __call__(self, seconds: float) -> None:
        self.clock.sleep(seconds)  # refuses a negative pause, as time.sleep does
        self.calls.append(seconds)
        if len(self.calls) > self.LIMIT:
            raise RunawayLoop(f"the loop slept {self.LIMIT} times and was still going: it does not stop")
        if self.on_sleep is not None:
            self.on_sleep(len(self.calls))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_sleep(clock) -> FakeSleep:
    return FakeSleep(clock)


# --- a day-11 style metric store and probe, on SQLite and HTTP --------------------------------


class SqliteMetricStore:
    """Latency and availability samples in SQLite; window SLA and percentiles like day 11's monitor."""

    def __init__(self, db_path: str, clock) -> None:
        self.db_path = db_path
        self.clock = clock
        with sqlite3.connect(db_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS metrics (name TEXT, value REAL, ts REAL)")

    def record(self, name: str, value: float) -> None:
        with sqlite3.connect(self.db_path) as db:
            db.execute("INSERT INTO metrics VALUES (?, ?, ?)", (name, value, self.clock()))

    def values(self, name: str, hours: float) -> list[float]:
        since = self.clock() - hours * 3600
        with sqlite3.connect(self.db_path) as db:
            rows = db.execute("SELECT value FROM metrics WHERE name = ? AND ts >= ?", (name, since)).fetchall()
        return [row[0] for row in rows]

    def calculate_sla_compliance(self, latency_threshold_ms: float = 200.0, hours: float = 24) -> float | None:
        values = self.values("latency_ms", hours)
        if not values:
            return None
        return 100.0 * sum(v <= latency_threshold_ms for v in values) / len(values)

    def latency_percentile(self, q: float, hours: float = 24) -> float | None:
        import numpy

        values = self.values("latency_ms", hours)
        return float(numpy.percentile(values, q)) if values else None


def http_probe(store: SqliteMetricStore, url: str, timeout_s: float = 2.0):
    """POST one row to `{url}/predict`: a 200 records its latency, anything else records the server down."""

    def probe() -> float | None:
        started = time.perf_counter()
        try:
            answer = requests.post(f"{url}/predict", json={"features": [[0.0] * 4]}, timeout=timeout_s)
        except requests.RequestException:
            answer = None
        if answer is None or answer.status_code != 200:
            store.record("availability", 0.0)
            return None
        latency_ms = (time.perf_counter() - started) * 1000
        store.record("latency_ms", latency_ms)
        store.record("availability", 1.0)
        return latency_ms

    return probe


@pytest.fixture
def store(tmp_path, clock) -> SqliteMetricStore:
    return SqliteMetricStore(str(tmp_path / "metrics.db"), clock)


@pytest.fixture
def model_server():
    with ControlledServer() as server:
        yield server


# --- a day-11 style alert manager that mails over real SMTP ------------------------------------


@dataclass
class Rule:
    metric: str
    limit: float
    direction: str = "above"

    def breached_by(self, value: float) -> bool:
        return value > self.limit if self.direction == "above" else value < self.limit


class MailAlerter:
    """Mails on the first breach, again only after `cooldown_s`, and once on recovery."""

    def __init__(self, rules: list[Rule], smtp: SmtpSink, clock, cooldown_s: float = 3600.0) -> None:
        self.rules = rules
        self.smtp = smtp
        self.clock = clock
        self.cooldown_s = cooldown_s
        self.last_sent: dict[str, float] = {}
        self.seen: list[dict[str, float]] = []

    def evaluate(self, metrics) -> list[str]:
        self.seen.append(dict(metrics))
        for name, value in metrics.items():
            if not isinstance(value, (int, float)) or value != value:
                raise TypeError(f"metric {name} = {value!r} is not a number")
        sent = []
        for rule in self.rules:
            if rule.metric not in metrics:
                continue
            value = metrics[rule.metric]
            last = self.last_sent.get(rule.metric)
            if rule.breached_by(value):
                if last is None or self.clock() - last >= self.cooldown_s:
                    sent.append(self._mail(f"[FIRING] {rule.metric} is {value:g}"))
                    self.last_sent[rule.metric] = self.clock()
            elif last is not None:
                del self.last_sent[rule.metric]
                sent.append(self._mail(f"[RESOLVED] {rule.metric} is {value:g}"))
        return sent

    def _mail(self, subject: str) -> str:
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = subject, "monitor@example.com", "oncall@example.com"
        message.set_content(subject)
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=5) as client:
            client.send_message(message)
        return subject


class RecordingAlerter:
    """Keeps the metrics of each tick and sends nothing: for tests about the loop itself."""

    def __init__(self) -> None:
        self.seen: list[dict[str, float]] = []

    def evaluate(self, metrics) -> list:
        self.seen.append(dict(metrics))
        return []


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


# --- pipeline.sh: running it, and recording fakes for docker / kubectl / kind ------------------

FAKE_TOOL = r'''#!{python} -S
"""A recording fake CLI: logs argv, answers by the first rule whose words all appear in argv."""
import time
started = time.time()  # first thing: on a busy machine the imports and /proc reads below take a while
import atexit, json, os, sys

home = os.environ["FAKE_TOOLS_DIR"]
name = os.path.basename(sys.argv[0])
argv = sys.argv[1:]
call = f"{{os.getpid()}}@{{started}}"


@atexit.register
def ended():
    # A script's pause between two calls is the next one's start minus this end, whatever this call's own run took.
    with open(os.path.join(home, "ends.jsonl"), "a") as f:
        f.write(json.dumps({{"call": call, "at": time.time()}}) + "\n")


def ancestry():
    """argv of each parent process, nearest first (up to 12), or None where it cannot be read."""
    chain, pid = [], os.getppid()
    for _ in range(12):
        if pid <= 1:
            break
        try:
            with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                words = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
            with open(f"/proc/{{pid}}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            try:
                import subprocess
                out = subprocess.run(["ps", "-o", "ppid=", "-o", "command=", "-p", str(pid)], capture_output=True,
                                     text=True, timeout=5).stdout.split()
                parent, words = int(out[0]), out[1:]
            except Exception:
                return None
        chain.append(words)
        pid = parent
    return chain


with open(os.path.join(home, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"tool": name, "argv": argv, "cwd": os.getcwd(), "parents": ancestry(), "at": started,
                        "call": call}}) + "\n")
with open(os.path.join(home, "rules.json")) as f:
    scripted = json.load(f)
rules, containers = scripted["rules"], scripted["containers"]
def holds(args, word):
    # `--format '{{{{.State.Status}}}}'`, `--format={{{{.State.Status}}}}` and `-n=ns` hold the word alike,
    # and `--raw=/path` or `--rm=true` hold the option `--raw` or `--rm`.
    return any(arg == word or arg.endswith("=" + word) or (word.startswith("--") and arg.startswith(word + "="))
               for arg in args)


def has(word):
    return holds(argv, word)


def nth(rule):
    """Which call of this tool holding the rule's words this one is (1 for the first), from the log."""
    with open(os.path.join(home, "calls.jsonl")) as f:
        logged = [json.loads(line) for line in f if line.strip()]
    return sum(1 for entry in logged if entry["tool"] == name and all(holds(entry["argv"], w) for w in rule["match"]))


for rule in rules:
    if rule["tool"] == name and all(has(word) for word in rule["match"]) and nth(rule) >= rule.get("from_call", 1):
        if rule["hang"]:
            time.sleep(3600)
        if rule.get("delay"):
            time.sleep(rule["delay"])
        if rule["out"]:
            print(rule["out"])
        if rule.get("err"):
            print(rule["err"], file=sys.stderr)
        sys.exit(rule["code"])

# --- docker: the engine's containers, replayed from the log, so rm and run --name behave as a real engine's ---


def command_of(args):
    """(subcommand, its arguments) of a docker call: `rm X` and `container rm X` alike, global options skipped."""
    words = list(args)
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in ("-H", "--host", "-c", "--context", "--config", "-l", "--log-level") and words:
            words.pop(0)
    if words[:1] == ["container"]:
        words.pop(0)
    return (words[0], words[1:]) if words else (None, [])


def names_in(command, args):
    """The containers a call names: `run/create --name X`, or the operands of rm/stop/kill/start."""
    if command in ("run", "create"):
        for i, arg in enumerate(args):
            if arg == "--name" and i + 1 < len(args):
                return [args[i + 1]]
            if arg.startswith("--name="):
                return [arg.split("=", 1)[1]]
        return []
    operands, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in ("-t", "--time", "-s", "--signal")
        else:
            operands.append(arg)
    return operands


def forced_rm(args):
    return any(a in ("-f", "--force", "--force=true") or (a.startswith("-") and not a.startswith("--")
               and "f" in a and set(a[1:]) <= set("flv")) for a in args)


def initially(container):
    """A container the test did not start: as `FakeTools.container_exists` set it, else absent when the scripted
    `docker inspect` of its image fails, else running."""
    if container in containers:
        return "running" if containers[container] else "gone"
    for rule in rules:
        if rule["tool"] == "docker" and "inspect" in rule["match"] and (
                "{{{{.Config.Image}}}}" in rule["match"] or "{{{{.Image}}}}" in rule["match"]):
            return "gone" if rule["code"] else "running"
    return "running"


def engine_answer(calls):
    """Replay the docker calls before this one; the engine's own refusal of this one (code, message), or None."""
    state = dict()

    def now(container):
        return state.get(container) or initially(container)

    refusal = None
    for entry in calls:
        command, args = command_of(entry["argv"])
        names = names_in(command, args)
        refusal = None
        if command in ("run", "create") and names:
            if now(names[0]) != "gone":
                refusal = (125, 'docker: Error response from daemon: Conflict. The container name "/%s" is already in '
                                'use by container "%s". You have to remove (or rename) that container to be able to '
                                'reuse that name.' % (names[0], "0" * 64))
            else:
                state[names[0]] = "running" if command == "run" else "created"
        elif command in ("rm", "remove"):
            for container in names:
                if now(container) == "running" and not forced_rm(args):
                    refusal = (1, "Error response from daemon: You cannot remove a running container %s. Stop the "
                                  "container before attempting removal or force remove" % container)
                else:
                    state[container] = "gone"
        elif command in ("stop", "kill"):
            for container in names:
                if now(container) != "gone":
                    state[container] = "exited"
        elif command == "start":
            for container in names:
                if now(container) != "gone":
                    state[container] = "running"
    return refusal


if name == "docker":
    with open(os.path.join(home, "calls.jsonl")) as f:
        logged = [json.loads(line) for line in f if line.strip()]
    refused = engine_answer([entry for entry in logged if entry["tool"] == "docker"])
    if refused:
        print(refused[1], file=sys.stderr)
        sys.exit(refused[0])
sys.exit(0)
'''


class FakeTools:
    """`docker`, `kubectl` and `kind` fakes. `answer(tool, *words, code=, out=, err=, hang=)` scripts a reply."""

    TOOLS = ("docker", "kubectl", "kind")

    def __init__(self, home: Path) -> None:
        self.home = home
        self.bin = home / "bin"
        self.bin.mkdir(parents=True)
        for tool in self.TOOLS:
            path = self.bin / tool
            path.write_text(FAKE_TOOL.format(python=sys.executable))
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.rules: list[dict] = []
        self.containers: dict[str, bool] = {}
        self._save()

    def _save(self) -> None:
        # Written aside, then renamed: a fake reading the rules while a test changes them mid-run sees old or new.
        scratch = self.home / "rules.json.new"
        scratch.write_text(json.dumps({"rules": self.rules, "containers": self.containers}))
        os.replace(scratch, self.home / "rules.json")

    def answer(self, tool: str, *match: str, code: int = 0, out: str = "", err: str = "", hang: bool = False,
               first: bool = False, from_call: int = 1, delay: float = 0.0) -> None:
        """Script a reply (`out` on stdout, `err` on stderr); `first=True` puts it before the earlier rules (to
        change an answer while a script runs); `from_call=n` applies it from the n-th call holding `match` on
        (earlier ones fall through to later rules); `delay` seconds pass before the reply (a slow step)."""
        rule = {"tool": tool, "match": list(match), "code": code, "out": out, "err": err, "hang": hang,
                "from_call": from_call, "delay": delay}
        if first:
            self.rules.insert(0, rule)
        else:
            self.rules.append(rule)
        self._save()

    def container_exists(self, name: str, exists: bool = True) -> None:
        """The engine holds a running container `name` (or none), whatever the scripted `docker inspect` answers:
        an inspect that fails or is cut off then says nothing about it, as on a real engine."""
        self.containers[name] = exists
        self._save()

    @property
    def env(self) -> dict[str, str]:
        # The variables point at the fakes too, so a DOCKER/KUBECTL/KIND in the caller's
        # environment never reaches a real engine or cluster.
        return {"FAKE_TOOLS_DIR": str(self.home), "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
                **{tool.upper(): str(self.bin / tool) for tool in self.TOOLS}}

    def _log(self) -> list[dict]:
        """Every call the fakes recorded, in order: tool, argv, cwd, parents and start time."""
        log = self.home / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    @property
    def calls(self) -> list[tuple[str, list[str]]]:
        return [(entry["tool"], entry["argv"]) for entry in self._log()]

    @property
    def parents(self) -> list[list[list[str]] | None]:
        """For each call in `calls`, the argv of its parent processes, nearest first (None where unknown)."""
        return [entry.get("parents") for entry in self._log()]

    @property
    def times(self) -> list[float]:
        """When each call in `calls` started (time.time()), in the same order."""
        return [start for _, _, start, _ in self.spans]

    @property
    def spans(self) -> list[tuple[str, list[str], float, float | None]]:
        """Each call in `calls` as (tool, argv, start, end), read in one pass over the logs; end (time.time()) is
        None for a call still running or killed."""
        log = self.home / "ends.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        ended = {entry["call"]: entry["at"] for entry in (json.loads(line) for line in lines if line.strip())}
        return [(entry["tool"], entry["argv"], entry.get("at", 0.0), ended.get(entry.get("call")))
                for entry in self._log()]

    @property
    def folders(self) -> list[str]:
        """The working folder of each call in `calls`, in the same order (a script may `cd` before a step)."""
        return [entry["cwd"] for entry in self._log()]


@pytest.fixture
def fake_tools(tmp_path) -> FakeTools:
    return FakeTools(tmp_path / "fake-tools")


@pytest.fixture
def run_bash():
    """`run_bash(path, args, env=..., timeout=...)` -> Finished(returncode, stdout, stderr, seconds)."""
    return run_script


@pytest.fixture
def kit():
    """The stand-in collaborators by name: RecordingAlerter, MailAlerter, Rule, http_probe."""
    from types import SimpleNamespace

    return SimpleNamespace(RecordingAlerter=RecordingAlerter, MailAlerter=MailAlerter, Rule=Rule, http_probe=http_probe)
