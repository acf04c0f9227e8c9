"""Tasks 3 and 4 on a real cluster (kind): the HPA is accepted and working, the budget holds.

These need kind, kubectl and Docker (`katas doctor`); without them they are skipped
with the reason. kind has no metrics-server, so the HPA cannot read CPU usage here:
the test checks that it found its Deployment and reports its conditions, not that
it scales. Each test gets its own namespace.
"""

import pytest

from mlops_katas.infra.kind import wait_for
from mlops_katas.infra.manifests import explain, label_selector, with_image, without_namespace

DEPLOYMENT = "k8s/deployment.yaml"
HPA = "k8s/hpa.yaml"
PDB = "k8s/pdb.yaml"

pytestmark = [pytest.mark.kind, pytest.mark.timeout(900)]


def _deploy(manifest_report, k8s_namespace, image, *names):
    report = manifest_report(DEPLOYMENT, *names)
    assert not report.problems, "fix these before deploying:\n" + explain(report.problems)
    deployment = report.objects("Deployment")[0]
    others = [m.doc for m in report.manifests if m is not deployment]
    k8s_namespace.apply(without_namespace(with_image(deployment.doc, image), *others))
    k8s_namespace.rollout_status(deployment.name, timeout_s=300)
    return report, deployment


def _conditions(obj):
    return {c["type"]: c for c in obj.get("status", {}).get("conditions") or []}


@pytest.mark.task(taskno=3)
def test_the_hpa_finds_its_deployment_and_reports_conditions(manifest_report, k8s_namespace, kind_model_image):
    report, _ = _deploy(manifest_report, k8s_namespace, kind_model_image, HPA)
    hpa = report.objects("HorizontalPodAutoscaler")[0]
    wait_for(lambda: "AbleToScale" in _conditions(k8s_namespace.get(f"hpa/{hpa.name}")), 120,
             f"HPA {hpa.name} reporting its conditions")
    status = k8s_namespace.get(f"hpa/{hpa.name}")
    able = _conditions(status)["AbleToScale"]
    assert able["status"] == "True", \
        f"the HPA cannot scale its target ({able.get('reason')}: {able.get('message')}); does scaleTargetRef name the Deployment?"
    low = hpa.doc["spec"].get("minReplicas", 1)
    assert status["status"].get("currentReplicas", 0) >= 1, "the HPA should see the Deployment's running replicas"
    assert status["spec"]["minReplicas"] == low, "the cluster should keep the minReplicas you set"


@pytest.mark.task(taskno=4)
def test_draining_every_pod_at_once_is_held_back_by_the_budget(manifest_report, k8s_namespace, kind_model_image):
    report, deployment = _deploy(manifest_report, k8s_namespace, kind_model_image, PDB)
    pdb = report.objects("PodDisruptionBudget")[0]
    replicas = deployment.doc["spec"].get("replicas", 1)

    def budget_counts_the_pods():
        status = k8s_namespace.get(f"pdb/{pdb.name}").get("status", {})
        return status.get("expectedPods") == replicas and status.get("currentHealthy") == replicas

    wait_for(budget_counts_the_pods, 120, f"PDB {pdb.name} counting the {replicas} pods of {deployment.name}")
    pods = [p["metadata"]["name"] for p in k8s_namespace.get("pods", label_selector(deployment.doc))["items"]]
    outcomes = [k8s_namespace.evict(name) for name in pods]
    allowed = [name for name, (ok, _) in zip(pods, outcomes) if ok]
    refused = [why for ok, why in outcomes if not ok]
    assert allowed, f"the budget refused every eviction, so a node drain would hang: {refused}"
    assert refused and all("disruption budget" in why for why in refused), \
        f"evicting all {len(pods)} pods at once was allowed ({allowed}): the budget protects nothing"
