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
import math
import os
import signal
import subprocess
import time


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


def _clears(score, bar) -> bool:
    """True only when both are real numbers and score >= bar."""
    try:
        s, b = float(score), float(bar)
    except (TypeError, ValueError, OverflowError):
        return False
    if math.isnan(s) or math.isnan(b):
        return False
    return s >= b


class _Pipeline:
    def __init__(self, train, package, deployer, verify, image, min_score):
        self.train, self.package, self.deployer = train, package, deployer
        self.check, self.image, self.min_score = verify, image, min_score

    def report(self, ok, stage, serving, rolled_back=False, reason=""):
        return Report(ok, stage, self.champion, self.version, serving, rolled_back, reason)

    def __call__(self) -> Report:
        self.champion = self.train()
        self.version = None
        self.previous = self.deployer.current_version
        if not _clears(self.champion.score, self.min_score):
            return self.report(False, "gate", self.previous,
                               reason=f"champion score {self.champion.score} does not reach min_score {self.min_score}")
        self.version = "v" + str(self.champion.version)
        context = self.package(self.champion, self.version)
        deployed = self.deployer.deploy(self.image, self.version, context=str(context))
        if not deployed.promoted:
            return self.report(False, "deploy", deployed.serving_version, reason=deployed.reason)
        if self.check():
            return self.report(True, "done", deployed.serving_version)
        return self.rollback(deployed)

    def rollback(self, deployed) -> Report:
        if self.previous is None:
            return self.report(False, "verify", deployed.serving_version,
                               reason="monitor check failed; no previous version to roll back to")
        back = self.deployer.deploy(self.image, self.previous)
        return self.report(False, "verify", back.serving_version, rolled_back=back.promoted is True,
                           reason=f"monitor check failed; redeployed {self.previous}: promoted={back.promoted}")


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    """Train, gate, package, deploy, verify, roll back."""
    return _Pipeline(train, package, deployer, verify, image, min_score)()


def _stop_group(proc: subprocess.Popen, grace_s: float = 0.5) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGTERM:
            time.sleep(grace_s)
    proc.communicate()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Run the monitor once, bounded by timeout_s; its output is read and dropped."""
    argv = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", str(float(timeout_s))]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
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
    """One run per candidate; register the best on held-out accuracy."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(
        model_name, artifact_location=artifact_location)
    results = []
    for name, candidate in candidates.items():
        model = clone(candidate)
        model.fit(X_train, y_train)
        score = float((model.predict(X_test) == y_test).mean())
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
            mlflow.log_metrics({"accuracy": score})
            logged = mlflow.sklearn.log_model(model, name="model",
                                              signature=infer_signature(X_test, model.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((score, active.info.run_id, logged.model_uri))
    score, run_id, uri = max(results, key=lambda r: r[0])
    registered = mlflow.register_model(uri, model_name)
    version = str(registered.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=score)


def _docker_quoted(text: str) -> str:
    out = []
    for ch in text:
        if ch in '\\"$':
            out.append("\\")
        out.append(ch)
    return '"' + "".join(out) + '"'


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    """Write a Docker build context serving the champion's registered version."""
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(champion.model_uri).get_raw_model()
    out = Path(out_dir)
    os.makedirs(out, exist_ok=True)
    payload = skops.io.dumps(model)
    (out / "model.skops").write_bytes(payload)
    lines = [
        f"FROM {base_image}",
        "COPY model.skops /opt/week1/model.skops",
        "ENV MODEL_PATH=/opt/week1/model.skops",
        f"ENV MODEL_VERSION={_docker_quoted(version)}",
        f"LABEL mlflow.run_id={_docker_quoted(champion.run_id)}",
        f"LABEL mlflow.model_uri={_docker_quoted(champion.model_uri)}",
    ]
    (out / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
