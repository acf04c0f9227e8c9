"""Week 1 pipeline: client-API style (MlflowClient for runs and metrics, poll loop with a
deadline and a TERM-then-KILL stop, a step table for the pipeline's outcomes)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import NamedTuple


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


def _passes(score, bar) -> bool:
    if score is None:
        return False
    try:
        value = float(score)
    except (TypeError, ValueError):
        return False
    if math.isnan(value):
        return False
    return score >= bar


def run(*, train: Callable[[], Champion], package, deployer, verify: Callable[[], bool], image: str,
        min_score: float) -> Report:
    champion = train()
    serving_before = deployer.current_version
    base = Report(False, "gate", champion, None, serving_before)
    if not _passes(champion.score, min_score):
        return replace(base, reason="held-out score %s did not reach min_score %s" % (champion.score, min_score))
    tag = "v" + str(champion.version)
    base = replace(base, version=tag)
    built = deployer.deploy(image, tag, context=os.fspath(package(champion, tag)))
    if not built.promoted:
        return replace(base, stage="deploy", serving_version=built.serving_version,
                       reason="deploy of %s refused: %s" % (tag, built.reason))
    healthy = bool(verify())
    if healthy:
        return replace(base, ok=True, stage="done", serving_version=built.serving_version)
    failed = replace(base, stage="verify", serving_version=built.serving_version)
    if serving_before is None:
        return replace(failed, reason="monitor check failed; no earlier version to roll back to")
    restored = deployer.deploy(image, serving_before)
    return replace(failed, serving_version=restored.serving_version, rolled_back=restored.promoted is True,
                   reason="monitor check failed; rolled back to %s: %s" % (serving_before, restored.promoted))


def _seconds_arg(timeout_s: float) -> str:
    value = Decimal(repr(float(timeout_s))).quantize(Decimal("0.001"), rounding=ROUND_FLOOR)
    if value <= 0:
        value = Decimal("0.001")
    return str(value)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 0.3), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        if grace is not None:
            time.sleep(grace)
    proc.wait()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    try:
        proc = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout",
                                 _seconds_arg(timeout_s)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                process_group=0)
    except OSError:
        return False
    while True:
        code = proc.poll()
        if code is not None and time.monotonic() <= deadline:
            return code == 0
        if time.monotonic() >= deadline:
            _stop_group(proc)
            return False
        time.sleep(0.01)


class _Trial(NamedTuple):
    accuracy: float
    run_id: str
    model_uri: str


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(model_name,
                                                                              artifact_location=artifact_location)
    trials: list[_Trial] = []
    for run_name, estimator in candidates.items():
        fitted = clone(estimator)
        fitted.fit(X_train, y_train)
        accuracy = float((fitted.predict(X_test) == y_test).mean())
        created = client.create_run(experiment_id, run_name=run_name)
        client.log_metric(created.info.run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=created.info.run_id):
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        trials.append(_Trial(accuracy, created.info.run_id, logged.model_uri))
    winner = max(trials, key=lambda t: t.accuracy)
    registered = mlflow.register_model(winner.model_uri, model_name)
    number = str(registered.version)
    client.set_registered_model_alias(model_name, "challenger", number)
    return Champion(winner.run_id, "models:/%s/%s" % (model_name, number), number, winner.accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import json

    import mlflow
    import skops.io

    target = Path(out_dir)
    os.makedirs(target, exist_ok=True)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    estimator = mlflow.sklearn.load_model(champion.model_uri)
    skops.io.dump(estimator, str(target / "model.skops"))
    lines = [
        "FROM " + base_image,
        "COPY model.skops /opt/champion/model.skops",
        "ENV MODEL_PATH /opt/champion/model.skops",
        "ENV MODEL_VERSION " + json.dumps(version, ensure_ascii=False).replace("$", "\\$"),
        "LABEL mlflow.run_id=" + json.dumps(champion.run_id, ensure_ascii=False),
        "LABEL mlflow.model_uri=" + json.dumps(champion.model_uri, ensure_ascii=False).replace("$", "\\$"),
    ]
    (target / "Dockerfile").write_text("\n".join(lines) + "\n")
    return target
