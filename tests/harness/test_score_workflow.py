"""The workflow forks run to be scored: valid for GitHub, least-privileged, and its
scoring steps work as written when run here against a clean clone."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_katas.tools import find_tool

from .conftest import ROOT
from .test_cli import git

WORKFLOW = ROOT / ".github" / "workflows" / "score.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
TIMEOUT_S = 300


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(job: str) -> list[dict]:
    return workflow()["jobs"][job]["steps"]


def step(job: str, name: str) -> dict:
    return next(s for s in steps(job) if s.get("name", "").startswith(name))


def test_the_workflow_is_valid_for_github_actions():
    tool = find_tool("check-jsonschema")
    assert tool, "check-jsonschema is a dependency of the project"
    done = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflow_reads_only_and_pins_every_action():
    flow = workflow()
    assert flow["permissions"] == {"contents": "read"}, "the default token may only read"
    writers = {name for name, job in flow["jobs"].items() if job.get("permissions", {}).get("contents") == "write"}
    assert writers == {"badge"}, "only the badge job writes, and only to its branch"
    for name, job in flow["jobs"].items():
        assert job.get("timeout-minutes"), f"job {name} needs a timeout"
        for s in job["steps"]:
            if "uses" in s:
                assert PINNED.match(s["uses"]), f"job {name}: {s['uses']} must be pinned to a commit"
    checkouts = [s for s in steps("score") if s.get("uses", "").startswith("actions/checkout@")]
    assert all(s["with"].get("persist-credentials") is False for s in checkouts), "no token left in .git/config"
    assert "concurrency" in flow


@pytest.mark.timeout(TIMEOUT_S)
def test_the_scoring_steps_run_as_written(tmp_path):
    """Clone this repository twice (upstream and an untouched fork) and run the workflow's
    own Score and Job summary commands; the installed interpreter stands in for .venv."""
    for name in ("upstream", "fork"):
        git(tmp_path, "clone", "-q", "--no-hardlinks", str(ROOT), name)
    score = step("score", "Score")
    command = shlex.split(score["run"])
    assert command[:2] == [".venv/bin/katas", "score"], score["run"]
    run = subprocess.run([sys.executable, "-P", "-m", "mlops_katas.cli", *command[1:]],
                         cwd=tmp_path / score["working-directory"], capture_output=True, text=True,
                         timeout=TIMEOUT_S, check=False, env={**os.environ, "COLUMNS": "200"})
    assert run.returncode == 0, run.stdout + run.stderr
    summary_file = tmp_path / "summary.out"
    subprocess.run(["bash", "-c", step("score", "Job summary")["run"]], cwd=tmp_path, timeout=60, check=True,
                   env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary_file)})
    text = summary_file.read_text()
    assert "0/" in text and "not started" in text, "an untouched fork is not started on every day"
    for line in step("score", "Upload results")["with"]["path"].split():
        assert Path(tmp_path / line).is_file(), f"the upload step expects {line}"
