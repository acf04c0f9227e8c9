"""A server binary started on loopback for a test (redis-server, prometheus, alertmanager).

Each server gets its own folder under `<tempdir>/mlops-katas-servers/<kind>/`, holding
its data, config, log and `server.json` naming the pytest process that owns it. Every
process it starts carries the folder in the environment variable `LABEL_ENV`, its
label, so a run killed outright is cleaned up by the next one: `reap()` kills the
processes of folders whose owner is gone and deletes the folders.

Subclasses say how to build the command line (`command(port)`) and when the server
is ready (`answers()`); the lifetime, the retry on a port taken between choosing and
binding it, the log tail in every error and the teardown live here, once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..scratch import alive, stat_fields, system_tmp
from .http_server import free_port

LABEL_ENV = "MLOPS_KATAS_SERVER"
STOP_WAIT_S = 10.0
POLL_S = 0.05
LOG_TAIL_LINES = 40
START_ATTEMPTS = 3
PORT_TAKEN = ("already in use", "address in use")


class ServerFailed(Exception):
    """The server exited or never became ready; the message carries its log tail."""


def servers_root(kind: str) -> Path:
    return _root() / kind


def _root() -> Path:
    return system_tmp() / "mlops-katas-servers"


class LocalServer:
    """`with Server() as s:` starts, waits until ready (with a deadline) and always stops.

    `kind` names the folder and the messages; `ready_wait_s` bounds the wait.
    """

    kind = "server"
    ready_wait_s = 30.0
    host = "127.0.0.1"

    def __init__(self) -> None:
        base = servers_root(self.kind)
        base.mkdir(parents=True, exist_ok=True)
        self.dir = new_folder(base)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    # --- what a subclass says ------------------------------------------------------
    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    # --- lifetime ------------------------------------------------------------------
    @property
    def label(self) -> str:
        return str(self.dir)

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(the server wrote no log)"
        return "\n".join(text.strip().splitlines()[-lines:]) or "(the server log is empty)"

    def start(self) -> "LocalServer":
        for attempt in range(1, START_ATTEMPTS + 1):
            self._launch()
            try:
                self._wait_ready()
                return self
            except ServerFailed:
                port_taken = any(words in self.log_tail().lower() for words in PORT_TAKEN)
                self.stop()
                if not port_taken or attempt == START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        self.port = free_port()
        env = {**os.environ, LABEL_ENV: self.label}
        with open(self.log_path, "ab") as log:
            # Its own session: stop() signals the whole process group.
            self.proc = subprocess.Popen(self.command(self.port), cwd=self.dir, env=env,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        write_owner(self.dir, server_pid=self.proc.pid, port=self.port)

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_wait_s
        while True:
            if self.proc.poll() is not None:
                raise ServerFailed(f"{self.kind} exited with code {self.proc.returncode} before it was "
                                   f"ready; last log lines:\n{self.log_tail()}")
            if self.answers():
                return
            if time.monotonic() > deadline:
                raise ServerFailed(f"{self.kind} was not ready within {self.ready_wait_s:g} s; "
                                   f"last log lines:\n{self.log_tail()}")
            time.sleep(POLL_S)

    def stop(self) -> None:
        """SIGTERM to the group, wait, then SIGKILL whatever still carries the label."""
        if self.proc is not None:
            signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_WAIT_S)
            self.proc = None
        kill_labelled(LABEL_ENV, self.label)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, *exc) -> None:
        self.remove()


def new_folder(base: Path) -> Path:
    """A server's folder, owned by this process from the moment it exists: a reaper in another
    process must not take it for a dead run's while the server is still to be started."""
    folder = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=base))
    write_owner(folder)
    return folder


def write_owner(folder: Path, **server) -> None:
    """`server.json`: the owning pytest process and, once started, the server's pid and port."""
    (folder / "server.json").write_text(json.dumps({"owner_pid": os.getpid(), **server}))


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def labelled_pids(label_env: str, label: str) -> list[int]:
    """Processes whose environment carries `label_env=label`, or whose working folder is
    the server's folder `label` (redis-server overwrites its environment with its process
    title; the folder it works in stays); empty where there is no /proc."""
    needle = f"{label_env}={label}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (needle in (entry / "environ").read_bytes().split(b"\0")
                    or os.readlink(entry / "cwd") == label):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return [pid for pid in found if pid != os.getpid()]


def _running(pid: int) -> bool:
    """True while any thread of `pid` has not exited. A killed leader loses its label (its
    cwd) before its last thread closes the process's sockets, so the label alone cannot
    say the port is free; a zombie nobody reaps counts as exited."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    return any(stat_fields(task / "stat")[:1] not in ([], ["Z"], ["X"]) for task in tasks)


def kill_labelled(label_env: str, label: str) -> None:
    killed = labelled_pids(label_env, label)
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline and (labelled_pids(label_env, label)
                                           or any(_running(pid) for pid in killed)):
        time.sleep(POLL_S)


def reap_folders(base: Path, label_env: str) -> list[str]:
    """Kill and delete the servers under `base` whose pytest process is gone; returns their names."""
    removed: list[str] = []
    if not base.is_dir():
        return removed
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            owner = json.loads((folder / "server.json").read_text())["owner_pid"]
        except (OSError, ValueError, KeyError):
            owner = None
        if owner is not None and alive(owner):
            continue
        if owner is None and time.time() - folder.stat().st_mtime < 60:
            continue  # being created right now by a run that has not written server.json yet
        kill_labelled(label_env, str(folder))
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def reap() -> list[str]:
    """Reap every kind of local server left by killed runs."""
    root = _root()
    if not root.is_dir():
        return []
    return [f"{kind.name}/{name}" for kind in sorted(root.iterdir()) if kind.is_dir()
            for name in reap_folders(kind, LABEL_ENV)]
