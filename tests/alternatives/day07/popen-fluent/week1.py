"""Week 1 end to end: train, gate on quality, package, deploy, verify, roll back."""

from __future__ import annotations

import math
import numbers
import os
import signal
import subprocess
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
    champion = train()
    previous = deployer.current_version
    score = champion.score
    if not (isinstance(score, numbers.Real) and not math.isnan(score) and score >= min_score):
        return Report(False, "gate", champion, None, previous,
                      reason=f"score {score!r} is below the bar {min_score!r}")
    version = f"v{champion.version}"
    context = package(champion, version)
    result = deployer.deploy(image, version, context=str(context))
    if not result.promoted:
        return Report(False, "deploy", champion, version, result.serving_version, reason=result.reason)
    if verify():
        return Report(True, "done", champion, version, result.serving_version)
    if previous is None:
        return Report(False, "verify", champion, version, result.serving_version,
                      reason=f"{version} failed the monitor check and there is no previous version to roll back to")
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, rolled_back=bool(back.promoted),
                  reason=f"{version} failed the monitor check; rollback to {previous}: "
                         + ("done" if back.promoted else f"failed ({back.reason})"))


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    request_timeout = min(max(min(5.0, float(timeout_s)), 0.1), float(timeout_s))
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", repr(request_timeout)]
    try:
        proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    try:
        return proc.wait(timeout=timeout_s) == 0
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        return False


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(model_name)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(model_name, artifact_location=artifact_location))
    best = None
    for name, candidate in candidates.items():
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            model = clone(candidate).fit(X_train, y_train)
            score = float(accuracy_score(y_test, model.predict(X_test)))
            mlflow.log_metric("accuracy", score)
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)),
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        if best is None or score > best[0]:
            best = (score, active.info.run_id, info.model_uri)
    score, run_id, model_uri = best
    version = str(mlflow.register_model(model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, score)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import re

    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, out / "model.skops")
    model_uri = re.sub(r'([\\"$])', r"\\\1", champion.model_uri)
    quoted_version = re.sub(r'([\\"$])', r"\\\1", version)
    (out / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f'LABEL mlflow.run_id="{champion.run_id}" mlflow.model_uri="{model_uri}"\n'
        "COPY model.skops /models/model.skops\n"
        f'ENV MODEL_PATH=/models/model.skops MODEL_VERSION="{quoted_version}"\n', encoding="utf-8")
    return out
