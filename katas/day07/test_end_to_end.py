"""Tasks 1-5 together on real parts: MLflow store, Docker engine, the day-03 server image,
the day-05 deployer and the day-06 monitor, all driven by your `run`.

Your `train_and_register` trains into a fresh SQLite store; your `package` writes the
build context; the day-05 reference `Deployer` builds and runs it on a free port; your
`verify` runs the day-06 monitor against it. The second test crashes the new container
right after its promotion (the way a model that passes its first health check can still
fall over) and expects your `run` to put the previous version back.

Containers and images carry the run's labels and are removed when each test ends, also
when it fails; a killed run's leftovers are removed by the next one.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from mlops_katas.infra.docker_engine import run_labels
from mlops_katas.infra.docker_fixtures import remove_named
from mlops_katas.infra.http_server import free_port

pytestmark = [pytest.mark.task(taskno=5), pytest.mark.docker, pytest.mark.mlflow, pytest.mark.timeout(420)]

MIN_SCORE = 0.8


class Week1:
    """One pipeline: its store, deployer, image repository and port, and how to run it."""

    def __init__(self, request, client, server_image, store, data, candidates, tmp_path, deploy_automation, monitor):
        self.client = client
        self.monitor = monitor
        self.server_image = server_image
        self.store = store
        self.data = data
        self.candidates = candidates
        self.tmp_path = tmp_path
        self.name = f"katas-day07-{uuid.uuid4().hex[:8]}"
        self.image = f"katas/day07-{self.name[-8:]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        labels = run_labels(request.node.nodeid)
        policy = deploy_automation.RetryPolicy(max_attempts=40, initial_delay_s=0.2, max_delay_s=1.0,
                                               deadline_s=60.0, probe_timeout_s=2.0)
        self.deployer = deploy_automation.Deployer(self.name, self.port, runner=self._labelled(deploy_automation, labels),
                                                   policy=policy, labels=labels, command_timeout_s=300)

    @staticmethod
    def _labelled(deploy_automation, labels):
        """The real runner, with the run's labels added to every `docker build` (for clean-up)."""
        flags = [part for key, value in labels.items() for part in ("--label", f"{key}={value}")]

        def run(argv, timeout):
            argv = list(argv)
            if argv[1:2] == ["build"]:
                argv = [argv[0], "build", *flags, *argv[2:]]
            return deploy_automation.run_command(argv, timeout)

        return run

    def run(self, *, crash_after_promotion: bool = False):
        import week1

        def train():
            return week1.train_and_register(self.store.tracking_uri, "week1", data=self.data.split(),
                                            candidates=self.candidates(), artifact_location=self.store.artifact_location)

        def package(champion, version):
            return week1.package(champion, version, tracking_uri=self.store.tracking_uri, base_image=self.server_image,
                                 out_dir=self.tmp_path / f"context-{version}")

        def verify():
            if crash_after_promotion:
                self.container(self.deployer.current_version).kill()
            return week1.verify(self.url, monitor=self.monitor, timeout_s=10)

        return week1.run(train=train, package=package, deployer=self.deployer, verify=verify, image=self.image,
                         min_score=MIN_SCORE)

    def container(self, version):
        return self.client.containers.get(self.deployer.container_name(version))

    def get(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def champion_predictions(self, champion) -> list:
        import mlflow

        from mlops_katas.infra.mlflow_env import isolated

        with isolated(self.store):
            mlflow.set_registry_uri(self.store.tracking_uri)
            model = mlflow.sklearn.load_model(champion.model_uri)
        return model.predict(self.data.X_test).tolist()

    def remove(self) -> None:
        import docker

        remove_named(self.client, self.name)
        for image in self.client.images.list(name=self.image):
            try:
                self.client.images.remove(image.id, force=True)
            except docker.errors.NotFound:
                pass


@pytest.fixture
def week1_pipeline(request, docker_client, server_image, mlflow_store, data, candidates, tmp_path, deploy_automation,
                   monitor):
    pipeline = Week1(request, docker_client, server_image, mlflow_store, data, candidates, tmp_path, deploy_automation,
                     monitor)
    try:
        yield pipeline
    finally:
        pipeline.remove()


def test_the_champion_is_trained_shipped_and_serving(week1_pipeline):
    report = week1_pipeline.run()
    assert report.ok and report.stage == "done", f"the pipeline should succeed end to end; it reported {report}"
    assert report.version == "v1" and report.serving_version == "v1", (
        f"version 1 of the registry should be serving as v1; the report says {report}")
    health = week1_pipeline.get("/health")
    assert health.get("model_version") == "v1", f"/health should report model_version 'v1' (MODEL_VERSION), got {health}"
    rows = week1_pipeline.data.X_test.tolist()
    answer = week1_pipeline.get("/predict", {"features": rows})
    assert answer.get("predictions") == week1_pipeline.champion_predictions(report.champion), (
        "the container should serve the champion's model: its /predict answers differ from the registered version's")
    labels = week1_pipeline.client.images.get(f"{week1_pipeline.image}:v1").labels
    assert labels.get("mlflow.run_id") == report.champion.run_id, (
        f"the image should carry the label mlflow.run_id={report.champion.run_id}; its labels are {labels}")
    assert labels.get("mlflow.model_uri") == report.champion.model_uri, (
        f"the image should carry the label mlflow.model_uri={report.champion.model_uri}; its labels are {labels}")
    base_user = week1_pipeline.client.images.get(week1_pipeline.server_image).attrs["Config"].get("User") or "root"
    base_uid = base_user.split(":")[0]
    command = ["id", "-u"] if base_uid.isdigit() else ["id", "-un"]
    serving_as = week1_pipeline.container("v1").exec_run(command).output.decode().strip()
    assert serving_as == base_uid, (
        f"the container should serve as the day-03 image's own user ({base_user}), the one its files belong to; "
        f"it runs as {serving_as!r}: set no USER in the Dockerfile (COPY needs no root), or switch back to exactly "
        "that user, not a guessed one")


def test_a_crash_after_promotion_puts_the_previous_version_back(week1_pipeline):
    first = week1_pipeline.run()
    assert first.ok, f"the first deployment should succeed before the rollback can be tested; it reported {first}"
    second = week1_pipeline.run(crash_after_promotion=True)
    assert second.version == "v2", f"retraining should ship version 2 as v2; the report says {second}"
    assert not second.ok and second.stage == "verify", f"a crashed v2 should fail the check; the report says {second}"
    assert second.rolled_back and second.serving_version == "v1", (
        f"the pipeline should roll back to v1 and say so; the report says {second}")
    health = week1_pipeline.get("/health")
    assert health.get("model_version") == "v1", f"v1 should answer on the service port again, /health says {health}"
