"""Week 1 pipeline as a small state machine object; MlflowClient-first; communicate() for the monitor."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass
class _Pipeline:
    train: Callable
    package: Callable
    deployer: object
    verify: Callable
    image: str
    min_score: float
    champion: Champion | None = None
    previous: str | None = None
    notes: list = field(default_factory=list)

    def report(self, ok, stage, serving, *, tag=None, rolled_back=False):
        return Report(ok, stage, self.champion, tag, serving, rolled_back, "\n".join(self.notes))

    def gate_open(self) -> bool:
        try:
            passed = bool(self.champion.score >= self.min_score)  # NaN compares False, None raises
        except TypeError:
            passed = False
        if not passed:
            self.notes.append(f"quality gate: score {self.champion.score} < min_score {self.min_score}")
        return passed

    def __call__(self) -> Report:
        self.champion = self.train()
        self.previous = self.deployer.current_version
        if not self.gate_open():
            return self.report(False, "gate", self.previous)
        tag = "v" + str(self.champion.version)
        built = self.package(self.champion, tag)
        outcome = self.deployer.deploy(self.image, tag, context=os.fspath(built))
        if not outcome.promoted:
            self.notes += [f"deployer refused {tag}:", outcome.reason]
            return self.report(False, "deploy", outcome.serving_version, tag=tag)
        if self.verify():
            return self.report(True, "done", outcome.serving_version, tag=tag)
        self.notes.append(f"monitor check failed for {tag}")
        if self.previous is None:
            self.notes.append("no previous version to roll back to")
            return self.report(False, "verify", outcome.serving_version, tag=tag)
        back = self.deployer.deploy(self.image, self.previous)
        self.notes.append(f"rollback to {self.previous}: promoted={back.promoted} {back.reason}".rstrip())
        return self.report(False, "verify", back.serving_version, tag=tag, rolled_back=back.promoted is True)


def run(*, train, package, deployer, verify, image, min_score) -> Report:
    return _Pipeline(train, package, deployer, verify, image, min_score)()


def _seconds(timeout_s: float) -> str:
    millis = int(float(timeout_s) * 1000)  # truncates: never above timeout_s
    return f"{max(millis, 1) / 1000:.3f}"


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    command = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", _seconds(timeout_s)]
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, process_group=0)
    except OSError:
        return False
    try:
        child.communicate(timeout=timeout_s)
        return child.returncode == 0
    except subprocess.TimeoutExpired:
        for sig, grace in ((signal.SIGTERM, 0.3), (signal.SIGKILL, None)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                pass
            if grace:
                try:
                    child.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
        child.communicate()
        return False


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import copy

    import mlflow
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(model_name, artifact_location)
    scored = []
    for name, candidate in candidates.items():
        fitted = copy.deepcopy(candidate)
        fitted.fit(X_train, y_train)
        accuracy = float((fitted.predict(X_test) == y_test).mean())
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_metric(run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_train, fitted.predict(X_train)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        scored.append((accuracy, -len(scored), run_id, logged))
    accuracy, _, run_id, logged = max(scored, key=lambda item: (item[0], item[1]))
    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass  # already registered
    created = client.create_model_version(model_name, logged.model_uri, run_id=run_id, model_id=logged.model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, _, number = champion.model_uri.removeprefix("models:/").rpartition("/")
    source = client.get_model_version(name, number).source
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.sklearn.load_model(source)
    context = Path(out_dir)
    context.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, str(context / "model.skops"))

    def quoted(value: str) -> str:
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", r"\$") + '"'

    lines = [
        f"FROM {base_image}",
        f"LABEL mlflow.run_id={quoted(champion.run_id)}",
        f"LABEL mlflow.model_uri={quoted(champion.model_uri)}",
        "COPY model.skops /opt/champion/model.skops",
        "ENV MODEL_PATH /opt/champion/model.skops",
        f"ENV MODEL_VERSION={quoted(version)}",
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
