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

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

CHALLENGER = "challenger"
METRIC = "accuracy"
MODEL_FILE = "model.skops"
MODEL_PATH = "/models/model.skops"


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
        # A worse model never reaches the image: the one serving now stays.
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
                      reason="monitor check failed and there is no previous version to roll back to")
    # The previous image is still tagged: redeploying it without a build is the rollback.
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, rolled_back=back.promoted,
                  reason="monitor check failed after promotion; rolled back to " + previous)


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """One `monitor.sh --once` run; a monitor that hangs or cannot start is a failed check.

    The monitor runs in a process group of its own, and on timeout the whole group is
    killed: `subprocess.run(timeout=...)` would kill only bash and leave its `curl` or
    `sleep` running."""
    import os
    import signal
    import subprocess

    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", repr(float(min(max(timeout_s / 2, 1), timeout_s)))]
    try:
        # Output goes nowhere: a pipe nobody reads would stall a chatty monitor.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    try:
        return process.wait(timeout=timeout_s) == 0
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        return False


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    X_train, X_test, y_train, y_test = data
    experiment = client.get_experiment_by_name(model_name)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(model_name, artifact_location=artifact_location))
    best = None
    for name, candidate in candidates.items():
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
            model = clone(candidate).fit(X_train, y_train)
            score = float(accuracy_score(y_test, model.predict(X_test)))
            mlflow.log_metric(METRIC, score)
            logged = mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(X_train, model.predict(X_train)),
                input_example=X_train[:2],
                # Pinned explicitly: inferring requirements starts a second Python per model.
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        if best is None or score > best[0]:
            best = (score, run.info.run_id, logged.model_uri)
    if best is None:
        raise ValueError("no candidates to train")
    score, run_id, logged_uri = best
    version = str(mlflow.register_model(logged_uri, model_name).version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=score)


def _dockerfile_quoted(value: str) -> str:
    """`value` in double quotes as docker reads them back exactly: JSON's escapes for `"` and `\\` are docker's
    too, a letter outside ASCII stays as it is, and `$` is escaped (docker would replace `$NAME` in it)."""
    return json.dumps(value, ensure_ascii=False).replace("$", "\\$")


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    """A build context of two files: the registered model as skops (loading it runs no
    code, unlike a pickle) and a Dockerfile that puts it into the day-03 server image."""
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, out / MODEL_FILE)
    labels = {"mlflow.run_id": champion.run_id, "mlflow.model_uri": champion.model_uri,
              "org.opencontainers.image.version": version}
    (out / "Dockerfile").write_text(
        "# The week-1 champion served by the day-03 model server image.\n"
        f"FROM {base_image}\n"
        # Labels trace a running container back to its registry version and training run.
        "LABEL " + " ".join(f"{key}={_dockerfile_quoted(value)}" for key, value in labels.items()) + "\n"
        f"COPY {MODEL_FILE} {MODEL_PATH}\n"
        f"ENV MODEL_PATH={MODEL_PATH} MODEL_VERSION={_dockerfile_quoted(version)}\n",
        encoding="utf-8")
    return out
