"""Week 1 pipeline (answer B: a pipeline class with one method per stage, a polling verify with
output to a temp file and a TERM-then-KILL stop, max() over collected results, K V Dockerfile form)."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import tempfile
import time
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


class _Pipeline:
    def __init__(self, train, package, deployer, verify, image, min_score):
        self.train, self.package, self.deployer = train, package, deployer
        self.check, self.image, self.min_score = verify, image, min_score

    def gate(self, champion) -> bool:
        try:
            value = float(champion.score)
        except (TypeError, ValueError):
            return False
        return not math.isnan(value) and value >= self.min_score

    def __call__(self) -> Report:
        champion = self.train()
        before = self.deployer.current_version
        if not self.gate(champion):
            return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=before,
                          reason=f"held-out score {champion.score} does not reach min_score {self.min_score}")
        tag = "v" + str(champion.version)
        outcome = self.deployer.deploy(self.image, tag, context=os.fspath(self.package(champion, tag)))
        if not outcome.promoted:
            return Report(ok=False, stage="deploy", champion=champion, version=tag,
                          serving_version=outcome.serving_version, reason=outcome.reason)
        if self.check():
            return Report(ok=True, stage="done", champion=champion, version=tag,
                          serving_version=outcome.serving_version)
        return self.rollback(champion, tag, before, outcome)

    def rollback(self, champion, tag, before, outcome) -> Report:
        if before is None:
            return Report(ok=False, stage="verify", champion=champion, version=tag,
                          serving_version=outcome.serving_version,
                          reason="monitor check failed; no earlier version to restore")
        restored = self.deployer.deploy(self.image, before)
        return Report(ok=False, stage="verify", champion=champion, version=tag,
                      serving_version=restored.serving_version, rolled_back=restored.promoted is True,
                      reason=f"monitor check failed; restoring {before} "
                             + ("worked" if restored.promoted else f"failed: {restored.reason}"))


def run(*, train, package, deployer, verify, image, min_score) -> Report:
    return _Pipeline(train, package, deployer, verify, image, min_score)()


def verify(url, *, monitor, timeout_s=10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryFile() as sink:
        try:
            proc = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once",
                                     "--timeout", str(timeout_s / 2)],
                                    stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    process_group=0)
        except OSError:
            return False
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                return code == 0
            time.sleep(0.02)
        for sig, grace in ((signal.SIGTERM, 0.3), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            if grace is not None:
                time.sleep(grace)
        proc.wait()
        return False


def train_and_register(tracking_uri, model_name, *, data, candidates, artifact_location=None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(model_name)
    exp_id = found.experiment_id if found else client.create_experiment(model_name, artifact_location=artifact_location)
    results = []
    for index, (name, candidate) in enumerate(candidates.items()):
        model = clone(candidate)
        model.fit(X_train, y_train)
        accuracy = float((model.predict(X_test) == y_test).mean())
        with mlflow.start_run(experiment_id=exp_id, run_name=name) as active:
            mlflow.log_metrics({"accuracy": accuracy})
            logged = mlflow.sklearn.log_model(model, name="model",
                                              signature=infer_signature(X_test, model.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((accuracy, -index, active.info.run_id, logged.model_uri))
    accuracy, _, run_id, uri = max(results)
    registered = client.create_model_version(model_name, uri, run_id=run_id) if _ensure(client, model_name) else None
    version = str(registered.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=accuracy)


def _ensure(client, name) -> bool:
    import mlflow

    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name)
    return True


def package(champion, version, *, tracking_uri, base_image, out_dir) -> Path:
    import mlflow
    import skops.io

    target = Path(out_dir)
    os.makedirs(target, exist_ok=True)
    previous = mlflow.get_registry_uri()
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.sklearn.load_model(champion.model_uri)
    (target / "model.skops").write_bytes(skops.io.dumps(model))
    dollar = "\\$"  # a literal $ for docker, which expands $NAME even in double quotes
    lines = [
        f"FROM {base_image}",
        f'LABEL mlflow.run_id="{champion.run_id}"',
        f'LABEL mlflow.model_uri="{champion.model_uri.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace("$", dollar)}"',
        "COPY model.skops /srv/model/model.skops",
        "ENV MODEL_PATH /srv/model/model.skops",
        f'ENV MODEL_VERSION "{version.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace("$", dollar)}"',
    ]
    (target / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
