"""A real `mlflow server` process on loopback: started, waited on, stopped, never left behind.

The server gets its own folder under `<tempdir>/mlops-katas-mlflow/`: a SQLite
backend store, the artifact destination it proxies (`--artifacts-destination`, so
clients see `mlflow-artifacts:/` URIs as they would against a team server), its log,
and `server.json` naming the pytest process that owns it (written when the folder is made). Every process of the server
(the `mlflow` command and the uvicorn it starts) carries the folder in an environment
variable, its label. A run killed outright cannot stop its server; the next run that
starts one finds folders whose owner is gone, kills the processes carrying their label
and deletes them (`reap()`).

MLflow's background job runner (huey consumers, used by GenAI features) is switched
off: it outlives a killed `mlflow` command and the katas do not need it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..scratch import system_tmp
from . import local_server

LABEL_ENV = "MLOPS_KATAS_MLFLOW_SERVER"
READY_WAIT_S = 120.0  # a cold start imports all of MLflow; on a busy 2-core machine that takes a while
STOP_WAIT_S = 10.0
POLL_S = 0.2
LOG_TAIL_LINES = 60
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it


class ServerFailed(Exception):
    """The server exited or never answered; the message carries its log tail."""


def servers_root() -> Path:
    return system_tmp() / "mlops-katas-mlflow"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """`start()` launches without waiting; `wait_ready()` blocks until `GET /health` answers."""

    def __init__(self, root: Path | None = None, template: Path | None = None) -> None:
        """`template`: an empty migrated store to start from, if it exists (saves the migrations)."""
        base = servers_root()
        base.mkdir(parents=True, exist_ok=True)
        self.dir = Path(root) if root else local_server.new_folder(base)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._ready = False
        self._attempts = 0
        self._owned = True
        if template is not None and template.is_file() and not self.backend_db.exists():
            from .mlflow_env import copy_template

            copy_template(template, self.backend_db, "mlflow-artifacts:/0")

    @classmethod
    def attach(cls, folder: Path) -> MlflowServer:
        """The server another process started in `folder` and owns: this one only uses it, never
        starts or stops it (the self-check shares one server among the day runs of a worker)."""
        server = cls(root=folder)
        server.port = json.loads((server.dir / "server.json").read_text())["port"]
        server._owned = False
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    @property
    def backend_db(self) -> Path:
        return self.dir / "backend.db"

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

    @property
    def label(self) -> str:
        return str(self.dir)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(the server wrote no log)"
        return "\n".join(text.strip().splitlines()[-lines:]) or "(the server log is empty)"

    def start(self) -> None:
        if self.proc is not None or not self._owned:
            return
        self._attempts += 1
        self.port = free_port()
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.backend_db}",
            "--artifacts-destination", str(self.artifacts_dir),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]
        env = {
            **os.environ,
            LABEL_ENV: self.label,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            env.pop(name, None)
        with open(self.log_path, "ab") as log:
            # Its own session: stop() signals the whole process group, uvicorn included.
            self.proc = subprocess.Popen(command, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        local_server.write_owner(self.dir, server_pid=self.proc.pid, port=self.port)

    def wait_ready(self, wait_s: float = READY_WAIT_S) -> None:
        if self._ready:
            return
        self.start()
        deadline = time.monotonic() + wait_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                if self._attempts < START_ATTEMPTS and "already in use" in self.log_tail():
                    self.start()
                    continue
                raise ServerFailed(f"mlflow server exited with code {code} before it answered; "
                                   f"last log lines:\n{self.log_tail()}")
            if self.answers():
                self._ready = True
                return
            if time.monotonic() > deadline:
                raise ServerFailed(f"mlflow server did not answer GET /health within {wait_s:g} s; "
                                   f"last log lines:\n{self.log_tail()}")
            time.sleep(POLL_S)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM to the group, wait, then SIGKILL whatever still carries the label."""
        if not self._owned:
            return
        if self.proc is not None:
            local_server.signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                local_server.signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_WAIT_S)
            self.proc = None
        local_server.kill_labelled(LABEL_ENV, self.label)
        self._ready = False

    def remove(self) -> None:
        if not self._owned:
            return
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def labelled_pids(label: str) -> list[int]:
    """Processes whose environment carries `label`; empty where there is no /proc (not Linux)."""
    return local_server.labelled_pids(LABEL_ENV, label)


def reap() -> list[str]:
    """Stop and delete servers whose pytest process is gone; returns the folders removed."""
    return local_server.reap_folders(servers_root(), LABEL_ENV)
