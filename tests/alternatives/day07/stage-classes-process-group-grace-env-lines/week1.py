"""Week 1 pipeline written as small collaborating objects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
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


class _Pipeline:
    def __init__(self, deployer, image: str, min_score: float):
        self.deployer = deployer
        self.image = image
        self.min_score = min_score

    def gate(self, champion: Champion) -> str | None:
        """None when the champion clears the bar, else why not. NaN compares False; None raises."""
        if champion.score >= self.min_score:
            return None
        return f"held-out score {champion.score} < min_score {self.min_score}"

    def execute(self, train, package, verify) -> Report:
        champion = train()
        before = self.deployer.current_version
        refusal = self.gate(champion)
        if refusal is not None:
            return Report(ok=False, stage="gate", champion=champion, version=None, serving_version=before,
                          reason=refusal)
        tag = "v" + champion.version
        shipped = self.deployer.deploy(self.image, tag, context=os.fspath(package(champion, tag)))
        common = dict(champion=champion, version=tag)
        if not shipped.promoted:
            return Report(ok=False, stage="deploy", serving_version=shipped.serving_version,
                          reason=shipped.reason, **common)
        if verify():
            return Report(ok=True, stage="done", serving_version=shipped.serving_version, **common)
        if before is None:
            return Report(ok=False, stage="verify", serving_version=shipped.serving_version,
                          reason="monitor check failed; no earlier version to restore", **common)
        restored = self.deployer.deploy(self.image, before)
        return Report(ok=False, stage="verify", serving_version=restored.serving_version,
                      rolled_back=restored.promoted is True,
                      reason=f"monitor check failed for {tag}; restoring {before} "
                             + ("succeeded" if restored.promoted else f"failed ({restored.reason})"),
                      **common)


def run(*, train: Callable[[], Champion], package: Callable[[Champion, str], str | Path], deployer,
        verify: Callable[[], bool], image: str, min_score: float) -> Report:
    return _Pipeline(deployer, image, min_score).execute(train, package, verify)


class _Monitor:
    GRACE_S = 0.3

    def __init__(self, script: str | Path, timeout_s: float):
        self.script = os.fspath(script)
        self.timeout_s = float(timeout_s)

    def argv(self, url: str) -> list[str]:
        return ["bash", self.script, "--url", url, "--once", "--timeout", str(self.timeout_s)]

    def healthy(self, url: str) -> bool:
        deadline = time.monotonic() + self.timeout_s
        try:
            proc = subprocess.Popen(self.argv(url), process_group=0, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        except OSError:
            return False
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                return code == 0
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        # one last look exactly at the deadline is not allowed to pass: time is up
        self._stop(proc)
        return False

    def _stop(self, proc: subprocess.Popen) -> None:
        for sig, grace in ((signal.SIGTERM, self.GRACE_S), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            if grace is not None:
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
        proc.wait()


def verify(url: str, *, monitor: str | Path, timeout_s: float = 10.0) -> bool:
    return _Monitor(monitor, timeout_s).healthy(url)


def train_and_register(tracking_uri: str, model_name: str, *, data, candidates: Mapping[str, object],
                       artifact_location: str | None = None) -> Champion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    X_train, X_test, y_train, y_test = data
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    existing = client.get_experiment_by_name(model_name)
    if existing is None:
        experiment_id = client.create_experiment(model_name, artifact_location=artifact_location)
    else:
        experiment_id = existing.experiment_id

    results = []
    for name, candidate in candidates.items():
        model = clone(candidate)
        model.fit(X_train, y_train)
        accuracy = float(accuracy_score(y_test, model.predict(X_test)))
        created = client.create_run(experiment_id, run_name=name)
        run_id = created.info.run_id
        client.log_metric(run_id, "accuracy", accuracy)
        with mlflow.start_run(run_id=run_id):
            logged = mlflow.sklearn.log_model(model, name="model",
                                              signature=infer_signature(X_test, model.predict(X_test)),
                                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        results.append({"accuracy": accuracy, "run_id": run_id, "uri": logged.model_uri})

    best = max(results, key=lambda r: r["accuracy"])
    registered = mlflow.register_model(best["uri"], model_name)
    client.set_registered_model_alias(model_name, "challenger", registered.version)
    version = str(registered.version)
    return Champion(run_id=best["run_id"], model_uri="models:/%s/%s" % (model_name, version), version=version,
                    score=best["accuracy"])


def package(champion: Champion, version: str, *, tracking_uri: str, base_image: str, out_dir: str | Path) -> Path:
    import mlflow
    import skops.io

    target = Path(out_dir)
    os.makedirs(target, exist_ok=True)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    estimator = mlflow.sklearn.load_model(champion.model_uri)
    staging = target / "model.skops.partial"
    skops.io.dump(estimator, staging)
    os.replace(staging, target / "model.skops")
    lines = [
        f"FROM {base_image}",
        "COPY model.skops /opt/week1/champion.skops",
        "ENV MODEL_PATH /opt/week1/champion.skops",
        "ENV MODEL_VERSION " + json.dumps(version, ensure_ascii=False).replace("$", r"\$"),
        f"LABEL mlflow.run_id={json.dumps(champion.run_id, ensure_ascii=False)}",
        "LABEL mlflow.model_uri=" + json.dumps(champion.model_uri, ensure_ascii=False).replace("$", r"\$"),
    ]
    (target / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
