"""Week 1, style B: fluent MLflow API, coreutils `timeout` around the monitor, ARG-based Dockerfile."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
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
    last_good = deployer.current_version
    base = Report(False, "gate", champion, None, last_good)
    score = champion.score
    if score != score or min_score != min_score or score < min_score:  # NaN compares unequal to itself
        return replace(base, reason=f"champion scored {score!r}, the bar is {min_score!r}")

    new_version = "v%s" % champion.version
    base = replace(base, version=new_version)
    result = deployer.deploy(image, new_version, context=str(package(champion, new_version)))
    if not result.promoted:
        return replace(base, stage="deploy", serving_version=result.serving_version, reason=str(result.reason))

    base = replace(base, stage="verify", serving_version=result.serving_version)
    if verify():
        return replace(base, ok=True, stage="done")
    if not last_good:
        return replace(base, reason="monitor check failed; no earlier version to restore")
    restored = deployer.deploy(image, last_good)
    return replace(base, rolled_back=restored.promoted is True, serving_version=restored.serving_version,
                   reason=f"monitor check failed for {new_version}; redeployed {last_good}")


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    limit = float(timeout_s)
    if limit <= 0:
        return False
    # coreutils `timeout` runs the monitor in a process group of its own and signals the whole group
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", repr(limit)]
    killer = shutil.which("timeout")
    if killer:
        argv = [killer, "--kill-after=1", repr(limit), *argv]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except OSError:
        return False
    try:
        return proc.wait(timeout=limit + 5) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    finally:
        if killer:
            # `timeout` stops waiting once bash ends on its SIGTERM; a child that ignored it lives on
            # in the group `timeout` led (its pid): finish that group with SIGKILL.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    experiment = mlflow.get_experiment_by_name(model_name)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else mlflow.create_experiment(model_name, artifact_location=artifact_location))

    board: dict[str, tuple[float, str, str]] = {}
    for run_name in candidates:
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as current:
            fitted = clone(candidates[run_name]).fit(X_train, y_train)
            held_out = float(fitted.score(X_test, y_test))
            mlflow.log_metrics({"accuracy": held_out})
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
            board[run_name] = (held_out, current.info.run_id, logged.model_uri)

    ranking = sorted(board.values(), key=lambda entry: entry[0], reverse=True)
    score, run_id, uri = ranking[0]
    registered = mlflow.register_model(uri, model_name)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(model_name, "challenger", registered.version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{registered.version}",
                    version=str(registered.version), score=score)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, number = champion.model_uri.removeprefix("models:/").rsplit("/", 1)
    location = client.get_model_version_download_uri(name, number)
    model = mlflow.sklearn.load_model(location)

    context = Path(out_dir)
    context.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, str(context / "model.skops"))
    model_uri = champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", r"\$")  # docker would expand $NAME in the label
    docker_version = version.replace("\\", "\\\\").replace('"', '\\"').replace("$", r"\$")  # and in the ENV value
    dockerfile = f"""\
ARG BASE={base_image}
FROM ${{BASE}}
ARG MODEL_DIR=/opt/model
LABEL "mlflow.run_id"="{champion.run_id}"
LABEL "mlflow.model_uri"="{model_uri}"
COPY model.skops ${{MODEL_DIR}}/model.skops
ENV MODEL_PATH ${{MODEL_DIR}}/model.skops
ENV MODEL_VERSION "{docker_version}"
"""
    (context / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return context
