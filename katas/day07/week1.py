"""Week 1 end to end: train, gate on quality, package, deploy, verify, roll back.

Contract (the tests check exactly this):
- `Champion(run_id, model_uri, version, score)`: the best model of a training run.
- `Report(ok, stage, champion, version, serving_version, rolled_back, reason)`.
- `run(*, train, package, deployer, verify, image, min_score) -> Report`; see the README.
- `verify(url, *, monitor, timeout_s=10.0) -> bool`: the day-06 monitor run once, bounded.
- `train_and_register(tracking_uri, model_name, *, data, candidates, artifact_location=None)
  -> Champion`: one MLflow run per candidate, the best on held-out accuracy registered
  as a new version of `model_name` with the alias `challenger`.
- `package(champion, version, *, tracking_uri, base_image, out_dir) -> Path`: a Docker
  build context serving exactly that registered version from the day-03 image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Champion:
    run_id: str
    model_uri: str
    version: str
    score: float


@dataclass(frozen=True)
class Report:
    ok: bool
    stage: str
    champion: Champion | None
    version: str | None
    serving_version: str | None
    rolled_back: bool = False
    reason: str = ""


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    """Train, refuse a model below `min_score`, package and deploy the champion as
    `v<champion.version>`, check it with `verify`, and redeploy the previous version when
    the check fails. Every outcome is a `Report`, so a CI job can act on it."""
    # TODO(task 1): the happy path and the quality gate; TODO(task 2): deploy failures,
    # the monitor check and the rollback (README tasks 1 and 2).
    raise NotImplementedError("task 1")


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Run the monitor script once (`bash monitor --url URL --once --timeout S`): True only when it exits 0.
    After `timeout_s` seconds it is killed with everything it started (its process group), and
    a hang or a failure to start is False. Its output is read or discarded, never left in a pipe."""
    # TODO(task 3): one bounded subprocess, no shell (README task 3).
    raise NotImplementedError("task 3")


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    """Fit a copy of every candidate on the training rows (the caller's stay unfitted), each in
    its own MLflow run named after it that logs `accuracy` on the held-out rows and the model;
    register the best run's model as a new version of `model_name`, point the alias
    `challenger` at it, and return it.
    `data` is `(X_train, X_test, y_train, y_test)`; everything goes to `tracking_uri`."""
    # TODO(task 4): runs, real held-out metric, registry version and alias (README task 4).
    raise NotImplementedError("task 4")


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    """Write a Docker build context to `out_dir` and return it: the registered model at
    `champion.model_uri` saved as `model.skops`, and a Dockerfile that starts `FROM base_image`,
    copies the model in, sets `MODEL_PATH` and `MODEL_VERSION=version`, and labels the
    image with the champion's run id and model URI."""
    # TODO(task 5): load from the registry at tracking_uri, save with skops, write the Dockerfile (README task 5).
    raise NotImplementedError("task 5")
