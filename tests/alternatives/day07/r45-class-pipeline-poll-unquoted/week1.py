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
import numbers
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



class _Pipeline:
    def __init__(self, train, package, deployer, verify, image, min_score):
        self.train, self.package, self.deployer = train, package, deployer
        self.check, self.image, self.min_score = verify, image, min_score
        self.champion = None
        self.version = None
        self.previous = None

    @staticmethod
    def _real(x) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, bool) and not math.isnan(x)

    def report(self, ok, stage, serving, rolled_back=False, reason=""):
        return Report(ok, stage, self.champion, self.version, serving, rolled_back, reason)

    def gate(self):
        if self.min_score is None:
            raise TypeError("min_score is missing: no bar, nothing passes")
        if not self._real(self.min_score):
            raise ValueError(f"min_score {self.min_score!r} is not a number")
        score = self.champion.score
        if self._real(score) and score >= self.min_score:
            return None
        return self.report(False, "gate", self.previous,
                           reason=f"champion score {score!r} does not reach min_score {self.min_score!r}")

    def ship(self):
        context = self.package(self.champion, self.version)
        return self.deployer.deploy(self.image, self.version, context=str(context))

    def roll_back(self, promoted):
        if self.previous is None:
            return self.report(False, "verify", promoted.serving_version,
                               reason="monitor check failed; no previous version to roll back to")
        back = self.deployer.deploy(self.image, self.previous)
        note = "rolled back" if back.promoted else f"rollback refused ({back.reason})"
        return self.report(False, "verify", back.serving_version, rolled_back=back.promoted is True,
                           reason=f"monitor check failed; {note} to {self.previous}")

    def __call__(self) -> Report:
        self.champion = self.train()
        self.previous = self.deployer.current_version
        stopped = self.gate()
        if stopped is not None:
            return stopped
        self.version = "v" + str(self.champion.version)
        result = self.ship()
        if not result.promoted:
            return self.report(False, "deploy", result.serving_version, reason=result.reason or "not promoted")
        if self.check():
            return self.report(True, "done", result.serving_version)
        return self.roll_back(result)


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    """Train, gate, package, deploy, verify, roll back (see _Pipeline)."""
    return _Pipeline(train, package, deployer, verify, image, min_score)()


def _stop_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    """Poll the monitor until it exits or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    argv = ["bash", os.fspath(monitor), "--url", url, "--once", "--timeout", repr(float(timeout_s))]
    try:
        proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    while True:
        code = proc.poll()
        left = deadline - time.monotonic()  # read after the poll: an exit it saw happened before this instant
        if code is not None and left >= 0:
            return code == 0
        if left <= 0:
            break  # past the deadline: False, whatever the monitor says now
        time.sleep(min(0.02, left))
    _stop_group(proc.pid)
    proc.wait()
    return False


class _Candidate:
    def __init__(self, score, run_id, model_uri, model_id):
        self.score, self.run_id, self.model_uri, self.model_id = score, run_id, model_uri, model_id


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    """Runs through MlflowClient; the best is registered with create_model_version."""
    import mlflow
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    X_train, X_test, y_train, y_test = data
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(model_name)
    experiment_id = found.experiment_id if found else client.create_experiment(model_name,
                                                                                artifact_location=artifact_location)
    results = []
    for name, candidate in candidates.items():
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        model = clone(candidate)
        model.fit(X_train, y_train)
        accuracy = accuracy_score(y_test, model.predict(X_test))
        client.log_metric(run_id, "accuracy", float(accuracy))
        with mlflow.start_run(run_id=run_id):
            info = mlflow.sklearn.log_model(model, name="model",
                                            signature=infer_signature(X_test, model.predict(X_test)),
                                            pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        client.set_terminated(run_id)
        results.append(_Candidate(float(accuracy), run_id, info.model_uri, info.model_id))
    best = max(results, key=lambda c: c.score)  # first of equals wins
    try:
        client.create_registered_model(model_name)
    except MlflowException:
        pass  # already registered
    created = client.create_model_version(model_name, source=best.model_uri, run_id=best.run_id,
                                          model_id=best.model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return Champion(best.run_id, f"models:/{model_name}/{version}", version, best.score)


def _escape(value: str) -> str:
    """A Dockerfile word with no quotes: every character that is not a letter or digit backslash-escaped."""
    return "".join(ch if ch.isalnum() and ch.isascii() or ch in "-_./:" else "\\" + ch for ch in str(value))


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    """Fetch the registered version from the client of tracking_uri and write the context."""
    import mlflow
    import skops.io

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    name, _, number = champion.model_uri[len("models:/"):].rpartition("/")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    source = client.get_model_version_download_uri(name, number)
    model = mlflow.sklearn.load_model(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "model.skops", skops.io.dumps(model))
    # A line ending in a backslash continues on the next one, even an escaped one: every value is followed by
    # a plain word on its line.
    lines = [
        f"FROM {base_image}",
        "COPY model.skops /opt/champion/model.skops",
        f"ENV MODEL_VERSION={_escape(version)} MODEL_PATH=/opt/champion/model.skops",
        f"LABEL mlflow.run_id={_escape(champion.run_id)} mlflow.model_uri={_escape(champion.model_uri)} "
        "org.opencontainers.image.title=week1-model",
    ]
    _write(out / "Dockerfile", ("\n".join(lines) + "\n").encode("utf-8"))
    return out
