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
import contextlib
import os
import signal
import subprocess


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
    """One run of the week-1 pipeline, one method per stage."""

    def __init__(self, train, package, deployer, verify, image, min_score):
        self.train, self.package, self.deployer = train, package, deployer
        self.check, self.image, self.min_score = verify, image, min_score
        self.champion = None
        self.version = None
        self.previous = None

    def report(self, ok, stage, serving, rolled_back=False, reason=""):
        return Report(ok, stage, self.champion, self.version, serving, rolled_back, reason)

    def passes_gate(self) -> bool:
        score = self.champion.score
        if score is None:
            return False
        try:
            return bool(score >= self.min_score)
        except TypeError:
            return False

    def gate(self):
        self.champion = self.train()
        self.previous = self.deployer.current_version
        if not self.passes_gate():
            return self.report(False, "gate", self.previous,
                               reason="quality gate: score %s does not reach min_score %s"
                                      % (self.champion.score, self.min_score))
        return None

    def ship(self):
        self.version = "v" + str(self.champion.version)
        context = self.package(self.champion, self.version)
        return self.deployer.deploy(self.image, self.version, context=str(context))

    def rollback(self, promoted):
        if self.previous is None:
            return self.report(False, "verify", promoted.serving_version,
                               reason="monitor check failed; no previous version to roll back to")
        back = self.deployer.deploy(self.image, self.previous)
        note = "rolled back to " + self.previous if back.promoted else "rollback to %s failed: %s" % (
            self.previous, back.reason)
        return self.report(False, "verify", back.serving_version, rolled_back=back.promoted is True,
                           reason="monitor check failed; " + note)

    def __call__(self) -> Report:
        stopped = self.gate()
        if stopped is not None:
            return stopped
        deployed = self.ship()
        if not deployed.promoted:
            return self.report(False, "deploy", deployed.serving_version,
                               reason="deploy of %s refused: %s" % (self.version, deployed.reason))
        if self.check():
            return self.report(True, "done", deployed.serving_version)
        return self.rollback(deployed)


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    """Train, gate, package, deploy, verify, roll back."""
    return _Pipeline(train, package, deployer, verify, image, min_score)()


class _MonitorRun:
    """One bounded run of the monitor script in its own session; output read through pipes."""

    GRACE_S = 0.5

    def __init__(self, monitor, url, timeout_s):
        self.argv = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", "%.17g" % float(timeout_s)]
        self.timeout_s = float(timeout_s)

    def _kill_group(self, proc, sig):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def healthy(self) -> bool:
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError:
            return False
        with proc:
            try:
                proc.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                self._kill_group(proc, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=self.GRACE_S)
                self._kill_group(proc, signal.SIGKILL)
                proc.communicate()
                return False
            return proc.returncode == 0


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Run the monitor once, bounded by timeout_s."""
    return _MonitorRun(monitor, url, timeout_s).healthy()


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    experiment = client.get_experiment_by_name(model_name)
    if experiment is None:
        experiment_id = client.create_experiment(model_name, artifact_location=artifact_location)
    else:
        experiment_id = experiment.experiment_id
    results = []
    for name, candidate in candidates.items():
        fitted = clone(candidate)
        fitted.fit(X_train, y_train)
        accuracy = float(accuracy_score(y_test, fitted.predict(X_test)))
        created = client.create_run(experiment_id, run_name=name)
        run_id = created.info.run_id
        client.log_metric(run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)),
                                              pip_requirements=["scikit-learn==" + sklearn.__version__])
        results.append((accuracy, run_id, logged.model_uri))
    accuracy, run_id, model_uri = max(results, key=lambda item: item[0])
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    version = str(client.create_model_version(model_name, model_uri, run_id=run_id).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri="models:/%s/%s" % (model_name, version), version=version, score=accuracy)


@contextlib.contextmanager
def _mlflow_pointed_at(uri):
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service

    saved = (_tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        _tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri = saved


def _single_quoted(value) -> str:
    return "'" + str(value).replace("'", "'\\''") + "'"


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow.sklearn
    import skops.io

    with _mlflow_pointed_at(tracking_uri):
        model = mlflow.sklearn.load_model(champion.model_uri)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    model_file = target / "model.skops"
    model_file.unlink(missing_ok=True)
    skops.io.dump(model, model_file)
    lines = [
        "FROM " + base_image,
        "COPY model.skops /opt/champion/",
        "ENV MODEL_PATH=/opt/champion/model.skops",
        "ENV MODEL_VERSION=" + _single_quoted(version),
        "LABEL mlflow.run_id=" + _single_quoted(champion.run_id),
        "LABEL mlflow.model_uri=" + _single_quoted(champion.model_uri),
    ]
    (target / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
