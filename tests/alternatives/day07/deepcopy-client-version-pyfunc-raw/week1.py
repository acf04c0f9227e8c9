"""Week 1 end to end: train, gate on quality, package, deploy, verify, roll back."""

from __future__ import annotations

import copy
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


def _passes(score, bar) -> bool:
    try:
        return bool(score >= bar)   # False for NaN: every comparison with NaN is False
    except TypeError:
        return False


def _rollback(deployer, image: str, previous: str | None, champion: Champion, version: str, promoted) -> Report:
    if previous is None:
        return Report(ok=False, stage="verify", champion=champion, version=version,
                      serving_version=promoted.serving_version, rolled_back=False,
                      reason="monitor check failed; no earlier version to roll back to")
    outcome = deployer.deploy(image, previous)
    promoted_back = outcome.promoted is True
    return Report(ok=False, stage="verify", champion=champion, version=version,
                  serving_version=outcome.serving_version, rolled_back=promoted_back,
                  reason=("monitor check failed; rolled back to " + previous) if promoted_back
                  else f"monitor check failed; rollback to {previous} failed ({outcome.reason})")


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    serving_before = deployer.current_version
    if not _passes(champion.score, min_score):
        return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=serving_before,
                      reason=f"held-out score {champion.score!r} does not reach the bar {min_score!r}")
    tag = "v" + str(champion.version)
    context = Path(package(champion, tag))
    promoted = deployer.deploy(image, tag, context=str(context))
    if not promoted.promoted:
        return Report(ok=False, stage="deploy", champion=champion, version=tag,
                      serving_version=promoted.serving_version, reason=promoted.reason)
    healthy = verify()
    if healthy:
        return Report(ok=True, stage="done", champion=champion, version=tag, serving_version=promoted.serving_version,
                      reason="verified")
    return _rollback(deployer, image, serving_before, champion, tag, promoted)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.communicate(timeout=0.2)
            if sig == signal.SIGKILL:
                return
        except subprocess.TimeoutExpired:
            continue
    proc.communicate()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    request_timeout = min(5.0, float(timeout_s))
    argv = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", repr(request_timeout)]
    try:
        proc = subprocess.Popen(argv, preexec_fn=os.setsid, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError:
        return False
    try:
        proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        return False
    return proc.returncode == 0


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import numpy as np
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(
        model_name, artifact_location=artifact_location)

    fitted = {name: copy.deepcopy(est).fit(X_train, y_train) for name, est in candidates.items()}
    scores = {name: float(np.mean(model.predict(X_test) == np.asarray(y_test))) for name, model in fitted.items()}

    logged = {}
    for name, model in fitted.items():
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            mlflow.log_metrics({"accuracy": scores[name]})
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_test, model.predict(X_test)),
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
            logged[name] = (active.info.run_id, info)

    winner = sorted(scores, key=lambda n: -scores[n])[0]
    run_id, info = logged[winner]
    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass  # already registered: this is a new version of it
    created = client.create_model_version(model_name, source=info.model_uri, run_id=run_id, model_id=info.model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version,
                    score=scores[winner])


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    target = Path(os.fspath(out_dir))
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        estimator = mlflow.pyfunc.load_model(champion.model_uri, dst_path=scratch).get_raw_model()
    skops.io.dump(estimator, str(target / "model.skops"))
    lines = [
        f"FROM {base_image}",
        'ARG SERVED_VERSION="%s"' % version.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$"),
        f"LABEL mlflow.run_id={champion.run_id}",
        'LABEL mlflow.model_uri="%s"' % champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$"),
        "COPY model.skops /srv/model/champion.skops",
        "ENV MODEL_PATH /srv/model/champion.skops",
        "ENV MODEL_VERSION ${SERVED_VERSION}",
    ]
    (target / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
