"""Week 1 end to end (answer A: follows the hints, Popen.wait, mlflow fluent API)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
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


def _passes(score, min_score) -> bool:
    if min_score is None:
        raise TypeError("min_score is None: no bar, nothing passes")
    if isinstance(min_score, (str, bytes)):
        raise TypeError(f"min_score is not a number: {min_score!r}")
    if math.isnan(float(min_score)):
        raise ValueError("min_score is NaN: nothing passes")
    if score is None or isinstance(score, (str, bytes)):
        return False
    try:
        if math.isnan(float(score)):
            return False
    except (TypeError, ValueError):
        return False
    return bool(score >= min_score)


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    previous = deployer.current_version
    if not _passes(champion.score, min_score):
        return Report(False, "gate", champion, None, previous,
                      reason=f"score {champion.score} is below the bar {min_score}")
    version = f"v{champion.version}"
    context = package(champion, version)
    result = deployer.deploy(image, version, context=str(context))
    if not result.promoted:
        return Report(False, "deploy", champion, version, result.serving_version, False, result.reason)
    if verify():
        return Report(True, "done", champion, version, result.serving_version)
    if previous is None:
        return Report(False, "verify", champion, version, result.serving_version, False,
                      f"{version} failed the monitor check and there is no previous version to roll back to")
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, bool(back.promoted),
                  f"{version} failed the monitor check; rollback to {previous}: "
                  f"{'promoted' if back.promoted else 'refused'} {back.reason or ''}".rstrip())


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", repr(float(timeout_s))]
    try:
        proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, ValueError):
        return False
    ok = False
    try:
        code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        ok = code == 0 and time.monotonic() <= deadline
    except subprocess.TimeoutExpired:
        ok = False
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    return ok


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
            info = mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(X_train, model.predict(X_train)),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        if best is None or score > best[0]:
            best = (score, active.info.run_id, info.model_uri)
    score, run_id, uri = best
    version = str(mlflow.register_model(uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, score)


def _quote(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.skops"
    target.unlink(missing_ok=True)
    skops.io.dump(model, target)
    (out / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        "COPY model.skops /opt/champion/model.skops\n"
        f"ENV MODEL_PATH=/opt/champion/model.skops MODEL_VERSION={_quote(version)}\n"
        f"LABEL mlflow.run_id={_quote(champion.run_id)} mlflow.model_uri={_quote(champion.model_uri)}\n",
        encoding="utf-8")
    return out
