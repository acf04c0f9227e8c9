"""Day 06 fixtures: run your scripts as real processes, a recording fake `docker`, a real HTTP server.

The fake `docker` stands in for the engine only in the unit tier, to check your script's
own decisions (the order of build, stop, run, health, rm, start); the docker tier runs
`deploy.sh` against the real engine. `curl` and the HTTP server are always real.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops_katas.infra.http_server import ControlledServer
from mlops_katas.shell import run_script

TIMESTAMP = re.compile(r"^\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")
STAMP = re.compile(r"^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,]\d+)?\s?(Z|UTC|[+-]\d{2}:?\d{2})?")
# A POSIX TZ 14 hours east of UTC (no tzdata needed): a script that stamps local time shows it.
FAR_TZ = "XYZ-14"

FAKE_DOCKER = r'''#!{python} -S
"""A fake docker CLI: records each call, keeps a tiny engine state in JSON files."""
import json, os, sys, time

home = os.environ["FAKE_DOCKER_DIR"]
state_path = os.path.join(home, "state.json")
with open(state_path) as f:
    state = json.load(f)
argv = sys.argv[1:]
with open(os.path.join(home, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"argv": argv, "t": time.time()}}) + "\n")
# Options that take a value, per subcommand, as the real CLI parses them: `-f` is a value
# (the Dockerfile) for build but a flag (force) for rm, `-t` a tag for build, a value (the
# grace time) for stop and a flag (tty) for run.
VALUE_OPTIONS = {{
    "build": {{"-t", "--tag", "-f", "--file", "--build-arg", "--label", "--platform", "--target", "--network",
               "--progress", "--iidfile", "--cache-from", "--secret", "--ssh", "--add-host", "--shm-size"}},
    "run": {{"--name", "-p", "--publish", "-l", "--label", "-e", "--env", "--env-file", "--network", "--restart",
             "-u", "--user", "--platform", "-v", "--volume", "--mount", "-w", "--workdir", "--entrypoint", "-m",
             "--memory", "--cpus", "--health-cmd", "--label-file", "--add-host", "--pull", "-h", "--hostname",
             "--stop-timeout", "--log-driver", "--log-opt", "--cidfile"}},
    "stop": {{"-t", "--time", "--timeout", "-s", "--signal"}},
    "start": {{"--detach-keys"}},
    "rm": set(),
}}


def done(code, out="", err=""):
    with open(state_path, "w") as f:
        json.dump(state, f)
    if out:
        print(out)
    if err:
        print(err, file=sys.stderr)
    sys.exit(code)


def parse(sub, args):
    """options (value lists), flags and the positional rest, like the real CLI: `--opt=value`,
    `--` ending the options, and bundled short flags (`-fv`) are understood."""
    value_options = VALUE_OPTIONS.get(sub, set())
    options, flags, rest = {{}}, set(), []
    i = 0
    while i < len(args):
        arg = args[i]
        if rest:
            rest.append(arg)
        elif arg == "--":
            rest.extend(args[i + 1:])
            break
        elif arg.startswith("-") and "=" in arg and arg.split("=", 1)[0] in value_options:
            key, value = arg.split("=", 1)
            options.setdefault(key, []).append(value)
        elif arg in value_options:
            i += 1
            options.setdefault(arg, []).append(args[i] if i < len(args) else "")
        elif arg.startswith("--"):
            flags.add(arg)
        elif arg.startswith("-") and len(arg) > 1:
            flags.update(f"-{{letter}}" for letter in arg[1:])
        else:
            rest.append(arg)
        i += 1
    return options, flags, rest


def serving(port):
    return next((n for n, c in state["containers"].items() if c["running"] and c["port"] == port), None)


if not argv:
    done(1, err="fake docker: no subcommand")
sub, args = argv[0], argv[1:]
options, flags, rest = parse(sub, args)
containers = state["containers"]
if sub in state["fail"]:
    name = (options.get("--name") or [""])[-1]
    if sub == "run" and name and name not in containers:
        # Like the real engine: `run` creates the container, then starting it fails; it stays, stopped.
        state["next_id"] += 1
        containers[name] = {{"id": f"id{{state['next_id']}}", "image": rest[0] if rest else "", "port": None,
                            "running": False, "labels": {{}}, "auto_remove": False, "stops": 0}}
    done(state.get("fail_codes", {{}}).get(sub, 1), err=f"fake docker: {{sub}} failed on purpose")
if sub == "build":
    tags = options.get("-t", []) + options.get("--tag", [])
    if not tags or not rest:
        done(1, err="fake docker: build needs -t TAG and a context")
    state["images"] = sorted(set(state["images"]) | set(tags))
    done(0, out="Successfully built")
if sub == "run":
    if not rest or rest[0] not in state["images"]:
        done(125, err=f"Unable to find image {{rest[:1]}} locally")
    name = (options.get("--name") or [""])[-1]
    if not name or name in containers:
        done(125, err=f"Conflict: the container name {{name!r}} is already in use or missing")
    publish = options.get("-p", []) + options.get("--publish", [])
    port = int(publish[0].split(":")[-2]) if publish and ":" in publish[0] else None
    if port is not None and serving(port):
        done(125, err=f"Bind for 127.0.0.1:{{port}} failed: port is already allocated")
    labels = dict(l.split("=", 1) if "=" in l else (l, "") for l in options.get("-l", []) + options.get("--label", []))
    # Without --detach the real CLI stays attached to the container until it exits: the deploy would hang.
    detached = bool(flags & {{"-d", "--detach", "--detach=true"}})
    state["next_id"] += 1
    containers[name] = {{"id": f"id{{state['next_id']}}", "image": rest[0], "port": port, "running": True,
                        "labels": labels, "auto_remove": "--rm" in flags, "detached": detached, "stops": 0}}
    done(0, out=containers[name]["id"])
if sub in ("stop", "start", "rm"):
    for ref in rest:
        c = containers.get(ref)
        if c is None:
            done(1, err=f"Error: No such container: {{ref}}")
        if sub == "stop":
            c["running"] = False
            c["stops"] += 1
            if c["auto_remove"]:
                del containers[ref]
        elif sub == "start":
            holder = serving(c["port"]) if c["port"] else None
            if holder and holder != ref:
                done(1, err=f"Bind for 127.0.0.1:{{c['port']}} failed: port is already allocated")
            c["running"] = True
        else:
            if c["running"] and not flags & {{"-f", "--force"}}:
                done(1, err="You cannot remove a running container. Stop it first")
            del containers[ref]
    done(0, out="\n".join(rest))
done(1, err=f"fake docker: unsupported subcommand {{sub!r}}")
'''


@pytest.fixture
def server():
    with ControlledServer("healthy") as srv:
        yield srv


@pytest.fixture
def redirecting_server():
    """A real server on loopback whose /health redirects (302) to a login page answering 200,
    as a proxy in front of a dead service may."""
    with ControlledServer("redirect") as srv:
        yield srv


def first_on_path(folder: Path, path: str | None = None) -> str:
    """`path` (this process's PATH when None) with `folder` in front: how each fake here shadows the real tool."""
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '') if path is None else path}"


