"""A run's temporary files live in its own scratch folder and are gone when it ends."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from mlops_katas import scratch

from .reaping import reaped
from .test_plugin import SOLVED

LEAKY_TEST = '''
import tempfile
from pathlib import Path
from mod import answer

def test_leaks_a_temporary_folder():
    folder = tempfile.mkdtemp(prefix="leaked-by-a-library-")
    Path(folder, "MLmodel").write_text("x")
    print("LEAKED", folder)
    assert answer() == 42
'''


def test_a_library_that_leaks_temporary_folders_leaves_nothing_after_the_run(checkout):
    checkout.day("day98", {"mod.py": SOLVED, "test_mod.py": LEAKY_TEST})
    done = checkout.pytest("katas/day98", "-s")
    assert done.returncode == 0, done.stdout + done.stderr
    leaked = Path(done.stdout.split("LEAKED ", 1)[1].split()[0])
    assert scratch.system_tmp() in leaked.parents, "the run's temporary files go under the system temp folder"
    assert not leaked.exists(), "the run's scratch folder (and what leaked into it) is removed at its end"


def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, timeout=30, check=True)
    root = scratch.system_tmp() / "katas-scratch"
    root.mkdir(parents=True, exist_ok=True)
    dead = Path(tempfile.mkdtemp(prefix=f"{finished.stdout.strip()}-", dir=root))
    (dead / "left-over").write_text("x")
    removed = scratch.reap()
    assert reaped(dead.name, removed, lambda: not dead.exists()) and not dead.exists(), f"not reaped: {removed}"
