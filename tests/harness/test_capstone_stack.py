"""Day 21's `stack.py`: the by-hand run of the capstone in one command (its stack itself is
exercised by the day's end-to-end tests, which use the same `CapstoneStack`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlops_katas.impl import load_file

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "katas" / "day21" / "stack.py"


def test_stack_py_runs_both_end_to_end_candidates_by_default_and_passes_flags_after_the_dashes():
    stack = load_file(STACK, "harness_day21_stack")
    args = stack.parse_args([])
    assert args.candidates == ["linear", "interactions-by-name"] and args.extra == [] and not args.keep
    args = stack.parse_args(["linear", "--keep", "--", "--rps", "5", "--label", "a=b"])
    assert args.candidates == ["linear"] and args.keep and args.extra == ["--rps", "5", "--label", "a=b"]


def test_stack_py_help_works_from_the_days_folder():
    done = subprocess.run([sys.executable, "stack.py", "--help"], cwd=STACK.parent, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "--keep" in done.stdout, done.stdout + done.stderr
