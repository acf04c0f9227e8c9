"""Week 1 end to end (answer B: MlflowClient throughout, Popen with a process group, small helpers)."""

from __future__ import annotations

import math
import numbers
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


def _passes_gate(score: float, bar: float) -> bool:
    return isinstance(score, numbers.Real) and not math.isnan(score) and score >= bar


def _roll_back(deployer, image: str, previous: str | None, champion: Champion, tag: str, serving: str | None) -> Report:
    failed = f"the monitor check failed for {tag}"
    if not previous:
        return Report(ok=False, stage="verify", champion=champion, version=tag, serving_version=serving,
                      rolled_back=False, reason=failed + "; no earlier version to roll back to")
    outcome = deployer.deploy(image, previous)
    if outcome.promoted:
        why = f"{failed}; {previous} is serving again"
    else:
        why = f"{failed}; rollback to {previous} failed too: {outcome.reason}"
    return Report(ok=False, stage="verify", champion=champion, version=tag,
                  serving_version=outcome.serving_version, rolled_back=outcome.promoted is True, reason=why)


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    known_good = deployer.current_version
    if not _passes_gate(champion.score, min_score):
        return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=known_good,
                      reason=f"held-out score {champion.score!r} did not reach min_score {min_score!r}")
    tag = "v" + str(champion.version)
    build_context = Path(package(champion, tag))
    deployed = deployer.deploy(image, tag, context=str(build_context))
    if not deployed.promoted:
        return Report(ok=False, stage="deploy", champion=champion, version=tag,
                      serving_version=deployed.serving_version, reason=deployed.reason)
    healthy = verify()
    if healthy is True:
        return Report(ok=True, stage="done", champion=champion, version=tag, serving_version=deployed.serving_version)
    return _roll_back(deployer, image, known_good, champion, tag, deployed.serving_version)


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    argv = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", repr(float(timeout_s))]
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
    return code == 0


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import copy

    import mlflow
    import numpy as np
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(
        model_name, artifact_location=artifact_location)

    scored = []
    for run_name, estimator in candidates.items():
        fitted = copy.deepcopy(estimator)
        fitted.fit(X_train, y_train)
        accuracy = float(np.mean(np.asarray(fitted.predict(X_test)) == np.asarray(y_test)))
        created = client.create_run(experiment_id, run_name=run_name)
        run_id = created.info.run_id
        client.log_metric(run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)))
        scored.append((accuracy, run_id, logged))

    accuracy, run_id, logged = sorted(scored, key=lambda item: item[0], reverse=True)[0]
    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass  # already registered: this is a retraining
    mv = client.create_model_version(model_name, source=logged.model_uri, run_id=run_id,
                                     model_id=logged.model_id)
    client.set_registered_model_alias(model_name, "challenger", mv.version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{mv.version}", version=str(mv.version),
                    score=accuracy)


DOCKERFILE = """\
# the day-03 server, serving one registered model version
FROM {base} AS serve
COPY model.skops /opt/week1/model.skops
ENV MODEL_PATH=/opt/week1/model.skops
ENV MODEL_VERSION="{version}"
LABEL mlflow.run_id="{run_id}"
LABEL mlflow.model_uri="{model_uri}"
"""


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    context = Path(out_dir)
    context.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    with tempfile.TemporaryDirectory() as scratch:
        local = mlflow.artifacts.download_artifacts(artifact_uri=champion.model_uri, dst_path=scratch)
        model = mlflow.sklearn.load_model(local)
    (context / "model.skops").write_bytes(skops.io.dumps(model))
    (context / "Dockerfile").write_text(
        DOCKERFILE.format(base=base_image, version=version.replace("\\", "\\\\").replace('"', '\\"').replace("$", r"\$"), run_id=champion.run_id,
                        model_uri=champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", r"\$")))
    return context