class FakeDocker:
    """The recording fake: `calls` (argv lists), `containers`, `fail(sub)` to make a subcommand fail,
    `reset()` to start again from an empty engine (the call log stays)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.bin = home / "bin"
        self.bin.mkdir(parents=True)
        script = self.bin / "docker"
        script.write_text(FAKE_DOCKER.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.reset()

    def reset(self) -> None:
        self._write({"containers": {}, "images": [], "fail": [], "fail_codes": {}, "next_id": 0})

    def _read(self) -> dict:
        return json.loads((self.home / "state.json").read_text())

    def _write(self, state: dict) -> None:
        (self.home / "state.json").write_text(json.dumps(state))

    @property
    def path(self) -> Path:
        return self.bin / "docker"

    @property
    def env(self) -> dict[str, str]:
        # DOCKER=docker: a DOCKER set in the caller's environment must not reach the real engine.
        return {"FAKE_DOCKER_DIR": str(self.home), "DOCKER": "docker",
                "PATH": first_on_path(self.bin)}

    def fail(self, sub: str, code: int = 1) -> None:
        """Make every later `docker sub` fail with exit status `code`."""
        state = self._read()
        state["fail"].append(sub)
        state["fail_codes"][sub] = code
        self._write(state)

    def add_running(self, name: str, image: str, port: int) -> str:
        state = self._read()
        state["next_id"] += 1
        state["images"].append(image)
        state["containers"][name] = {"id": f"id{state['next_id']}", "image": image, "port": port, "running": True,
                                     "labels": {}, "auto_remove": False, "stops": 0}
        self._write(state)
        return state["containers"][name]["id"]

    @property
    def containers(self) -> dict:
        return self._read()["containers"]

    def timed_calls(self) -> list[tuple[list[str], float]]:
        log = self.home / "calls.jsonl"
        if not log.exists():
            return []
        entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        return [(entry["argv"], entry["t"]) for entry in entries]

    @property
    def calls(self) -> list[list[str]]:
        return [argv for argv, _ in self.timed_calls()]


LOOPBACK_CURL = r'''#!{python} -S
"""A `curl` first on PATH: records its arguments, sends what was meant for 127.0.0.1:8000 to the test server."""
import json, os, sys, time

args = sys.argv[1:]
with open(os.environ["LOOPBACK_CURL_CALLS"], "a") as f:
    f.write(json.dumps({{"argv": args, "t": time.time()}}) + "\n")
target = os.environ["LOOPBACK_CURL_TARGET"]
for default in ("http://127.0.0.1:8000", "127.0.0.1:8000"):
    args = [target + arg[len(default):] if arg.startswith(default) else arg for arg in args]
os.execv(os.environ["LOOPBACK_CURL_REAL"], ["curl", *args])
'''


class LoopbackCurl:
    """A `curl` first on PATH that records its calls and sends requests for http://127.0.0.1:8000
    (the documented default) to `server`, so a default port is checked without binding it.
    `env(base)` puts it first on base's PATH; `calls` lists the argument lists curl was given,
    `health_gaps` the seconds between two calls for a /health URL."""

    def __init__(self, home: Path, server: ControlledServer) -> None:
        real = shutil.which("curl")
        if real is None:
            pytest.skip("curl is not installed")
        self.bin = home / "bin"
        self.bin.mkdir(parents=True)
        script = self.bin / "curl"
        script.write_text(LOOPBACK_CURL.format(python=sys.executable))
        script.chmod(0o755)
        self.log = home / "calls.jsonl"
        self._vars = {"LOOPBACK_CURL_CALLS": str(self.log), "LOOPBACK_CURL_TARGET": server.url,
                      "LOOPBACK_CURL_REAL": real}

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        base = dict(base or {})
        return {**base, **self._vars, "PATH": first_on_path(self.bin, base.get("PATH"))}

    def timed_calls(self) -> list[tuple[list[str], float]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [(entry["argv"], entry["t"]) for entry in entries]

    @property
    def calls(self) -> list[list[str]]:
        return [argv for argv, _ in self.timed_calls()]

    @property
    def health_gaps(self) -> list[float]:
        times = [t for argv, t in self.timed_calls() if any("/health" in arg for arg in argv)]
        return [later - earlier for earlier, later in zip(times, times[1:])]


@pytest.fixture
def loopback_curl(tmp_path, server) -> LoopbackCurl:
    return LoopbackCurl(tmp_path / "loopback-curl", server)


@pytest.fixture
def run_bash():
    """`run_bash(path, args, env=..., cwd=..., timeout=...)` -> Finished(returncode, stdout, stderr, seconds)."""
    return functools.partial(run_script, hint="is there a loop that never ends, or a curl without --max-time?")


def _run_until(argv, until=lambda: False, *, seconds, env=None, cwd=None) -> SimpleNamespace:
    """Run a script that may loop for ever, in a session of its own, until `until()` holds, it exits, or `seconds`
    pass; then kill its whole process group (its curl and sleep children too)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + seconds
        while proc.poll() is None and not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        still_running = proc.poll() is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
    return SimpleNamespace(still_running=still_running, returncode=proc.returncode, stdout=out, stderr=err)


