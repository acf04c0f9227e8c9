"""Learner code that hangs, floods or leaks a run ends in one line, never a hung terminal."""

from __future__ import annotations

import time

from .test_plugin import SOLVED

FAST = {"KATAS_IMPORT_TIMEOUT_S": "2", "KATAS_WATCHDOG_GRACE_S": "2", "KATAS_MEMORY_SHARE": "0.05"}
TEST = '''
import pytest
from mod import answer

@pytest.mark.task(taskno=1)
@pytest.mark.timeout(2)
def test_answer_is_42():
    assert answer() == 42, "answer() should return 42"
'''


def run(checkout, module: str, test: str = TEST):
    checkout.day("day98", {"mod.py": module, "test_mod.py": test})
    start = time.monotonic()
    done = checkout.pytest("katas/day98", env=FAST, timeout=90)
    return done, done.stdout + done.stderr, time.monotonic() - start


def test_a_loop_at_import_is_stopped_and_pointed_at(checkout):
    done, output, _ = run(checkout, "while True:\n    pass\n")
    assert done.returncode != 0
    assert "could not be imported" in output and "importing took longer than 2 s" in output, output
    assert "katas/day98/mod.py" in output, "the message names the learner's file"


def test_a_swallowed_timeout_ends_the_run_with_one_line(checkout):
    module = ("def answer():\n    while True:\n        try:\n            while True:\n                pass\n"
              "        except BaseException:\n            pass\n")
    done, output, elapsed = run(checkout, module)
    assert done.returncode != 0 and "caught the timeout" in output, output
    assert elapsed < 60, "the watchdog ends the run soon after the grace period"
    results = (checkout.path / ".katas" / "results" / "day98.json").read_text()
    assert '"fail"' in results and "caught the timeout" in results, "the results still record the failure"


def test_a_left_over_thread_does_not_keep_the_run_alive(checkout):
    module = SOLVED + "import threading\nthreading.Thread(target=threading.Event().wait, name='forgotten').start()\n"
    done, output, elapsed = run(checkout, module)
    assert done.returncode == 0, "the tests passed; the exit code says so"
    assert "forgotten" in output and "still running" in output, output
    assert elapsed < 60


def test_a_huge_print_is_cut_in_the_report(checkout):
    module = "def answer():\n    print('x' * 3_000_000)\n    return 0\n"
    done, output, _ = run(checkout, module)
    assert done.returncode != 0 and "characters cut" in output
    assert len(output) < 100_000, "a 3 MB print must not become a 3 MB report"


def test_a_runaway_allocation_fails_as_out_of_memory(checkout):
    # numpy.empty reserves without touching the pages: the cap is reached at once, even on a
    # loaded machine, where filling gigabytes could outlast a short timeout. numpy is imported
    # inside the call, under a roomy timeout: on a busy machine importing it alone can take
    # longer than the two seconds this file gives an import.
    module = ("def answer():\n    import numpy\n    hog = []\n    while True:\n"
              "        hog.append(numpy.empty(64 * 1024 * 1024, dtype=numpy.uint8))\n")
    done, output, _ = run(checkout, module, TEST.replace("timeout(2)", "timeout(60)"))
    assert done.returncode != 0 and "ran out of memory" in output, output[-2000:]


def test_a_syntax_error_points_at_the_learners_line_and_keeps_the_last_result(checkout):
    done, _, _ = run(checkout, SOLVED)
    assert done.returncode == 0
    (checkout.path / "katas" / "day98" / "mod.py").write_text("def answer()\n    return 42\n")
    done = checkout.pytest("katas/day98", env=FAST, timeout=90)
    output = done.stdout + done.stderr
    assert "katas/day98/mod.py:1: def answer()" in output, output
    assert "test_mod.py:" not in output.split("could not be imported", 1)[1].splitlines()[0]
    results = (checkout.path / ".katas" / "results" / "day98.json").read_text()
    assert '"score": 1' in results and '"status": "error"' in results, "the earlier 1/1 is kept, marked error"
