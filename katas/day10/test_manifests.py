"""Tasks 2 to 4, checked offline: the Deployment, the autoscaler and the disruption budget.

`manifest_report(...)` validates your YAML against the Kubernetes 1.32 schema (strict:
a misspelt key is an error) and then checks the rules across objects: the HPA scales
your Deployment, CPU requests exist for a CPU target, the budget leaves room to evict.
"""

import pytest

from mlops_katas.infra.manifests import explain

DEPLOYMENT = "k8s/deployment.yaml"
HPA = "k8s/hpa.yaml"
PDB = "k8s/pdb.yaml"
ALL = (DEPLOYMENT, HPA, PDB)


def _only(report, kind, api_version, file):
    objects = report.objects(kind)
    assert len(objects) == 1, f"{file} should hold exactly one {kind}, found {len(objects)}"
    assert objects[0].doc["apiVersion"] == api_version, \
        f"the {kind} should use apiVersion {api_version}, not {objects[0].doc['apiVersion']}"
    return objects[0]


def _spec(manifest):
    spec = manifest.doc.get("spec")
    return spec if isinstance(spec, dict) else {}


class TestDeployment:
    pytestmark = pytest.mark.task(taskno=2)

    def test_passes_the_schema_and_the_day_04_rules(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        problems = report.problems_of("yaml", "schema", "selector", "probe", "resources", "image")
        assert not problems, "the Deployment should still do everything day 04 asked:\n" + explain(problems)

    def test_runs_at_least_two_replicas(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        replicas = _spec(deployment).get("replicas", 1)
        assert isinstance(replicas, int) and replicas >= 2, f"spec.replicas is {replicas}; run at least two"

    def test_pods_carry_the_prometheus_scrape_annotations(self, manifest_report):
        report = manifest_report(DEPLOYMENT, scrape=True)
        _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        problems = report.problems_of("scrape")
        assert not problems, ("the pod template should tell Prometheus to scrape it, on the container's "
                              "port:\n" + explain(problems))


class TestAutoscaler:
    pytestmark = pytest.mark.task(taskno=3)

    def test_is_an_autoscaling_v2_hpa_that_passes_the_schema(self, manifest_report):
        report = manifest_report(HPA)
        _only(report, "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        problems = report.problems_of("yaml", "schema")
        assert not problems, "the HPA should match the Kubernetes 1.32 schema:\n" + explain(problems)

    def test_scales_the_deployment_and_its_cpu_requests_exist(self, manifest_report):
        report = manifest_report(DEPLOYMENT, HPA)
        _only(report, "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        problems = report.problems_of("hpa")
        assert not problems, ("the HPA should target the Deployment of k8s/deployment.yaml, whose containers "
                              "request the resource it scales on:\n" + explain(problems))

    def test_keeps_at_least_two_replicas_and_room_to_grow(self, manifest_report):
        hpa = _only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        low, high = _spec(hpa).get("minReplicas", 1), _spec(hpa).get("maxReplicas")
        assert isinstance(low, int) and low >= 2, \
            f"minReplicas is {low}: scaled down to one pod there is no redundancy and no pod can be evicted"
        assert isinstance(high, int) and high > low, f"maxReplicas ({high}) should be above minReplicas ({low})"

    def test_scales_on_cpu_utilization(self, manifest_report):
        hpa = _only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        metrics = _spec(hpa).get("metrics") or []
        cpu = [m for m in metrics if isinstance(m, dict) and m.get("type") == "Resource"
               and (m.get("resource") or {}).get("name") == "cpu"]
        assert cpu, "spec.metrics should include a Resource metric on cpu"
        target = (cpu[0]["resource"].get("target") or {})
        assert target.get("type") == "Utilization" and 0 < (target.get("averageUtilization") or 0) < 100, \
            (f"the CPU target should be a Utilization below 100 %, not {target}: "
             "headroom absorbs a spike while new pods start")


class TestDisruptionBudget:
    pytestmark = pytest.mark.task(taskno=4)

    def test_is_a_policy_v1_budget_that_passes_the_schema(self, manifest_report):
        report = manifest_report(PDB)
        _only(report, "PodDisruptionBudget", "policy/v1", PDB)
        problems = report.problems_of("yaml", "schema")
        assert not problems, "the PodDisruptionBudget should match the Kubernetes 1.32 schema:\n" + explain(problems)

    def test_selects_the_model_servers_pods(self, manifest_report):
        report = manifest_report(*ALL)
        _only(report, "PodDisruptionBudget", "policy/v1", PDB)
        problems = [p for p in report.problems_of("pdb") if p.field == "spec.selector"]
        assert not problems, "the budget should select the Deployment's pods:\n" + explain(problems)

    def test_leaves_room_to_evict_at_min_replicas(self, manifest_report):
        report = manifest_report(*ALL)
        _only(report, "PodDisruptionBudget", "policy/v1", PDB)
        problems = report.problems_of("pdb")
        assert not problems, ("at the HPA's minReplicas a node drain should still be able to evict one "
                              "pod:\n" + explain(problems))
