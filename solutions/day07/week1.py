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
    champion = train()
    previous = deployer.current_version
    if not champion.score >= min_score:
        # A worse model never reaches the image: the one serving now stays.
        return Report(False, "gate", champion, None, previous,
                      reason=f"score {champion.score:g} is below the bar {min_score:g}")
    version = f"v{champion.version}"
    context = package(champion, version)
    result = deployer.deploy(image, version, context=str(context))
    if not result.promoted:
        return Report(False, "deploy", champion, version, result.serving_version, reason=result.reason)
    if verify():
        return Report(True, "done", champion, version, result.serving_version)
    if previous is None:
        return Report(False, "verify", champion, version, result.serving_version,
                      reason="monitor check failed and there is no previous version to roll back to")
    # The previous image is still tagged: redeploying it without a build is the rollback.
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, rolled_back=back.promoted,
                  reason="monitor check failed after promotion; rolled back to " + previous)


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """One `monitor.sh --once` run; a monitor that hangs or cannot start is a failed check."""
    import subprocess

    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", f"{max(timeout_s / 2, 1):g}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0
