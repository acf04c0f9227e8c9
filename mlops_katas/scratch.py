"""A temporary folder per test run, removed at its end, for everything that forgets to clean up.

MLflow leaves a folder of model metadata in the system's temporary folder for each
model it logs; learner code and libraries leak others. During a run, `tempfile` (and
child processes, through TMPDIR) point into the run's own scratch folder, removed when
the run ends; a killed run's folder is removed by the next run. What must outlive a
run (server folders that the next run reaps, caches) uses `system_tmp()`, the folder
that was in force before.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

# Child processes of a run (the self-check's runs, a test's subprocess) inherit TMPDIR
# pointing at the run's scratch folder; this variable tells them the real one.
SYSTEM_TMP_ENV = "MLOPS_KATAS_SYSTEM_TMP"
_SYSTEM_TMP = Path(os.environ.get(SYSTEM_TMP_ENV) or tempfile.gettempdir())
_RUN_FOLDER = re.compile(r"^(\d+)-")
_previous: tuple[str | None, str | None] | None = None
_folder: Path | None = None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stat_fields(path: str | Path) -> list[str]:
    """The fields of a `/proc/<pid>[/task/<tid>]/stat` file after the command name, which may
    hold spaces and ')': [0] is the state, [19] the start time; [] where it cannot be read."""
    try:
        with open(path, encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def system_tmp() -> Path:
    """The temporary folder shared by runs (where reapable servers and caches live)."""
    return _SYSTEM_TMP


def _root() -> Path:
    return _SYSTEM_TMP / "katas-scratch"  # short: unix socket paths under it must stay < 108 bytes


def reap() -> list[str]:
    """Remove the scratch folders of runs whose process is gone."""
    removed = []
    if _root().is_dir():
        for folder in _root().iterdir():
            match = _RUN_FOLDER.match(folder.name)
            if match and not alive(int(match.group(1))):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
    return removed


def enter() -> Path:
    """Point `tempfile` and TMPDIR at a fresh folder for this run."""
    global _previous, _folder
    if _folder is not None:
        return _folder
    reap()
    _root().mkdir(parents=True, exist_ok=True)
    _folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=_root()))
    _previous = (tempfile.tempdir, os.environ.get("TMPDIR"))
    tempfile.tempdir = str(_folder)
    os.environ["TMPDIR"] = str(_folder)
    os.environ[SYSTEM_TMP_ENV] = str(_SYSTEM_TMP)
    return _folder


def leave() -> None:
    """Restore the previous temporary folder and remove this run's."""
    global _previous, _folder
    if _folder is None or _previous is None:
        return
    tempfile.tempdir, tmpdir = _previous
    if tmpdir is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = tmpdir
    shutil.rmtree(_folder, ignore_errors=True)
    _previous = _folder = None
