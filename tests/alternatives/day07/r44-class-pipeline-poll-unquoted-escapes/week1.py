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

import os
import re
import signal
import subprocess
import tempfile
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


class _Pipeline:
    """The pipeline's decisions as methods of one object holding its steps."""

    def __init__(self, train, package, deployer, verify, image, min_score):
        self.train, self.package, self.deployer = train, package, deployer
        self.check, self.image, self.min_score = verify, image, min_score

    @staticmethod
    def _passes(score, bar) -> bool:
        try:
            s, b = float(score), float(bar)
        except (TypeError, ValueError):
            return False
        return s >= b  # False whenever either is NaN

    def go(self) -> Report:
        champion = self.train()
        before = self.deployer.current_version
        if not self._passes(champion.score, self.min_score):
            return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=before,
                          reason="quality gate: score %r does not reach min_score %r" % (champion.score, self.min_score))
        tag = "v%s" % champion.version
        ctx = self.package(champion, tag)
        outcome = self.deployer.deploy(self.image, tag, context=str(ctx))
        if not outcome.promoted:
            return Report(ok=False, stage="deploy", champion=champion, version=tag,
                          serving_version=outcome.serving_version, reason=outcome.reason)
        if self.check():
            return Report(ok=True, stage="done", champion=champion, version=tag,
                          serving_version=outcome.serving_version, reason=outcome.reason)
        if before is None:
            return Report(ok=False, stage="verify", champion=champion, version=tag,
                          serving_version=outcome.serving_version, rolled_back=False,
                          reason="monitor check failed; no previous version to roll back to")
        rollback = self.deployer.deploy(self.image, before)
        return Report(ok=False, stage="verify", champion=champion, version=tag,
                      serving_version=rollback.serving_version, rolled_back=rollback.promoted is True,
                      reason="monitor check failed; rollback to %s %s" % (
                          before, "succeeded" if rollback.promoted else "failed: %s" % rollback.reason))


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    """Train, gate, package, deploy, verify, roll back."""
    return _Pipeline(train, package, deployer, verify, image, min_score).go()


def _seconds(timeout_s: float) -> str:
    millis = int(float(timeout_s) * 1000)  # truncates: never rounds up
    while millis > 0 and millis / 1000 > timeout_s:
        millis -= 1
    return "%d.%03d" % divmod(millis, 1000) if millis > 0 else repr(float(timeout_s))


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        pass
    try:
        proc.wait(timeout=0.3)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Poll the monitor until it exits or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    try:
        proc = subprocess.Popen(["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", _seconds(timeout_s)],
                                start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    while True:
        code = proc.poll()
        late = time.monotonic() >= deadline  # after the poll: an exit seen past the deadline does not count
        if code is not None and not late:
            return code == 0
        if late:
            _kill_group(proc)
            return False
        time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import copy

    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    exp = client.get_experiment_by_name(model_name)
    exp_id = exp.experiment_id if exp else client.create_experiment(model_name, artifact_location=artifact_location)
    results = []
    for name, estimator in candidates.items():
        created = client.create_run(exp_id, run_name=name)
        run_id = created.info.run_id
        fitted = copy.deepcopy(estimator)
        fitted.fit(X_train, y_train)
        accuracy = float((fitted.predict(X_test) == y_test).mean())
        client.log_metric(run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(fitted, name="model",
                                              signature=infer_signature(X_test, fitted.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append((accuracy, run_id, logged.model_uri))
    accuracy, run_id, uri = max(results, key=lambda r: r[0])
    mv = client.create_model_version(model_name, uri, run_id=run_id) if _ensure_model(client, model_name) else None
    version = str(mv.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(run_id=run_id, model_uri=f"models:/{model_name}/{version}", version=version, score=accuracy)


def _ensure_model(client, name) -> bool:
    from mlflow.exceptions import MlflowException
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    return True


_SAFE = re.compile(r"[\w./:@+,-]")


def _escaped(value: str) -> str:
    """Unquoted Dockerfile word: a backslash before every character docker could read specially."""
    return "".join(ch if _SAFE.fullmatch(ch) else "\\" + ch for ch in str(value))


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, _, number = champion.model_uri[len("models:/"):].rpartition("/")
    source = client.get_model_version_download_uri(name, number)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=tracking_uri)
        model = mlflow.sklearn.load_model(local)
    folder = Path(out_dir)
    os.makedirs(folder, exist_ok=True)
    skops.io.dump(model, str(folder / "model.skops"))
    lines = [
        f"FROM {base_image}",
        "COPY model.skops /opt/champion/model.skops",
        # a value ending in an escaped backslash must not end the line (docker reads a final \ as a continuation)
        f"ENV MODEL_VERSION={_escaped(version)} MODEL_PATH=/opt/champion/model.skops",
        f"LABEL mlflow.model_uri={_escaped(champion.model_uri)} mlflow.run_id={_escaped(champion.run_id)}",
        "",
    ]
    (folder / "Dockerfile").write_text("\n".join(lines), encoding="utf-8")
    return folder
