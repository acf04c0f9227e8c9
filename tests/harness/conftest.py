"""Fixtures for the harness's own tests: a throwaway kata checkout to run pytest in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops_katas.curriculum import find_root

ROOT = find_root(Path(__file__).parent)
RUN_TIMEOUT_S = 120

README = """# Day {n} — {title}

## Tasks

### Task 1 — The only task (`{module}.py`)
Do it.

<details><summary>Hint 1.1</summary>

one

</details>
<details><summary>Hint 1.2</summary>

two

</details>
<details><summary>Hint 1.3</summary>

three

</details>
"""


class FakeCheckout:
    """A minimal repository with the real pytest.ini and conftest.py, and days we write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        shutil.copy(ROOT / "pytest.ini", path / "pytest.ini")
        shutil.copy(ROOT / "conftest.py", path / "conftest.py")
        (path / "katas").mkdir()

    def day(self, name: str, files: dict[str, str], *, module: str = "mod", title: str = "Test day") -> Path:
        folder = self.path / "katas" / name
        folder.mkdir(parents=True)
        learner = [f for f in files if not f.startswith("test_") and f != "conftest.py"]
        (folder / "kata.toml").write_text(f'title = "{title}"\nfiles = {learner!r}\ntiers = ["unit"]\n'.replace("'", '"'))
        (folder / "README.md").write_text(README.format(n=name[3:], title=title, module=module))
        for filename, text in files.items():
            target = folder / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
        return folder

    def pytest(self, *args: str, env: dict | None = None, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run pytest in the checkout; an `env` value of None removes that variable."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KATAS_")}
        full_env.update(env or {})
        full_env = {k: v for k, v in full_env.items() if v is not None}
        return subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"],
                              cwd=self.path, capture_output=True, text=True, timeout=timeout, env=full_env,
                              check=False)

    def katas(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        # -P, as the installed `katas` script: nothing in the checkout shadows a module.
        return subprocess.run([sys.executable, "-P", "-m", "mlops_katas.cli", *args], cwd=self.path, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S, input=input, check=False,
                              env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def checkout(tmp_path: Path) -> FakeCheckout:
    return FakeCheckout(tmp_path)
