"""The maintainer scripts under `scripts/` run pytest as a child of their own interpreter.

Started as `scripts/x` their `#!/usr/bin/env python3` may find a Python without the
project's pytest plugins (pytest-timeout, pytest-docker...), and every child run then dies
in collection: a measurement would report each one as "not caught" instead of failing.
`use_project_python(root)` re-runs the script under the checkout's `.venv` when it exists
and is not already the interpreter.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def use_project_python(root: Path) -> None:
    venv = Path(root) / ".venv"
    python = venv / "bin" / "python"
    if python.exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(str(python), [str(python), *sys.argv])
