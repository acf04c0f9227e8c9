"""Week 1, style A: explicit client calls, Popen in its own session, process-group kill."""

from __future__ import annotations

import math
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


def _passes(score, bar) -> bool:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return False
    return not math.isnan(value) and value >= bar


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    previous = deployer.current_version
    if not _passes(champion.score, min_score):
        return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=previous,
                      reason=f"score {champion.score} is below the bar {min_score}")
    tag = f"v{champion.version}"
    context = package(champion, tag)
    outcome = deployer.deploy(image, tag, context=str(context))
    if not outcome.promoted:
        return Report(ok=False, stage="deploy", champion=champion, version=tag,
                      serving_version=outcome.serving_version, reason=outcome.reason)
    if verify():
        return Report(ok=True, stage="done", champion=champion, version=tag, serving_version=outcome.serving_version)
    if previous is None:
        return Report(ok=False, stage="verify", champion=champion, version=tag,
                      serving_version=outcome.serving_version, rolled_back=False,
                      reason=f"{tag} failed the monitor check and there is no previous version to roll back to")
    back = deployer.deploy(image, previous)
    return Report(ok=False, stage="verify", champion=champion, version=tag, serving_version=back.serving_version,
                  rolled_back=bool(back.promoted),
                  reason=f"{tag} failed the monitor check; rollback to {previous}: {back.reason or 'done'}")


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    request_timeout = max(1, int(timeout_s))
    if request_timeout > timeout_s:
        request_timeout = timeout_s
    argv = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", str(request_timeout)]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        return False
    # the monitor finished: leave nothing of its group behind either
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return code == 0


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

    results = []
    for name, candidate in candidates.items():
        model = clone(candidate)
        model.fit(X_train, y_train)
        accuracy = float(accuracy_score(y_test, model.predict(X_test)))
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            mlflow.log_metric("accuracy", accuracy)
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)),
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((accuracy, active.info.run_id, info.model_uri))

    accuracy, run_id, model_uri = max(results, key=lambda item: item[0])
    try:
        client.get_registered_model(model_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(model_name)
    created = mlflow.register_model(model_uri, model_name)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import json

    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, out / "model.skops")
    uri_label = json.dumps(champion.model_uri, ensure_ascii=False).replace("$", r"\$")  # else docker expands $NAME
    lines = [
        f"FROM {base_image}",
        f"LABEL mlflow.run_id={json.dumps(champion.run_id, ensure_ascii=False)}"
        f" mlflow.model_uri={uri_label}",
        "COPY model.skops /srv/model/model.skops",
        "ENV MODEL_PATH=/srv/model/model.skops",
        f"ENV MODEL_VERSION={json.dumps(version, ensure_ascii=False)}".replace("$", r"\$"),
    ]
    (out / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
