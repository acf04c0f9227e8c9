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
    """Train, refuse a model below `min_score`, package and deploy the champion as
    `v<champion.version>`, check it with `verify`, and redeploy the previous version when
    the check fails. Every outcome is a `Report`, so a CI job can act on it."""
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
                      reason=f"{version} failed the monitor check and there is nothing to roll back to")
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, rolled_back=back.promoted,
                  reason=f"{version} failed the monitor check; rollback to {previous}: "
                         f"{'done' if back.promoted else back.reason}")


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Run the monitor script once (`bash monitor --url URL --once --timeout S`): True only when it exits 0.
    After `timeout_s` seconds it is killed with everything it started (its process group), and
    a hang or a failure to start is False. Its output is read or discarded, never left in a pipe."""
    import os
    import signal
    import subprocess

    request_timeout = repr(float(timeout_s))
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", request_timeout]
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


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    """Fit a copy of every candidate on the training rows (the caller's stay unfitted), each in
    its own MLflow run named after it that logs `accuracy` on the held-out rows and the model;
    register the best run's model as a new version of `model_name`, point the alias
    `challenger` at it, and return it.
    `data` is `(X_train, X_test, y_train, y_test)`; everything goes to `tracking_uri`."""
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
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(model_name, artifact_location=artifact_location))
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
    if best is None:
        raise ValueError("no candidates to train")
    score, run_id, model_uri = best
    version = str(mlflow.register_model(model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, score)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    """Write a Docker build context to `out_dir` and return it: the registered model at
    `champion.model_uri` saved as `model.skops`, and a Dockerfile that starts `FROM base_image`,
    copies the model in, sets `MODEL_PATH` and `MODEL_VERSION=version`, and labels the
    image with the champion's run id and model URI."""
    import json

    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, out / "model.skops")
    def q(text: str) -> str:
        # docker keeps non-ASCII as written but expands $NAME, even inside double quotes
        return json.dumps(text, ensure_ascii=False).replace("$", r"\$")

    (out / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f"LABEL mlflow.run_id={q(champion.run_id)} mlflow.model_uri={q(champion.model_uri)}\n"
        "COPY model.skops /models/model.skops\n"
        f"ENV MODEL_PATH=/models/model.skops MODEL_VERSION={q(version)}\n",
        encoding="utf-8")
    return out
