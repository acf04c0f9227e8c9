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


_GATE, _DEPLOY, _VERIFY, _DONE = "gate", "deploy", "verify", "done"


def _passes(score, bar) -> bool:
    import math
    import numbers

    if not isinstance(score, numbers.Real) or isinstance(score, bool):
        return False  # None, a string, ...: a broken metric is not a score
    return not math.isnan(score) and score >= bar


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    """Train, refuse a model below `min_score`, package and deploy the champion as
    `v<champion.version>`, check it with `verify`, and redeploy the previous version when
    the check fails. Every outcome is a `Report`, so a CI job can act on it."""
    champion = train()
    known_good = deployer.current_version
    outcome = dict(ok=False, champion=champion, version=None, serving_version=known_good)

    if not _passes(champion.score, min_score):
        return Report(stage=_GATE, reason=f"held-out score {champion.score!r} < min_score {min_score!r}", **outcome)

    outcome["version"] = tag = "v" + str(champion.version)
    built = deployer.deploy(image, tag, context=str(package(champion, tag)))
    outcome["serving_version"] = built.serving_version
    if not built.promoted:
        return Report(stage=_DEPLOY, reason=str(built.reason), **outcome)

    if verify():
        outcome["ok"] = True
        return Report(stage=_DONE, **outcome)

    if known_good is None:
        return Report(stage=_VERIFY, reason="monitor check failed; no earlier version to return to", **outcome)

    restored = deployer.deploy(image, known_good)
    outcome["serving_version"] = restored.serving_version
    note = "restored" if restored.promoted else f"could not restore it ({restored.reason})"
    return Report(stage=_VERIFY, rolled_back=bool(restored.promoted),
                  reason=f"monitor check failed for {tag}; previous {known_good} {note}", **outcome)


async def _monitor_once(argv: list[str], timeout_s: float) -> bool:
    import asyncio
    import os
    import signal

    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    try:
        code = await asyncio.wait_for(proc.wait(), timeout=timeout_s)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        return False
    return code == 0


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Run the monitor script once (`bash monitor --url URL --once --timeout S`): True only when it exits 0.
    After `timeout_s` seconds it is killed with everything it started (its process group), and
    a hang or a failure to start is False. Its output is read or discarded, never left in a pipe."""
    import asyncio

    per_request = min(max(min(timeout_s, 5.0) * 0.8, 0.1), timeout_s)  # never more than timeout_s
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", repr(round(per_request, 3))]
    return asyncio.run(_monitor_once(argv, timeout_s))


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    """Fit a copy of every candidate on the training rows (the caller's stay unfitted), each in
    its own MLflow run named after it that logs `accuracy` on the held-out rows and the model;
    register the best run's model as a new version of `model_name`, point the alias
    `challenger` at it, and return it.
    `data` is `(X_train, X_test, y_train, y_test)`; everything goes to `tracking_uri`."""
    import copy

    import mlflow
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        experiment_id = client.create_experiment(model_name, artifact_location=artifact_location)
    except MlflowException:
        found = client.get_experiment_by_name(model_name)
        if found is None:
            raise
        experiment_id = found.experiment_id

    results = []  # (accuracy, run_id, logged model info)
    for name, candidate in candidates.items():
        estimator = copy.deepcopy(candidate)
        estimator.fit(X_train, y_train)
        predictions = estimator.predict(X_test)
        accuracy = sum(int(a == b) for a, b in zip(predictions, y_test)) / len(y_test)
        created = client.create_run(experiment_id, run_name=name)
        run_id = created.info.run_id
        client.log_metric(run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.sklearn.log_model(
                estimator, name="model", signature=infer_signature(X_train, estimator.predict(X_train)),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((accuracy, run_id, info))

    accuracy, run_id, info = max(results, key=lambda item: item[0])
    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass  # it exists: this is a new version of it
    created = client.create_model_version(model_name, source=info.model_uri, run_id=run_id, model_id=info.model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    """Write a Docker build context to `out_dir` and return it: the registered model at
    `champion.model_uri` saved as `model.skops`, and a Dockerfile that starts `FROM base_image`,
    copies the model in, sets `MODEL_PATH` and `MODEL_VERSION=version`, and labels the
    image with the champion's run id and model URI."""
    import mlflow
    import mlflow.sklearn
    from skops.io import dump

    prefix = "models:/"
    if not champion.model_uri.startswith(prefix):
        raise ValueError(f"not a registered model URI: {champion.model_uri!r}")
    name, number = champion.model_uri[len(prefix):].rsplit("/", 1)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    location = client.get_model_version_download_uri(name, number)
    model = mlflow.sklearn.load_model(location)

    context = Path(out_dir).resolve()
    context.mkdir(parents=True, exist_ok=True)
    dump(model, str(context / "model.skops"))

    def quoted(text: str) -> str:
        return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'

    lines = [
        f"FROM {base_image}",
        f"ARG CHAMPION_VERSION={quoted(version)}",  # not MODEL_VERSION: the base image's ENV of that name wins
        f"LABEL mlflow.run_id={quoted(champion.run_id)}",
        f"LABEL mlflow.model_uri={quoted(champion.model_uri)}",
        "COPY model.skops /srv/champion/model.skops",
        "ENV MODEL_PATH=/srv/champion/model.skops",
        "ENV MODEL_VERSION=${CHAMPION_VERSION}",
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
