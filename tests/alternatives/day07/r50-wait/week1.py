"""Week 1 end to end (answer A: Popen.wait, mlflow fluent API, ENV/LABEL in double quotes)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
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
    if score is None or bar is None or isinstance(score, bool) or isinstance(bar, bool):
        return False
    try:
        s, b = float(score), float(bar)
    except (TypeError, ValueError):
        return False
    if math.isnan(s) or math.isnan(b):
        return False
    return score >= bar


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    champion = train()
    previous = deployer.current_version
    if not _passes(champion.score, min_score):
        return Report(False, "gate", champion, None, previous,
                      reason=f"score {champion.score!r} is below the bar {min_score!r}")
    version = "v" + str(champion.version)
    context = package(champion, version)
    result = deployer.deploy(image, version, context=str(context))
    if not result.promoted:
        return Report(False, "deploy", champion, version, result.serving_version, rolled_back=False,
                      reason=f"deploy of {version} not promoted: {result.reason}")
    if verify():
        return Report(True, "done", champion, version, result.serving_version, reason=result.reason or "")
    if previous is None:
        return Report(False, "verify", champion, version, result.serving_version, rolled_back=False,
                      reason=f"{version} failed the monitor check and there is no previous version to roll back to")
    back = deployer.deploy(image, previous)
    return Report(False, "verify", champion, version, back.serving_version, rolled_back=bool(back.promoted),
                  reason=(f"{version} failed the monitor check; rollback to {previous} "
                          f"{'succeeded' if back.promoted else 'failed'}: {back.reason}"))


def _seconds(timeout_s: float) -> str:
    floored = math.floor(timeout_s * 1000) / 1000
    if floored > 0:
        return f"{floored:.3f}"
    return repr(float(timeout_s))


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    argv = ["bash", str(monitor), "--url", url, "--once", "--timeout", _seconds(timeout_s)]
    try:
        proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, ValueError):
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
    # bash ended in time; make sure nothing it left behind lives on
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return code == 0


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
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
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_train, model.predict(X_train)),
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        if best is None or score > best[0]:
            best = (score, active.info.run_id, info.model_uri)
    score, run_id, model_uri = best
    mv = mlflow.register_model(model_uri, model_name)
    version = str(mv.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id, f"models:/{model_name}/{version}", version, score)


def _quoted(value: str) -> str:
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    skops.io.dump(model, out / "model.skops")
    dockerfile = "\n".join([
        f"FROM {base_image}",
        f"LABEL mlflow.run_id={_quoted(champion.run_id)} mlflow.model_uri={_quoted(champion.model_uri)}",
        "COPY model.skops /models/champion/model.skops",
        f"ENV MODEL_PATH=/models/champion/model.skops MODEL_VERSION={_quoted(version)}",
        "",
    ])
    (out / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return out
