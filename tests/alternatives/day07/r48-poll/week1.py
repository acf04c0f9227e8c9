"""Week 1 end to end (answer B: numbers.Real gate, poll loop, MlflowClient registration, line-per-setting Dockerfile)."""

from __future__ import annotations

import math
import numbers
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
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


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    previous = deployer.current_version
    score = champion.score
    if not _is_number(min_score):
        return Report(False, "gate", champion, None, previous, reason=f"the bar {min_score!r} is not a number")
    if not _is_number(score):
        return Report(False, "gate", champion, None, previous, reason=f"score {score!r} is not a number")
    if score < min_score:
        return Report(False, "gate", champion, None, previous, reason=f"score {score} < min_score {min_score}")

    tag = "v" + str(champion.version)
    context = package(champion, tag)
    deployed = deployer.deploy(image, tag, context=str(context))
    if not deployed.promoted:
        return Report(ok=False, stage="deploy", champion=champion, version=tag,
                      serving_version=deployed.serving_version, reason=f"deploy of {tag} refused: {deployed.reason}")
    if verify():
        return Report(ok=True, stage="done", champion=champion, version=tag, serving_version=deployed.serving_version)
    if previous is None:
        return Report(ok=False, stage="verify", champion=champion, version=tag,
                      serving_version=deployed.serving_version, reason="check failed; nothing to roll back to")
    rollback = deployer.deploy(image, previous)
    return Report(ok=False, stage="verify", champion=champion, version=tag, serving_version=rollback.serving_version,
                  rolled_back=rollback.promoted is True,
                  reason=f"check failed; rollback to {previous}: {rollback.reason}")


def _seconds(timeout_s: float) -> str:
    exact = Decimal(repr(float(timeout_s)))
    for places in range(1, 12):
        cut = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
        if cut > 0:
            return format(cut, "f")
    return format(exact, "f")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        pass
    try:
        proc.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    started = time.monotonic()
    deadline = started + float(timeout_s)
    try:
        proc = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", _seconds(timeout_s)],
                                start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
    except (OSError, ValueError):
        return False
    healthy = False
    while True:
        code = proc.poll()
        now = time.monotonic()
        if now > deadline:
            break
        if code is not None:
            healthy = code == 0
            break
        time.sleep(min(0.02, max(0.0, deadline - now)))
    _kill_group(proc)
    return healthy


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import mlflow.sklearn
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(model_name,
                                                                               artifact_location=artifact_location)
    results = []
    for name, estimator in candidates.items():
        model = clone(estimator)
        model.fit(X_train, y_train)
        accuracy = float((model.predict(X_test) == y_test).mean())
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            mlflow.log_metric("accuracy", accuracy)
            logged = mlflow.sklearn.log_model(model, name="model",
                                              signature=infer_signature(X_test, model.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
            results.append((accuracy, active.info.run_id, logged.model_uri))
    accuracy, run_id, source = max(results, key=lambda item: item[0])
    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass  # it exists already
    mv = client.create_model_version(model_name, source, run_id=run_id)
    client.set_registered_model_alias(model_name, "challenger", mv.version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{mv.version}", version=str(mv.version),
                    score=accuracy)


def _docker_str(text: str) -> str:
    out = []
    for ch in str(text):
        if ch in '\\"$':
            out.append("\\")
        out.append(ch)
    return '"' + "".join(out) + '"'


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import mlflow.sklearn
    import skops.io as sio

    prior_registry = mlflow.get_registry_uri()
    prior_tracking = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        model = mlflow.sklearn.load_model(champion.model_uri)
    finally:
        mlflow.set_registry_uri(prior_registry)
        mlflow.set_tracking_uri(prior_tracking)
    context = Path(out_dir)
    os.makedirs(context, exist_ok=True)
    sio.dump(model, context / "model.skops")
    lines = [
        f"FROM {base_image}",
        f"LABEL mlflow.run_id={_docker_str(champion.run_id)}",
        f"LABEL mlflow.model_uri={_docker_str(champion.model_uri)}",
        "COPY model.skops /srv/model/champion.skops",
        'ENV MODEL_PATH="/srv/model/champion.skops"',
        f"ENV MODEL_VERSION={_docker_str(version)}",
        "USER 10001:10001",
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
