"""Week 1 end to end (answer B: stage helpers, a polling loop with a monotonic deadline and
SIGTERM-then-SIGKILL, the fluent MLflow API with a results list, a Dockerfile from lines)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
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
    if score is None:
        return False
    return bool(score >= bar)  # NaN compares False


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    serving_before = deployer.current_version
    if not _passes(champion.score, min_score):
        return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=serving_before,
                      reason=f"held-out score {champion.score!s} < required {min_score!s}")
    tag = "v" + str(champion.version)
    base = Report(ok=False, stage="deploy", champion=champion, version=tag, serving_version=None)
    outcome = deployer.deploy(image, tag, context=os.fspath(package(champion, tag)))
    if not outcome.promoted:
        return replace(base, serving_version=outcome.serving_version, reason=f"deploy refused: {outcome.reason}")
    checked = verify()
    if checked is True or checked == True:  # noqa: E712
        return replace(base, ok=True, stage="done", serving_version=outcome.serving_version)
    base = replace(base, stage="verify")
    if serving_before is None:
        return replace(base, serving_version=outcome.serving_version,
                       reason="monitor check failed; no earlier version to roll back to")
    restored = deployer.deploy(image, serving_before)
    return replace(base, serving_version=restored.serving_version, rolled_back=bool(restored.promoted),
                   reason=f"monitor check failed; redeployed {serving_before} "
                          f"({'promoted' if restored.promoted else 'not promoted'}: {restored.reason})")


def _stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 0.3), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if grace is not None:
            end = time.monotonic() + grace
            while proc.poll() is None and time.monotonic() < end:
                time.sleep(0.02)
    proc.wait()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    seconds = f"{timeout_s:.3f}".rstrip("0").rstrip(".")
    if float(seconds) > timeout_s:
        seconds = str(timeout_s)
    try:
        proc = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", seconds],
                                process_group=0, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    except OSError:
        return False
    while True:
        code = proc.poll()
        left = deadline - time.monotonic()  # after the poll: an exit seen past the deadline does not count
        if code is not None and left > 0:
            return code == 0
        if left <= 0:
            _stop(proc)
            return False
        time.sleep(min(0.02, left))


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import copy

    import mlflow
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    found = mlflow.get_experiment_by_name(model_name)
    if found is None:
        experiment_id = mlflow.create_experiment(model_name, artifact_location=artifact_location)
    else:
        experiment_id = found.experiment_id
    results = []
    for name in candidates:
        model = copy.deepcopy(candidates[name])
        model.fit(X_train, y_train)
        accuracy = model.score(X_test, y_test)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=name)
        try:
            mlflow.log_metrics({"accuracy": accuracy})
            logged = mlflow.sklearn.log_model(sk_model=model, name="model",
                                              signature=infer_signature(X_test, model.predict(X_test)))
        finally:
            mlflow.end_run()
        results.append({"accuracy": accuracy, "run_id": run.info.run_id, "uri": logged.model_uri})
    winner = sorted(results, key=lambda r: r["accuracy"], reverse=True)[0]
    registered = client.create_model_version(model_name, winner["uri"], run_id=winner["run_id"]) \
        if _ensure_registered(client, model_name) else None
    version = str(registered.version)
    client.set_registered_model_alias(name=model_name, alias="challenger", version=version)
    return Champion(run_id=winner["run_id"], model_uri=f"models:/{model_name}/{version}", version=version,
                    score=winner["accuracy"])


def _ensure_registered(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    return True


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    from skops.io import dumps

    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    estimator = mlflow.sklearn.load_model(model_uri=champion.model_uri)
    target = Path(out_dir)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / "model.skops").write_bytes(dumps(estimator))
    lines = [
        f"FROM {base_image}",
        f"COPY model.skops /opt/champion/model.skops",
        f"ENV MODEL_PATH=/opt/champion/model.skops",
        'ENV MODEL_VERSION="' + version.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"',
        f'LABEL "mlflow.run_id"="{champion.run_id}"',
        'LABEL "mlflow.model_uri"="' + champion.model_uri.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"',
    ]
    (target / "Dockerfile").write_text("\n".join(lines) + "\n")
    return target
