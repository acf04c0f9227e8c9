"""Week 1 pipeline, written as a small state machine plus explicit client-API MLflow calls."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple


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
    """Exact comparison; anything that is not a real finite-or-infinite number fails (NaN included)."""
    try:
        return bool(score >= bar)  # NaN >= x is False; None >= x raises TypeError
    except TypeError:
        return False


class _Pipeline:
    def __init__(self, train, package, deployer, verify, image, min_score):
        self.train, self.package, self.deployer = train, package, deployer
        self.check, self.image, self.min_score = verify, image, min_score

    def __call__(self) -> Report:
        champion = self.train()
        before = self.deployer.current_version
        if not _passes(champion.score, self.min_score):
            return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=before,
                          reason=f"held-out score {champion.score!r} < min_score {self.min_score!r}")
        tag = "v" + str(champion.version)
        fail = lambda stage, serving, reason, back=False: Report(  # noqa: E731
            ok=False, stage=stage, champion=champion, version=tag, serving_version=serving, rolled_back=back,
            reason=reason)
        context = self.package(champion, tag)
        outcome = self.deployer.deploy(self.image, tag, context=os.fspath(context))
        if not outcome.promoted:
            return fail("deploy", outcome.serving_version, outcome.reason)
        healthy = self.check()
        if healthy is True or healthy:
            return Report(ok=True, stage="done", champion=champion, version=tag,
                          serving_version=outcome.serving_version)
        if not before:
            return fail("verify", outcome.serving_version, "monitor failed; no earlier version to restore")
        restored = self.deployer.deploy(self.image, before)
        return fail("verify", restored.serving_version,
                    f"monitor failed; redeploy of {before} promoted={restored.promoted} ({restored.reason})",
                    back=bool(restored.promoted))


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    return _Pipeline(train, package, deployer, verify, image, min_score)()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    seconds = format(Decimal(str(timeout_s)).normalize(), "f")
    try:
        child = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", seconds],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                 preexec_fn=os.setsid)
    except OSError:
        return False
    while True:
        code = child.poll()
        late = time.monotonic() >= deadline  # after the poll: an exit seen past the deadline does not count
        if code is not None and not late:
            return code == 0
        if late:
            break
        time.sleep(0.02)
    group = child.pid
    for sig, grace in ((signal.SIGTERM, 0.2), (signal.SIGKILL, None)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        if grace is not None:
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            # bash ended, but its children may not have: make sure the group is gone
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()
    return False


class _Scored(NamedTuple):
    accuracy: float
    run_id: str
    model_uri: str


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import copy

    import mlflow
    import numpy as np
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        experiment_id = client.create_experiment(model_name, artifact_location=artifact_location)
    except MlflowException:
        experiment_id = client.get_experiment_by_name(model_name).experiment_id

    scored: list[_Scored] = []
    for name, candidate in candidates.items():
        estimator = copy.deepcopy(candidate)
        estimator.fit(X_train, y_train)
        accuracy = float(np.mean(np.asarray(estimator.predict(X_test)) == np.asarray(y_test)))
        created = client.create_run(experiment_id, run_name=name)
        run_id = created.info.run_id
        with mlflow.start_run(run_id=run_id):
            client.log_metric(run_id, "accuracy", accuracy)
            logged = mlflow.sklearn.log_model(
                estimator, name="model", signature=infer_signature(X_train[:5], estimator.predict(X_train[:5])),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        scored.append(_Scored(accuracy, run_id, logged.model_uri))

    best = sorted(scored, key=lambda s: s.accuracy, reverse=True)[0]
    registered = mlflow.register_model(best.model_uri, model_name)
    version = str(registered.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=best.run_id, model_uri=f"models:/{model_name}/{version}", version=version,
                    score=best.accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import json

    import mlflow
    import skops.io

    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(tracking_uri)  # MLflow 3 resolves a registry version through the tracking store too
        mlflow.set_registry_uri(tracking_uri)
        try:
            model = mlflow.sklearn.load_model(champion.model_uri, dst_path=scratch)
        finally:
            mlflow.set_tracking_uri(previous[0])
            mlflow.set_registry_uri(previous[1])
    staged = target / "model.skops.tmp"
    skops.io.dump(model, staged)
    os.replace(staged, target / "model.skops")
    label_uri = json.dumps(champion.model_uri, ensure_ascii=False).replace("$", "\\$")
    lines = [
        f"FROM {base_image}",
        f"LABEL mlflow.run_id={json.dumps(champion.run_id, ensure_ascii=False)}",
        f"LABEL mlflow.model_uri={label_uri}",
        "COPY model.skops /opt/champion/model.skops",
        "ENV MODEL_PATH /opt/champion/model.skops",
        "ENV MODEL_VERSION " + json.dumps(version, ensure_ascii=False).replace("$", "\\$"),
    ]
    (target / "Dockerfile").write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
    return target
