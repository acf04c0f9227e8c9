"""Week 1 pipeline (answer A: plain functions, Popen + killpg, mlflow fluent API)."""
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


def run(*, train, package, deployer, verify, image, min_score) -> Report:
    champion = train()
    previous = deployer.current_version
    score = champion.score
    if score is None or (isinstance(score, float) and math.isnan(score)) or not score >= min_score:
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
                      reason=f"{version} failed the monitor check and there is nothing to roll back to")
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, rolled_back=bool(back.promoted),
                  reason=f"{version} failed the monitor check; rollback to {previous}: {back.reason or 'done'}")


def verify(url, *, monitor, timeout_s=10.0) -> bool:
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", f"{min(max(timeout_s * 0.8, 0.1), timeout_s):g}"]
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


def train_and_register(tracking_uri, model_name, *, data, candidates, artifact_location=None) -> Champion:
    import mlflow
    import mlflow.sklearn
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
    score, run_id, uri = best
    version = str(mlflow.register_model(uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, score)


def package(champion, version, *, tracking_uri, base_image, out_dir) -> Path:
    import mlflow
    import mlflow.sklearn
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, out / "model.skops")
    escaped_uri = "\\$".join(champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').split("$"))  # a bare $ would be expanded by docker
    escaped_version = "\\$".join(version.replace("\\", "\\\\").replace('"', '\\"').split("$"))
    (out / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f'LABEL mlflow.run_id="{champion.run_id}" mlflow.model_uri="{escaped_uri}"\n'
        "COPY model.skops /models/champion.skops\n"
        f'ENV MODEL_PATH=/models/champion.skops MODEL_VERSION="{escaped_version}"\n', encoding="utf-8")
    return out
