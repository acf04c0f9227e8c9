"""Week 1 end to end (answer B: poll loop with SIGTERM then SIGKILL, step helpers, Decimal timeout)."""

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


def _as_number(value, what: str):
    if value is None:
        raise TypeError(f"{what} is missing")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} {value!r} is not a number")
    if math.isnan(value):
        raise ValueError(f"{what} is NaN")
    return value


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    bar = _as_number(min_score, "min_score")  # a broken bar is the caller's bug: raise
    champion = train()
    serving_before = deployer.current_version

    def report(ok, stage, serving, *, rolled_back=False, reason="", version=None):
        return Report(ok, stage, champion, version, serving, rolled_back, reason)

    try:
        score = _as_number(champion.score, "score")
    except (TypeError, ValueError) as exc:
        return report(False, "gate", serving_before, reason=f"no usable score: {exc}")
    if score < bar:
        return report(False, "gate", serving_before, reason=f"score {score!r} < min_score {bar!r}")

    tag = f"v{champion.version}"
    deployed = deployer.deploy(image, tag, context=str(package(champion, tag)))
    if not deployed.promoted:
        return report(False, "deploy", deployed.serving_version, version=tag, reason=str(deployed.reason))
    if verify():
        return report(True, "done", deployed.serving_version, version=tag)
    if serving_before is None:
        return report(False, "verify", deployed.serving_version, version=tag,
                      reason="monitor check failed; no earlier version exists, nothing rolled back")
    restored = deployer.deploy(image, serving_before)
    return report(False, "verify", restored.serving_version, version=tag, rolled_back=restored.promoted is True,
                  reason=f"monitor check failed; redeployed {serving_before}: "
                         f"promoted={restored.promoted} {restored.reason}")


def _timeout_arg(timeout_s: float) -> str:
    text = str(Decimal(repr(float(timeout_s))).quantize(Decimal("0.001"), rounding=ROUND_DOWN))
    return text if Decimal(text) > 0 else repr(float(timeout_s))


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    try:
        proc = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout",
                                 _timeout_arg(timeout_s)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                process_group=0)
    except (OSError, ValueError):
        return False
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        now = time.monotonic()
        if code is not None and now <= deadline:
            return code == 0
        if now >= deadline:
            _stop(proc)
            return False
        time.sleep(min(0.02, deadline - now))


def _experiment_id(client, name: str, artifact_location) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment_id = _experiment_id(client, model_name, artifact_location)
    results = []
    for name, candidate in candidates.items():
        fitted = clone(candidate)
        fitted.fit(X_train, y_train)
        accuracy = float((fitted.predict(X_test) == y_test).mean())
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            client.log_metric(active.info.run_id, "accuracy", accuracy)
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((accuracy, active.info.run_id, logged.model_uri))
    accuracy, run_id, model_uri = max(results, key=lambda r: r[0])
    created = client.create_model_version(model_name, model_uri, run_id=run_id) if _exists(client, model_name) \
        else _first_version(client, model_name, model_uri, run_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, accuracy)


def _exists(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException:
        return False


def _first_version(client, name, model_uri, run_id):
    client.create_registered_model(name)
    return client.create_model_version(name, model_uri, run_id=run_id)


def _docker_quote(value: str) -> str:
    out = []
    for ch in str(value):
        if ch in '\\"$':
            out.append("\\")
        out.append(ch)
    return '"' + "".join(out) + '"'


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    model_file = target / "model.skops"
    model_file.unlink(missing_ok=True)
    skops.io.dump(model, str(model_file))
    lines = [
        f"FROM {base_image}",
        "USER root",
        "COPY model.skops /opt/shipped/model.skops",
        "RUN chmod 0644 /opt/shipped/model.skops",
        "USER 10001:10001",
        f"ENV MODEL_PATH=/opt/shipped/model.skops",
        f"ENV MODEL_VERSION={_docker_quote(version)}",
        f"LABEL mlflow.run_id={_docker_quote(champion.run_id)}",
        f"LABEL mlflow.model_uri={_docker_quote(champion.model_uri)}",
    ]
    (target / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
