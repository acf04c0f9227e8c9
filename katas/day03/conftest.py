"""Day 03 fixtures: the trained model file, and the server image built from your folder.

The model comes from `train_model.py` in this folder (provided, not yours to edit),
loaded by file path so the tests use the same script whichever folder your code
comes from. The image is built from your folder plus the provided files
(`train_model.py`, `requirements.txt`) when yours lacks them; it is rebuilt only when
something the build reads changes.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import pytest

from mlops_katas.impl import load_file

DAY = Path(__file__).resolve().parent
PROVIDED = ("train_model.py", "requirements.txt")


def _provided_module(name: str):
    return load_file(DAY / f"{name}.py", f"day03_provided_{name}")


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A skops file written by the provided train_model.py."""
    train_model = _provided_module("train_model")
    return train_model.save(train_model.train(), tmp_path_factory.mktemp("day03-model") / "model.skops")


@pytest.fixture(scope="session")
def reference_model(model_file):
    """The same model, loaded here, to compare your server's answers with."""
    import skops.io

    return skops.io.load(model_file)


@pytest.fixture
def build_context(impl_dir: Path, tmp_path: Path) -> Path:
    """Your folder as Docker would see it, plus the provided files it does not have."""
    from mlops_katas.infra.images import assemble_context

    return assemble_context(impl_dir, tmp_path / "context", provided=DAY, names=PROVIDED)


@pytest.fixture
def server_image(learner_file, build_context, docker_build):
    """The image built from your Dockerfile (cached by content; the first build takes a minute or two)."""
    learner_file("Dockerfile")
    return docker_build(build_context, name="day03")


@pytest.fixture
def server(request, server_image, docker_run_shared):
    """Your image running with MODEL_VERSION=docker-test, shared by the tests of a module."""
    from mlops_katas.infra.docker_fixtures import attach_container_logs

    # The comparison with the model needs skops here too; import it while the container starts.
    threading.Thread(target=importlib.import_module, args=("skops.io",), daemon=True).start()
    running = docker_run_shared(server_image.tag, env={"MODEL_VERSION": "docker-test"})
    attach_container_logs(request.node, running)
    return running
