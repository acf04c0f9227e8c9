"""Week 1 end to end: train, gate on quality, package, deploy, verify, roll back.

Contract (the tests check exactly this):
- `Champion(run_id, model_uri, version, score)`: the best model of a training run.
- `Report(ok, stage, champion, version, serving_version, rolled_back, reason)`.
- `run(*, train, package, deployer, verify, image, min_score) -> Report`; see the README.
- `verify(url, *, monitor, timeout_s=10.0) -> bool`: the day-06 monitor run once, bounded.
- `train_and_register(tracking_uri, model_name, *, data, candidates, artifact_location=None)
  -> Champion`: one MLflow run per candidate, the best on held-out accuracy registered
  as a new version of `model_name` with the alias `challenger`.
- `package(champion, version, *, tracking_uri, base_image, out_dir) -> Path`: a Docker
  build context serving exactly that registered version from the day-03 image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
import math
import numbers
import os
import signal
import subprocess
import tempfile
import time


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
    serving_before = deployer.current_version

    def report(ok, stage, serving, **extra):
        return Report(ok=ok, stage=stage, champion=champion, version=tag, serving_version=serving, **extra)

    tag = None
    passes = _is_number(champion.score) and champion.score >= min_score
    if not passes:
        return report(False, "gate", serving_before,
                      reason=f"quality gate: score {champion.score!r} < min_score {min_score!r}")

    tag = "v" + str(champion.version)
    build_context = package(champion, tag)
    outcome = deployer.deploy(image, tag, context=os.fspath(build_context))
    if not outcome.promoted:
        return report(False, "deploy", outcome.serving_version, reason=outcome.reason)

    healthy = verify()
    if healthy:
        return report(True, "done", outcome.serving_version)

    if serving_before is None:
        return report(False, "verify", outcome.serving_version,
                      reason=f"{tag} failed the monitor check; no earlier version exists to restore")
    restored = deployer.deploy(image, serving_before)
    return report(False, "verify", restored.serving_version, rolled_back=bool(restored.promoted),
                  reason=f"{tag} failed the monitor check; redeploying {serving_before}: "
                         f"{'done' if restored.promoted else restored.reason}")


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    request_timeout = repr(float(timeout_s))
    with tempfile.TemporaryFile() as sink:
        try:
            proc = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", request_timeout],
                                    stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                    process_group=0)
        except OSError:
            return False
        while True:
            code = proc.poll()
            late = time.monotonic() >= deadline  # after the poll: an exit seen past the deadline does not count
            if code is not None and not late:
                return code == 0
            if late:
                break
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
        proc.wait()
        return False


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import copy

    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec
    import numpy as np
    import sklearn

    X_train, X_test, y_train, y_test = (np.asarray(part) for part in data)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(model_name, artifact_location=artifact_location))
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype("float64"), (-1, X_train.shape[1]))]),
                               outputs=Schema([TensorSpec(np.asarray(y_train).dtype, (-1,))]))
    results = []
    for name, candidate in candidates.items():
        estimator = copy.deepcopy(candidate)
        estimator.fit(X_train, y_train)
        accuracy = float(np.mean(estimator.predict(X_test) == y_test))
        created = client.create_run(experiment_id, run_name=name)
        run_id = created.info.run_id
        client.log_metric(run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(estimator, name="model", signature=signature,
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((accuracy, -len(results), run_id, logged.model_uri))
    accuracy, _, run_id, model_uri = max(results)
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    version = client.create_model_version(model_name, source=model_uri, run_id=run_id).version
    client.set_registered_model_alias(model_name, "challenger", str(version))
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=str(version), score=accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    context = Path(out_dir)
    os.makedirs(context, exist_ok=True)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, number = champion.model_uri.removeprefix("models:/").rsplit("/", 1)
    source = client.get_model_version_download_uri(name, number)
    with tempfile.TemporaryDirectory() as scratch:
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=scratch, tracking_uri=tracking_uri)
        estimator = mlflow.sklearn.load_model(local)
    skops.io.dump(estimator, str(context / "model.skops"))
    uri = champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    lines = [
        f"FROM {base_image}",
        f'LABEL "mlflow.run_id"="{champion.run_id}"',
        f'LABEL "mlflow.model_uri"="{uri}"',
        "COPY model.skops /srv/champion/model.skops",
        "ENV MODEL_PATH /srv/champion/model.skops",
        f'ENV MODEL_VERSION "{version.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace("$", chr(92) + "$")}"',
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    return context