@pytest.fixture
def run_until():
    """`run_until(argv, until, seconds=..., env=..., cwd=...)` -> (still_running, returncode, stdout, stderr), for
    a script that only stops when killed (a monitor loop) or that must be stopped once `until()` has seen enough."""
    return _run_until


@pytest.fixture
def timestamp():
    """A log line starts with a date and time, e.g. 2026-01-31T12:00:00Z or [2026-01-31 12:00:00]."""
    return TIMESTAMP


def stamp_instant(line: str) -> datetime | None:
    """The moment a log line's leading timestamp names: `Z`, `UTC` or an offset are honoured,
    a timestamp without a zone is read as UTC (the README asks for UTC)."""
    found = STAMP.match(line)
    if not found:
        return None
    day, clock, zone = found.groups()
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=timezone.utc)
    if zone and zone not in ("Z", "UTC"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


class UtcStamps:
    """`utc_stamped(stdout, started, finished)`: the stdout lines whose timestamp is missing or is
    not the UTC time between `started` and `finished` (time.time() values, 2 minutes of slack).
    `utc_stamped.env` runs a script 14 hours east of UTC, where local time is never UTC."""

    env = {"TZ": FAR_TZ}

    def __call__(self, stdout: str, started: float, finished: float) -> list[str]:
        low = datetime.fromtimestamp(started, timezone.utc) - timedelta(minutes=2)
        high = datetime.fromtimestamp(finished, timezone.utc) + timedelta(minutes=2)
        lines = [line for line in stdout.splitlines() if line.strip()]
        return [line for line in lines if not (moment := stamp_instant(line)) or not low <= moment <= high]

    @staticmethod
    def new_lines(before: str, after: str, *, ignoring: str | None = None) -> list[str]:
        """The lines of stdout `after` that `before` did not log, their leading timestamps aside: the same
        run made twice logs the same lines at other moments. Lines holding `ignoring` do not count."""
        def unstamped(line: str) -> str:
            return re.sub(r"^\[?\d{4}-\d{2}-\d{2}[T ][\d:.,]+(?:Z|UTC|[+-]\d{2}:?\d{2})?\]?\s*", "", line)

        def counted(stdout: str) -> list[str]:
            return [line for line in stdout.splitlines() if line.strip() and not (ignoring and ignoring in line)]

        seen = {unstamped(line) for line in counted(before)}
        return [line for line in counted(after) if unstamped(line) not in seen]


@pytest.fixture
def utc_stamped() -> UtcStamps:
    return UtcStamps()


@pytest.fixture
def stamp_moment():
    """`stamp_moment(line)` -> the aware UTC datetime a log line's leading timestamp names, or None."""
    return stamp_instant


class EveningDate:
    """A `date` first on PATH that answers as if it were 22:30 UTC on 15 June 2030 (plus the seconds since
    the test began), so a stamp taken with `date` shows an evening hour whatever the real time.
    `env(base)` puts it first on base's PATH; `off_the_clock(stdout, started, finished)` lists the lines whose
    stamp is in neither that evening nor the real time of the run (bash's own `printf '%(...)T'` reads the real
    clock), from time.time() values, with 2 minutes of slack."""

    EVENING = datetime(2030, 6, 15, 22, 30, tzinfo=timezone.utc)

    def __init__(self, folder: Path) -> None:
        real = shutil.which("date")
        if real is None:
            pytest.skip("date is not installed")
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        self.offset = int(self.EVENING.timestamp() - datetime.now(timezone.utc).timestamp())
        (self.bin / "date").write_text(
            f'#!/bin/sh\nexec "{real}" -d "@$(( $("{real}" +%s) + {self.offset} ))" "$@"\n')
        (self.bin / "date").chmod(0o755)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        base = dict(base or {})
        return {**base, "PATH": first_on_path(self.bin, base.get("PATH"))}

    def off_the_clock(self, stdout: str, started: float, finished: float) -> list[str]:
        windows = [(datetime.fromtimestamp(started + shift, timezone.utc) - timedelta(minutes=2),
                    datetime.fromtimestamp(finished + shift, timezone.utc) + timedelta(minutes=2))
                   for shift in (self.offset, 0)]
        lines = [line for line in stdout.splitlines() if line.strip()]
        return [line for line in lines
                if not (moment := stamp_instant(line)) or not any(low <= moment <= high for low, high in windows)]


@pytest.fixture
def evening_date(tmp_path) -> EveningDate:
    return EveningDate(tmp_path / "evening-date")


class RecordingSleep:
    """A `sleep` first on PATH that writes down how long the script asks to wait, then waits that long
    (or, with `waits=False`, returns at once: for defaults too long to wait out)."""

    def __init__(self, folder: Path, *, waits: bool = True) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        self.asked = folder / "sleeps"
        then = f'exec "{shutil.which("sleep")}" "$@"\n' if waits else ""
        (self.bin / "sleep").write_text(f'#!/bin/sh\necho "$*" >> "{self.asked}"\n{then}')
        (self.bin / "sleep").chmod(0o755)

    def path(self, path: str) -> str:
        """`path` with this `sleep` in front."""
        return first_on_path(self.bin, path)

    def requests(self) -> list[str]:
        """The arguments of every `sleep` the script ran, in order ("0.3", "1s", ...)."""
        return self.asked.read_text().split() if self.asked.exists() else []


@pytest.fixture
def recording_sleep(tmp_path):
    """`recording_sleep(waits=True)` -> RecordingSleep, put first on PATH through `.path(...)`."""
    return functools.partial(RecordingSleep, tmp_path / "recording-sleep")


RECORDING_MV = r'''#!{python} -S
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps({{"cwd": os.getcwd(), "argv": sys.argv[1:]}}) + "\n")
os.execv({real!r}, ["mv", *sys.argv[1:]])
'''


class RecordingMv:
    """An `mv` first on PATH that writes down each call (its arguments and working directory), then runs the real
    one. `moves_onto(path)` lists the sources of every call whose destination is `path`, as absolute paths."""

    def __init__(self, folder: Path) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        self.log = folder / "calls.jsonl"
        (self.bin / "mv").write_text(RECORDING_MV.format(python=sys.executable, log=str(self.log),
                                                         real=shutil.which("mv")))
        (self.bin / "mv").chmod(0o755)

    def path(self, path: str) -> str:
        """`path` with this `mv` in front."""
        return first_on_path(self.bin, path)

    def moves_onto(self, path: Path) -> list[str]:
        calls = [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []
        sources = []
        for call in calls:
            words = call["argv"]
            cut = words.index("--") if "--" in words else len(words)
            operands = [w for w in words[:cut] if not w.startswith("-")] + words[cut + 1:]
            absolute = [os.path.join(call["cwd"], word) for word in operands]
            if len(absolute) >= 2 and os.path.realpath(absolute[-1]) == os.path.realpath(path):
                sources += absolute[:-1]
        return sources


@pytest.fixture
def recording_mv(tmp_path):
    """RecordingMv, put first on PATH through `.path(...)`."""
    return RecordingMv(tmp_path / "recording-mv")


class PrivateProc:
    """Runs a script where /proc/meminfo and /proc/loadavg are files the test writes, bound over the real ones in
    a private mount namespace (`unshare -rm`, no privilege needed), so a check's memory and load are known.
    `readings` lists (meminfo, loadavg) texts: the first holds at the start, and every `sleep` the script runs
    (the fake one, first on `path(...)`) moves to the next, so each check of a loop reads its own; the last stays."""

    def __init__(self, folder: Path, script: Path, readings: list[tuple[str, str]]) -> None:
        folder.mkdir(parents=True)
        self.meminfo, self.loadavg = folder / "meminfo", folder / "loadavg"
        for n, (mem, load) in enumerate(readings):
            (folder / f"{n}.meminfo").write_text(mem)
            (folder / f"{n}.loadavg").write_text(load)
        self.meminfo.write_text(readings[0][0])
        self.loadavg.write_text(readings[0][1])
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", f'mount --bind "{self.meminfo}" /proc/meminfo'],
                               capture_output=True, text=True, timeout=10) if shutil.which("unshare") else None
        if probe is None or probe.returncode != 0:
            pytest.skip("this machine gives no private mount namespace (`unshare -rm` then `mount --bind` over "
                        f"/proc/meminfo failed: {probe.stderr.strip() if probe else 'no unshare'})")
        self.script = folder / "in-private-proc.sh"
        self.script.write_text(
            "exec unshare -rm bash -c 'mount --bind \"$1\" /proc/meminfo && mount --bind \"$2\" /proc/loadavg "
            f'&& shift 2 && exec bash "$@"\' _ "{self.meminfo}" "{self.loadavg}" "{script}" "$@"\n')
        self.bin = folder / "bin"
        self.bin.mkdir()
        counter = folder / "sleeps"
        (self.bin / "sleep").write_text(
            "#!/bin/sh\n"
            f'n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 ))\n'
            f'echo "$n" > "{counter}"\n'
            f'if [ -f "{folder}/$n.meminfo" ]; then\n'
            f'  cat "{folder}/$n.meminfo" > "{self.meminfo}"\n'
            f'  cat "{folder}/$n.loadavg" > "{self.loadavg}"\n'
            "fi\n")
        (self.bin / "sleep").chmod(0o755)

    def path(self, path: str | None = None) -> str:
        """`path` with the reading-moving `sleep` in front."""
        return first_on_path(self.bin, path)


@pytest.fixture
def private_proc(tmp_path):
    """`private_proc(script, readings)` -> PrivateProc: give `run_bash` its `.script` and `.path(...)`."""
    return functools.partial(PrivateProc, tmp_path / "private-proc")


@pytest.fixture
def fake_docker(tmp_path) -> FakeDocker:
    return FakeDocker(tmp_path / "fake-docker")
