"""Week 1 end to end, written as small stage functions and MlflowClient calls."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
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


def _passes_gate(score, bar) -> bool:
    try:
        return float(score) >= float(bar)   # NaN compares False with everything
    except (TypeError, ValueError):
        return False


def _rollback(deployer, image, previous, champion, version) -> Report:
    if previous is None:
        return Report(ok=False, stage="verify", champion=champion, version=version,
                      serving_version=deployer.current_version, rolled_back=False,
                      reason="monitor check failed; no earlier version exists to roll back to")
    outcome = deployer.deploy(image, previous)
    note = f"rolled back to {previous}" if outcome.promoted else f"rollback to {previous} failed: {outcome.reason}"
    return Report(ok=False, stage="verify", champion=champion, version=version,
                  serving_version=outcome.serving_version, rolled_back=outcome.promoted is True,
                  reason=f"monitor check failed for {version}; {note}")


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    previous = deployer.current_version
    if not _passes_gate(champion.score, min_score):
        return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=previous,
                      reason=f"quality gate: held-out score {champion.score} < required {min_score}")
    version = "v" + str(champion.version)
    context = Path(package(champion, version))
    outcome = deployer.deploy(image, version, context=str(context))
    if not outcome.promoted:
        return Report(ok=False, stage="deploy", champion=champion, version=version,
                      serving_version=outcome.serving_version, reason=outcome.reason)
    if verify() is True:
        return Report(ok=True, stage="done", champion=champion, version=version,
                      serving_version=outcome.serving_version, reason="deployed and verified")
    return _rollback(deployer, image, previous, champion, version)


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    per_request = timeout_s / 2 if timeout_s > 0 else 0.5
    command = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", repr(float(per_request))]
    try:
        child = subprocess.Popen(command, process_group=0, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError:
        return False
    try:
        child.communicate(timeout=timeout_s)   # drains the output while waiting
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
        child.communicate()
        return False
    return child.returncode == 0


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
    found = client.get_experiment_by_name(model_name)
    if found is None:
        experiment_id = client.create_experiment(model_name, artifact_location=artifact_location)
    else:
        experiment_id = found.experiment_id

    results = []
    for name, estimator in candidates.items():
        fitted = clone(estimator)
        fitted.fit(X_train, y_train)
        accuracy = accuracy_score(y_test, fitted.predict(X_test))
        created = client.create_run(experiment_id, run_name=name)
        run_id = created.info.run_id
        client.log_metric(run_id, "accuracy", float(accuracy))
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((float(accuracy), run_id, logged.model_uri))

    accuracy, run_id, model_uri = max(results, key=lambda item: item[0])
    try:
        client.get_registered_model(model_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(model_name)
    version = client.create_model_version(model_name, model_uri, run_id=run_id).version
    client.set_registered_model_alias(model_name, "challenger", str(version))
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=str(version), score=accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import mlflow.artifacts
    import mlflow.sklearn
    import skops.io

    context = Path(out_dir)
    context.mkdir(parents=True, exist_ok=True)
    name, _, number = champion.model_uri.removeprefix("models:/").rpartition("/")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    source = client.get_model_version_download_uri(name, number)
    with tempfile.TemporaryDirectory() as scratch:
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=scratch,
                                                    tracking_uri=tracking_uri, registry_uri=tracking_uri)
        estimator = mlflow.sklearn.load_model(local)
    skops.io.dump(estimator, context / "model.skops")
    escaped_uri = champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", r"\$")
    lines = [
        f"FROM {base_image}",
        f"ARG MODEL_DIR=/opt/model",
        f'LABEL mlflow.run_id="{champion.run_id}"',
        f'LABEL mlflow.model_uri="{escaped_uri}"',
        "COPY model.skops /opt/model/model.skops",
        "ENV MODEL_PATH $MODEL_DIR/model.skops",
        f'ENV MODEL_VERSION "{version.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace("$", chr(92) + "$")}"',
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
