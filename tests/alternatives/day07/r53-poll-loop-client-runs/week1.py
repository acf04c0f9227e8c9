"""Week 1 end to end (second style: helper functions, a poll loop, MlflowClient-driven runs)."""

from __future__ import annotations

import math
import numbers
import os
import re
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


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(float(value))


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    if not _number(min_score):
        raise ValueError(f"min_score must be a number, got {min_score!r}")
    champion = train()
    serving_before = deployer.current_version
    score = champion.score
    if not _number(score):
        return Report(False, "gate", champion, None, serving_before,
                      reason=f"the champion's score {score!r} is not a number")
    if score < min_score:
        return Report(False, "gate", champion, None, serving_before,
                      reason=f"the champion's score {score!r} is below min_score {min_score!r}")

    shipped = f"v{champion.version}"
    built = package(champion, shipped)
    deployed = deployer.deploy(image, shipped, context=str(built))

    def report(ok, stage, serving, rolled_back=False, reason=""):
        return Report(ok, stage, champion, shipped, serving, rolled_back, reason)

    if not deployed.promoted:
        return report(False, "deploy", deployed.serving_version, reason=str(deployed.reason))
    if verify():
        return report(True, "done", deployed.serving_version)
    if serving_before is None:
        return report(False, "verify", deployed.serving_version,
                      reason="monitor check failed; no earlier version to roll back to")
    rollback = deployer.deploy(image, serving_before)
    why = f"monitor check failed for {shipped}; redeployed {serving_before}: "
    why += "promoted" if rollback.promoted else f"refused ({rollback.reason})"
    return report(False, "verify", rollback.serving_version, rolled_back=rollback.promoted is True, reason=why)


def _stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    command = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", str(timeout_s)]
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        now = time.monotonic()
        if now > deadline:
            break
        if code is not None:
            return code == 0
        time.sleep(min(0.02, max(0.0, deadline - now)))
    _stop_group(proc)
    return False


def _client(tracking_uri: str):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _experiment_id(client, name: str, artifact_location: str | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import mlflow.sklearn
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = data
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, model_name, artifact_location)
    results = []
    for name, estimator in candidates.items():
        fitted = clone(estimator)
        fitted.fit(X_train, y_train)
        accuracy = float((fitted.predict(X_test) == y_test).mean())
        created = client.create_run(experiment_id, run_name=name)
        with mlflow.start_run(run_id=created.info.run_id):
            logged = mlflow.sklearn.log_model(
                fitted, name="model", signature=infer_signature(X_train, fitted.predict(X_train)),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        client.log_metric(created.info.run_id, "accuracy", accuracy)
        results.append({"accuracy": accuracy, "run_id": created.info.run_id, "uri": logged.model_uri})
    winner = max(results, key=lambda r: r["accuracy"])
    registered = mlflow.register_model(winner["uri"], model_name)
    version = str(registered.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(winner["run_id"], f"models:/{model_name}/{version}", version, winner["accuracy"])


_SPECIAL = re.compile(r'([\\"$])')


def _dq(text: str) -> str:
    return '"' + _SPECIAL.sub(r"\\\1", str(text)) + '"'


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow.sklearn
    import skops.io

    _client(tracking_uri)
    estimator = mlflow.sklearn.load_model(champion.model_uri)
    context = Path(out_dir)
    os.makedirs(context, exist_ok=True)
    (context / "model.skops").write_bytes(skops.io.dumps(estimator))
    lines = [
        f"FROM {base_image}",
        "COPY model.skops /opt/champion/model.skops",
        "ENV MODEL_PATH=/opt/champion/model.skops",
        f"ENV MODEL_VERSION={_dq(version)}",
        f"LABEL mlflow.run_id={_dq(champion.run_id)}",
        f"LABEL mlflow.model_uri={_dq(champion.model_uri)}",
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
