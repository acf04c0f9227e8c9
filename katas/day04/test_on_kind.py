"""Tasks 1 and 2 on a real cluster (kind): what the probes and the Service do once deployed.

These need kind, kubectl and Docker (`katas doctor`); without them they are skipped
with the reason. Each test gets its own namespace; the tests put the day-03 image they
built and loaded into the cluster in place of your manifest's image.
"""

import time

import pytest

from mlops_katas.infra.kind import wait_for
from mlops_katas.infra.manifests import explain, label_selector, with_image, without_namespace

DEPLOYMENT = "k8s/deployment.yaml"
SERVICE = "k8s/service.yaml"
ROW = [5.1, 3.5, 1.4, 0.2]

pytestmark = [pytest.mark.kind, pytest.mark.timeout(900)]


def _deployment(manifest_report, *names):
    report = manifest_report(DEPLOYMENT, *names)
    assert not report.problems, "fix these before deploying:\n" + explain(report.problems)
    return report, report.objects("Deployment")[0]


def _ready_pods(ns, selector):
    pods = ns.get("pods", selector)["items"]
    return [p for p in pods if p["metadata"].get("deletionTimestamp") is None and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))]


def _answers(url, path):
    import requests

    try:
        return requests.get(url + path, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.task(taskno=1)
def test_a_pod_gets_no_traffic_before_it_is_ready(manifest_report, k8s_namespace, kind_model_image):
    report, deployment = _deployment(manifest_report, SERVICE)
    service = report.objects("Service")[0]
    # A model path that does not exist: the server stays up (/health 200) but never ready (/ready 503).
    unready = with_image(deployment.doc, kind_model_image)
    for container in unready["spec"]["template"]["spec"]["containers"]:
        container["env"] = [*container.get("env", []), {"name": "MODEL_PATH", "value": "/nonexistent/model.skops"}]
    k8s_namespace.apply(without_namespace(unready, service.doc))
    selector = label_selector(deployment.doc)

    def running_for_a_while():
        pods = k8s_namespace.get("pods", selector)["items"]
        states = [s for p in pods for s in p.get("status", {}).get("containerStatuses", [])]
        return bool(states) and all("running" in s.get("state", {}) for s in states)

    wait_for(running_for_a_while, 180, "the model server containers running")
    probe = deployment.doc["spec"]["template"]["spec"]["containers"][0].get("readinessProbe", {})
    time.sleep(probe.get("initialDelaySeconds", 0) + 3 * probe.get("periodSeconds", 10) + 2)
    assert not _ready_pods(k8s_namespace, selector), \
        "a pod whose /ready answers 503 was marked Ready: the readiness probe should GET /ready"
    slices = k8s_namespace.get("endpointslices", f"kubernetes.io/service-name={service.name}")["items"]
    ready = [e for s in slices for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")]
    assert not ready, f"the Service routes to pods that are not ready: {ready}"


@pytest.mark.task(taskno=1)
def test_a_deleted_pod_is_replaced(manifest_report, k8s_namespace, kind_model_image):
    _, deployment = _deployment(manifest_report)
    k8s_namespace.apply(without_namespace(with_image(deployment.doc, kind_model_image)))
    k8s_namespace.rollout_status(deployment.name, timeout_s=300)
    selector = label_selector(deployment.doc)
    replicas = deployment.doc["spec"].get("replicas", 1)
    victim = _ready_pods(k8s_namespace, selector)[0]["metadata"]["name"]
    k8s_namespace.kubectl("delete", "pod", victim, "--wait=false")

    def replaced():
        names = {p["metadata"]["name"] for p in _ready_pods(k8s_namespace, selector)}
        return victim not in names and len(names) == replicas

    wait_for(replaced, 180, f"{replicas} ready pods again after deleting {victim}")


@pytest.mark.task(taskno=2)
def test_the_service_answers_predict(manifest_report, k8s_namespace, kind_model_image):
    import requests

    report, deployment = _deployment(manifest_report, SERVICE)
    service = report.objects("Service")[0]
    k8s_namespace.apply(without_namespace(with_image(deployment.doc, kind_model_image), service.doc))
    k8s_namespace.rollout_status(deployment.name, timeout_s=300)
    forward = k8s_namespace.port_forward(f"svc/{service.name}", service.doc["spec"]["ports"][0]["port"])
    wait_for(lambda: _answers(forward.url, "/ready"), 60, f"/ready through the Service at {forward.url}")
    answer = requests.post(forward.url + "/predict", json={"features": [ROW]}, timeout=10)
    assert answer.status_code == 200, f"POST /predict through the Service answered {answer.status_code}: {answer.text}"
    assert len(answer.json().get("predictions", [])) == 1, "one row in should give one prediction out"
