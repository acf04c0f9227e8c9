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
import os
import signal
import subprocess


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



def _is_number(x) -> bool:
    """A real number that is not NaN (None, NaN and non-numbers are not)."""
    if x is None:
        return False
    try:
        return not math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    """Train, gate, package, deploy, verify, roll back."""
    champion = train()
    previous = deployer.current_version
    score = champion.score
    if not _is_number(min_score):
        return Report(False, "gate", champion, None, previous, reason=f"the bar {min_score!r} is not a number")
    if not _is_number(score) or not score >= min_score:
        return Report(False, "gate", champion, None, previous,
                      reason=f"score {score!r} is below the bar {min_score!r}")
    version = f"v{champion.version}"
    context = package(champion, version)
    result = deployer.deploy(image, version, context=str(context))
    if not result.promoted:
        return Report(False, "deploy", champion, version, result.serving_version,
                      reason=f"deploy of {version} failed: {result.reason}")
    if verify():
        return Report(True, "done", champion, version, result.serving_version)
    if previous is None:
        return Report(False, "verify", champion, version, result.serving_version,
                      reason=f"{version} failed the monitor check and there is nothing to roll back to")
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, rolled_back=bool(back.promoted),
                  reason=f"{version} failed the monitor check; rollback to {previous}: "
                         f"{'promoted' if back.promoted else 'failed: ' + str(back.reason)}")


def _seconds(timeout_s: float) -> str:
    t = float(timeout_s)
    for digits in range(1, 12):
        text = f"{t:.{digits}f}"
        if 0 < float(text) <= t:
            return text
    return repr(t)


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Run the monitor once, bounded by timeout_s; True only on exit 0."""
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", _seconds(timeout_s)]
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
    """One run per candidate, best held-out accuracy registered with alias challenger."""
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
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
            model = clone(candidate).fit(X_train, y_train)
            score = float(accuracy_score(y_test, model.predict(X_test)))
            mlflow.log_metric("accuracy", score)
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)),
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        if best is None or score > best[0]:
            best = (score, run.info.run_id, info.model_uri)
    score, run_id, model_uri = best
    version = str(mlflow.register_model(model_uri, model_name).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, score)


def _quote(value: str) -> str:
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    """Write a build context serving exactly champion.model_uri."""
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, out / "model.skops")
    (out / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f"LABEL mlflow.run_id={_quote(champion.run_id)} mlflow.model_uri={_quote(champion.model_uri)}\n"
        "COPY model.skops /models/model.skops\n"
        f"ENV MODEL_PATH=/models/model.skops MODEL_VERSION={_quote(version)}\n",
        encoding="utf-8")
    return out
