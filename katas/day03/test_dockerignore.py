"""Task 3: .dockerignore decides what `docker build` sends to the engine.

Checked with the Docker SDK's own matching code on a folder that holds what a real
working copy holds: the files the build needs, and history, secrets and caches.
"""

import shutil

import pytest

from mlops_katas.infra.images import context_files

pytestmark = pytest.mark.task(taskno=3)

NEEDED = ["model_server.py", "train_model.py", "requirements.txt"]
KEPT_OUT = {
    ".git/config": "the git history (.git)",
    ".git/objects/ab/cdef": "the git history (.git)",
    ".env": "a local .env file with secrets",
    ".env.production": "an .env.* file with secrets",
    ".env.staging": "every .env.* file, not only the names you thought of",
    ".env.example": "every .env.* file, the example too (it often ends up holding real values)",
    ".venv/bin/python": "a local virtualenv (.venv)",
    "__pycache__/model_server.cpython-311.pyc": "Python byte-code caches (__pycache__)",
}


@pytest.fixture
def sent(learner_file, tmp_path):
    """The files `docker build` would send from a working copy holding your .dockerignore."""
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(learner_file(".dockerignore"), context / ".dockerignore")
    for name in [*NEEDED, *KEPT_OUT]:
        path = context / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"contents of {name}\n")
    return set(context_files(context))


@pytest.mark.parametrize("path", sorted(KEPT_OUT))
def test_history_secrets_and_caches_stay_out_of_the_build_context(sent, path):
    assert path not in sent, f".dockerignore should keep {KEPT_OUT[path]} out of the build context ({path} is sent)"


@pytest.mark.parametrize("name", NEEDED)
def test_the_files_the_build_needs_are_sent(sent, name):
    assert name in sent, f".dockerignore should not exclude {name}: the build needs it"
