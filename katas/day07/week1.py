"""Week 1 end to end: train, gate on quality, package, deploy, verify, roll back.

Contract (the tests check exactly this):
- `Champion(run_id, model_uri, version, score)`: the best model of a training run.
- `Report(ok, stage, champion, version, serving_version, rolled_back, reason)`.
- `run(*, train, package, deployer, verify, image, min_score) -> Report`; see the README.
- `verify(url, *, monitor, timeout_s=10.0) -> bool`: the day-06 monitor run once, bounded.
"""

from __future__ import annotations

from collections.abc import Callable
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
    """Run the monitor script once (`bash monitor --url URL --once`): True only when it exits 0.
    It is killed after `timeout_s` seconds, and a hang or a failure to start is False."""
    # TODO(task 3): one bounded subprocess, no shell (README task 3).
    raise NotImplementedError("task 3")
