"""Week 1 pipeline: a small pipeline object, a client-driven registry and a pipe-reading monitor check."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
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
    tag: str | None = None
    notes: list = field(default_factory=list)

    def report(self, ok, stage, serving, rolled_back=False, reason=""):
        return Report(ok=ok, stage=stage, champion=self.champion, version=self.tag, serving_version=serving,
                      rolled_back=rolled_back, reason=reason)

    def gate(self) -> Report | None:
        score = self.champion.score
        if score is None:
            raise ValueError("the champion has no score: refusing to ship an unmeasured model")
        if score >= self.min_score:   # NaN compares False: it never passes
            return None
        return self.report(False, "gate", self.previous,
                           reason=f"held-out score {score} is below the bar of {self.min_score}")

    def ship(self):
        self.tag = "v" + str(self.champion.version)
        context = self.package(self.champion, self.tag)
        return self.deployer.deploy(self.image, self.tag, context=os.fspath(context))

    def roll_back(self, promoted) -> Report:
        if self.previous is None:
            return self.report(False, "verify", promoted.serving_version,
                               reason=f"{self.tag} failed its check; no earlier version exists to roll back to")
        back = self.deployer.deploy(self.image, self.previous)
        return self.report(False, "verify", back.serving_version, rolled_back=back.promoted is True,
                           reason=f"{self.tag} failed its check; redeployed {self.previous}: "
                                  f"{'promoted' if back.promoted else back.reason}")

    def __call__(self) -> Report:
        self.champion = self.train()
        self.previous = self.deployer.current_version
        stopped = self.gate()
        if stopped is not None:
            return stopped
        result = self.ship()
        if not result.promoted:
            return self.report(False, "deploy", result.serving_version, reason=result.reason)
        healthy = self.verify()
        if healthy:
            return self.report(True, "done", result.serving_version, reason="verified")
        return self.roll_back(result)


def run(*, train, package, deployer, verify, image, min_score) -> Report:
    return _Pipeline(train, package, deployer, verify, image, min_score)()


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 0.3), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        if grace:
            time.sleep(grace)


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    request_timeout = repr(float(timeout_s))
    try:
        proc = subprocess.Popen(("bash", os.fspath(monitor), "--url", url, "--once", "--timeout", request_timeout),
                                process_group=0, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError:
        return False
    try:
        proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        return False
    return proc.returncode == 0


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
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

    results = {}
    for name, candidate in candidates.items():
        estimator = copy.deepcopy(candidate)
        estimator.fit(X_train, y_train)
        correct = sum(int(a == b) for a, b in zip(estimator.predict(X_test), y_test))
        accuracy = correct / len(y_test)
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            mlflow.log_metrics({"accuracy": accuracy})
            logged = mlflow.sklearn.log_model(estimator, name="model",
                                              signature=infer_signature(X_test, estimator.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results[name] = (accuracy, active.info.run_id, logged.model_uri)

    accuracy, run_id, model_uri = max(results.values(), key=lambda item: item[0])
    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass
    version = str(client.create_model_version(model_name, source=model_uri, run_id=run_id).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=accuracy)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    estimator = mlflow.pyfunc.load_model(champion.model_uri).get_raw_model()
    context = Path(out_dir)
    os.makedirs(context, exist_ok=True)
    target = context / "model.skops"
    target.unlink(missing_ok=True)
    skops.io.dump(estimator, target)
    dollar = "\\$"  # docker replaces $NAME in a LABEL, even in double quotes
    lines = [
        f"FROM {base_image}",
        "COPY model.skops /opt/champion/model.skops",
        "ENV MODEL_PATH /opt/champion/model.skops",
        f"ENV MODEL_VERSION {json.dumps(version, ensure_ascii=False).replace('$', dollar)}",
        f"LABEL mlflow.run_id={json.dumps(champion.run_id, ensure_ascii=False)}",
        f"LABEL mlflow.model_uri={json.dumps(champion.model_uri, ensure_ascii=False).replace('$', dollar)}",
    ]
    (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return context
