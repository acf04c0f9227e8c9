"""Week 1 pipeline, written around small helpers and the MlflowClient API."""

from __future__ import annotations

import functools
import math
import numbers
import os
import signal
import subprocess
import time
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


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not math.isnan(float(value))


def run(*, train, package, deployer, verify, image, min_score) -> Report:
    if not _is_number(min_score):
        raise ValueError(f"min_score must be a number, got {min_score!r}")
    champion = train()
    last_good = deployer.current_version
    report = functools.partial(Report, champion=champion)

    if not (_is_number(champion.score) and champion.score >= min_score):
        return report(ok=False, stage="gate", version=None, serving_version=last_good,
                      reason=f"quality gate: score={champion.score} < min_score={min_score}")

    tag = "v" + str(champion.version)
    report = functools.partial(report, version=tag)
    built = package(champion, tag)
    outcome = deployer.deploy(image, tag, context=str(built))
    if not outcome.promoted:
        return report(ok=False, stage="deploy", serving_version=outcome.serving_version,
                      reason=outcome.reason)

    healthy = verify()
    if healthy:
        return report(ok=True, stage="done", serving_version=outcome.serving_version)
    if last_good is None:
        return report(ok=False, stage="verify", serving_version=outcome.serving_version,
                      reason="monitor check failed; no earlier version to go back to")
    restored = deployer.deploy(image, last_good)
    return report(ok=False, stage="verify", serving_version=restored.serving_version,
                  rolled_back=restored.promoted is True,
                  reason=f"monitor check failed; redeploy of {last_good} "
                         + ("succeeded" if restored.promoted else f"failed ({restored.reason})"))


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 0.3), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if grace:
            time.sleep(grace)
    proc.wait()


def verify(url: str, *, monitor, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    request_timeout = math.floor(timeout_s * 1000) / 1000 or timeout_s
    cmd = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", format(request_timeout, ".3f")]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError:
        return False
    try:
        proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        proc.communicate()
        return False
    return proc.returncode == 0


def train_and_register(tracking_uri, model_name, *, data, candidates, artifact_location=None) -> Champion:
    import copy

    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(
        model_name, artifact_location=artifact_location)

    results = []
    for name in candidates:
        model = copy.deepcopy(candidates[name])
        model.fit(X_train, y_train)
        accuracy = float((model.predict(X_test) == y_test).mean())
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            mlflow.log_metrics({"accuracy": accuracy})
            logged = mlflow.sklearn.log_model(
                sk_model=model, name="model", signature=infer_signature(X_test, model.predict(X_test)),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append({"accuracy": accuracy, "run_id": active.info.run_id, "uri": logged.model_uri})

    best = max(results, key=lambda r: r["accuracy"])
    registered = mlflow.register_model(best["uri"], model_name)
    version = str(registered.version)
    client.set_registered_model_alias(name=model_name, alias="challenger", version=version)
    return Champion(run_id=best["run_id"], model_uri="models:/%s/%s" % (model_name, version),
                    version=version, score=best["accuracy"])


def _label_value(text: str) -> str:
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped + '"'


def package(champion, version, *, tracking_uri, base_image, out_dir) -> Path:
    import mlflow
    import skops.io

    name, number = champion.model_uri[len("models:/"):].rsplit("/", 1)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    location = client.get_model_version_download_uri(name, number)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(location)

    context = Path(out_dir)
    os.makedirs(context, exist_ok=True)
    target = context / "model.skops"
    if target.exists():
        target.unlink()
    skops.io.dump(model, str(target))
    lines = [
        f"FROM {base_image}",
        "COPY model.skops /opt/model/model.skops",
        "ENV MODEL_PATH /opt/model/model.skops",
        f"ENV MODEL_VERSION {_label_value(version)}",
        f"LABEL mlflow.run_id={_label_value(champion.run_id)}",
        f"LABEL mlflow.model_uri={_label_value(champion.model_uri)}",
    ]
    context.joinpath("Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
