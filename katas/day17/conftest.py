"""Day 17 fixtures: day 03's model, apps that are closed after each test, a model the tests
can count and hold, and the server image built from your folder.

The model comes from day 03's provided `train_model.py`, loaded by file path. The image is
built from your folder plus this day's provided Dockerfile and day 03's `train_model.py`
and `requirements.txt`, and rebuilt only when something the build reads changes.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from mlops_katas.impl import load_file

DAY = Path(__file__).resolve().parent
DAY03 = DAY.parent / "day03"
WAIT_S = 10


class CountingModel:
    """Wraps a real model: records the rows of every predict call; `gated` holds the first
    call until `open()`; `fail_on` makes a call that contains that row raise."""

    def __init__(self, model, gated: bool = False, fail_on: list[float] | None = None) -> None:
        self.model = model
        self.calls: list[list[list[float]]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def predict(self, X):
        rows = [list(map(float, row)) for row in X]
        with self._lock:
            self.calls.append(rows)
        self.entered.set()
        assert self.gate.wait(WAIT_S), "test gate never opened"
        if self.fail_on is not None and self.fail_on in rows:
            raise RuntimeError("the model fell over")
        return self.model.predict(X)

    def open(self) -> None:
        self.gate.set()

    @property
    def sizes(self) -> list[int]:
        return [len(call) for call in self.calls]


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A skops file written by day 03's provided train_model.py."""
    train_model = load_file(DAY03 / "train_model.py", "day17_provided_train_model")
    return train_model.save(train_model.train(), tmp_path_factory.mktemp("day17-model") / "model.skops")


@pytest.fixture(scope="session")
def reference_model(model_file):
    import skops.io

    return skops.io.load(model_file)


@pytest.fixture
def counting_model(reference_model):
    """Call it for a CountingModel around the day-03 model."""
    return lambda **kwargs: CountingModel(reference_model, **kwargs)


@pytest.fixture
def make_app(monkeypatch):
    """Call it like create_app; every app's batcher is closed when the test ends. The
    settings' environment variables start unset."""
    import serving

    for name in ("MODEL_PATH", "MODEL_URI", "MODEL_VERSION", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE",
                 "CACHE_SIZE", "RATE_LIMIT", "RATE_BURST"):
        monkeypatch.delenv(name, raising=False)
    apps = []
    openers = []

    def make(config=None, **kwargs):
        app = serving.create_app(config, **kwargs)
        apps.append(app)
        if hasattr(kwargs.get("model"), "open"):
            openers.append(kwargs["model"].open)
        return app

    yield make
    for open_gate in openers:
        open_gate()  # a test that failed half-way may have left a model held
    for app in apps:
        batcher = app.extensions.get("batcher")
        if batcher is not None:
            closer = threading.Thread(target=batcher.close, daemon=True)
            closer.start()
            closer.join(WAIT_S)


# --- docker ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_image(request, tmp_path_factory):
    """The provided Dockerfile built with your batcher.py and serving.py. Your app is made in
    process first (without a model), so an unfinished task says so here, before any build."""
    import batcher as learner_batcher
    import serving

    app = serving.create_app({"MODEL_PATH": str(tmp_path_factory.mktemp("day17-no-model") / "none.skops")})
    batcher = app.extensions.get("batcher")
    if batcher is not None:
        batcher.close()
    docker_build = request.getfixturevalue("docker_build")
    context = tmp_path_factory.mktemp("day17-image") / "context"
    context.mkdir()
    for module in (learner_batcher, serving):
        shutil.copy2(module.__file__, context / Path(module.__file__).name)
    shutil.copy2(DAY / "Dockerfile", context / "Dockerfile")
    for name in ("train_model.py", "requirements.txt"):
        shutil.copy2(DAY03 / name, context / name)
    return docker_build(context, name="day17")
