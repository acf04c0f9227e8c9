"""Week 1 end to end (answer A: fluent MLflow API, Popen in its own process group, straight-line run)."""

from __future__ import annotations

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
    if not champion.score >= min_score:
        return Report(False, "gate", champion, None, previous,
                      reason=f"score {champion.score} is below the bar {min_score}")
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
                  reason=f"{version} failed the monitor check; rolled back to {previous}: {back.reason}")


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", str(min(max(1, int(timeout_s)), timeout_s))]
    try:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0) as done:
            try:
                done.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(done.pid, signal.SIGKILL)
                done.communicate()
                return False
    except OSError:
        return False
    return done.returncode == 0


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
    if experiment is None:
        experiment_id = client.create_experiment(model_name, artifact_location=artifact_location)
    else:
        experiment_id = experiment.experiment_id

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

    score, run_id, model_uri = best
    version = str(mlflow.register_model(model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, score)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = mlflow.sklearn.load_model(champion.model_uri)
    skops.io.dump(model, out / "model.skops")
    uri = champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", r"\$")  # docker expands $NAME inside double quotes
    (out / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f'LABEL mlflow.run_id="{champion.run_id}" mlflow.model_uri="{uri}"\n'
        "COPY model.skops /models/model.skops\n"
        f'ENV MODEL_PATH=/models/model.skops MODEL_VERSION="{version.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace("$", chr(92) + "$")}"\n',
        encoding="utf-8")
    return out
