"""Week 1 end to end, written with the MLflow client API and a piped monitor."""

from __future__ import annotations

import functools
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
        return bool(float(score) >= float(bar))   # NaN compares False
    except (TypeError, ValueError):
        return False


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    known_good = deployer.current_version
    fail = functools.partial(Report, False, champion=champion)
    if not _passes(champion.score, min_score):
        return fail("gate", version=None, serving_version=known_good,
                    reason=f"quality gate: score {champion.score!r} < required {min_score!r}")
    tag = "v" + str(champion.version)
    outcome = deployer.deploy(image, tag, context=str(package(champion, tag)))
    if not outcome.promoted:
        return fail("deploy", version=tag, serving_version=outcome.serving_version, reason=outcome.reason)
    healthy = verify()
    if healthy:
        return Report(True, "done", champion, tag, outcome.serving_version)
    if not known_good:
        return fail("verify", version=tag, serving_version=outcome.serving_version, rolled_back=False,
                    reason="monitor check failed; no earlier version to restore")
    restored = deployer.deploy(image, known_good)
    return fail("verify", version=tag, serving_version=restored.serving_version,
                rolled_back=restored.promoted is True,
                reason=f"monitor check failed; restoring {known_good}: {restored.reason or 'ok'}")


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    request_timeout = f"{min(max(0.1, timeout_s * 0.8), timeout_s):g}"
    try:
        child = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", request_timeout],
                                 process_group=0, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
    except OSError:
        return False
    try:
        child.communicate(timeout=timeout_s)   # drains the pipe while waiting
    except subprocess.TimeoutExpired:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        child.communicate()
        return False
    return child.returncode == 0


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        experiment_id = client.create_experiment(model_name, artifact_location=artifact_location)
    except MlflowException:
        experiment_id = client.get_experiment_by_name(model_name).experiment_id

    results = []
    for name, candidate in candidates.items():
        fitted = clone(candidate)
        fitted.fit(X_train, y_train)
        accuracy = float(accuracy_score(y_test, fitted.predict(X_test)))
        created = client.create_run(experiment_id, run_name=name)
        run_id = created.info.run_id
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        client.log_metric(run_id, "accuracy", accuracy)
        results.append((accuracy, run_id, logged))
    accuracy, run_id, logged = max(results, key=lambda item: item[0])

    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass
    created = client.create_model_version(model_name, logged.model_uri, run_id=run_id, model_id=logged.model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    name, number = champion.model_uri.removeprefix("models:/").rsplit("/", 1)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    source = client.get_model_version_download_uri(name, number)
    estimator = mlflow.sklearn.load_model(source)

    context = Path(out_dir)
    context.mkdir(parents=True, exist_ok=True)
    skops.io.dump(estimator, str(context / "model.skops"))
    model_uri = champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")  # docker expands $NAME inside double quotes
    lines = [
        f"FROM {base_image}",
        f'LABEL mlflow.run_id="{champion.run_id}"',
        f'LABEL mlflow.model_uri="{model_uri}"',
        "COPY model.skops /opt/champion/model.skops",
        "ENV MODEL_PATH /opt/champion/model.skops",
        f'ENV MODEL_VERSION "{version.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace("$", chr(92) + "$")}"',
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
