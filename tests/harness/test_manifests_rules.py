"""The offline manifest validator (mlops_katas/infra/manifests.py): each rule, fired and quiet.

A valid Deployment + Service + HPA + PDB set passes; each test breaks one thing and
expects exactly the rule (and the file, object and field) that names it.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest
import yaml

from mlops_katas.infra import manifests

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "api"},
                         "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"}},
            "spec": {"containers": [{
                "name": "web", "image": "registry.local:5000/web:1.2.3",
                "ports": [{"name": "http", "containerPort": 8000}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                "livenessProbe": {"httpGet": {"path": "/health", "port": 8000}},
                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                              "limits": {"cpu": 1, "memory": "0.5Gi"}},
            }]},
        },
    },
}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}
HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": 70}}}]}}
PDB = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
       "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}


def check(tmp_path, *docs, scrape=False, raw: str | None = None):
    path = tmp_path / "all.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump_all(docs))
    return manifests.validate([path], root=tmp_path, scrape=scrape)


def rules(problems):
    return sorted({p.rule for p in problems})


def edit(doc, change):
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


def test_a_sound_set_has_no_problems(tmp_path):
    assert check(tmp_path, DEPLOYMENT, SERVICE, HPA, PDB, scrape=True) == []


def test_problems_name_file_object_and_field(tmp_path):
    broken = edit(DEPLOYMENT, lambda d: container(d)["readinessProbe"]["httpGet"].update(path="/health"))
    [problem] = check(tmp_path, broken)
    assert (problem.file, problem.object, problem.field, problem.rule) == (
        "all.yaml", "Deployment/web", "spec.template.spec.containers[0].readinessProbe.httpGet.path", "probe")
    assert str(problem).startswith("all.yaml: Deployment/web spec.template"), str(problem)


def test_invalid_yaml_is_one_problem_not_a_crash(tmp_path):
    problems = check(tmp_path, raw="kind: Deployment\n  bad: [indent\n")
    assert rules(problems) == ["yaml"]


def test_a_key_written_twice_is_reported_as_kubectl_would(tmp_path):
    text = yaml.safe_dump(DEPLOYMENT, sort_keys=False)
    twice = text.replace("  replicas: 2\n", "  replicas: 2\n  replicas: 3\n")
    assert twice != text, "the test edits the replicas line"
    [problem] = check(tmp_path, raw=twice)
    assert problem.rule == "yaml" and "found the key 'replicas' twice" in problem.message, problem.message


def test_a_key_set_again_after_a_merge_is_not_a_duplicate(tmp_path):
    merged = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata:\n  <<: {mode: a}\n  mode: b\n"
    assert rules(check(tmp_path, raw=merged)) == []


def test_a_document_without_kind_is_reported(tmp_path):
    assert rules(check(tmp_path, raw="just: a mapping\n")) == ["yaml"]


def test_strict_schema_catches_a_misspelt_key(tmp_path):
    broken = edit(DEPLOYMENT, lambda d: container(d).update(readinessprobe=container(d).pop("readinessProbe")))
    problems = check(tmp_path, broken)
    schema = [p for p in problems if p.rule == "schema"]
    assert schema and "readinessprobe" in schema[0].message and schema[0].field == "spec.template.spec.containers[0]"
    assert "probe" in rules(problems), "the semantic rules still run when the schema fails"


def test_a_removed_api_version_is_reported(tmp_path):
    old = edit(PDB, lambda d: d.update(apiVersion="policy/v1beta1"))
    [problem] = [p for p in check(tmp_path, DEPLOYMENT, old) if p.rule == "schema"]
    assert problem.field == "apiVersion" and manifests.KUBERNETES_VERSION in problem.message


def test_wrong_types_are_schema_problems(tmp_path):
    broken = edit(DEPLOYMENT, lambda d: d["spec"].update(replicas="two"))
    assert [p.field for p in check(tmp_path, broken) if p.rule == "schema"] == ["spec.replicas"]


def test_selector_must_match_the_template_labels(tmp_path):
    broken = edit(DEPLOYMENT, lambda d: d["spec"]["selector"]["matchLabels"].update(app="other"))
    assert rules(check(tmp_path, broken)) == ["selector"]


@pytest.mark.parametrize(("expressions", "matches"), [
    ([{"key": "app", "operator": "In", "values": ["web", "x"]}], True),
    ([{"key": "app", "operator": "NotIn", "values": ["web"]}], False),
    ([{"key": "tier", "operator": "Exists"}], True),
    ([{"key": "tier", "operator": "DoesNotExist"}], False),
])
def test_match_expressions_are_understood(expressions, matches):
    assert manifests.selector_matches({"matchExpressions": expressions}, {"app": "web", "tier": "api"}) is matches


def test_an_empty_selector_matches_nothing_here():
    assert manifests.selector_matches({}, {"app": "web"}) is False


@pytest.mark.parametrize("image", ["web", "web:latest", "registry.local:5000/web", "registry.local:5000/web:latest"])
def test_latest_or_untagged_images_are_refused(tmp_path, image):
    broken = edit(DEPLOYMENT, lambda d: container(d).update(image=image))
    assert rules(check(tmp_path, broken)) == ["image"], image


@pytest.mark.parametrize("image", ["web:1.0", "registry.local:5000/web:2", "web@sha256:" + "a" * 64])
def test_pinned_images_pass(tmp_path, image):
    assert check(tmp_path, edit(DEPLOYMENT, lambda d: container(d).update(image=image))) == []


@pytest.mark.parametrize(("probe", "change"), [
    ("readinessProbe", {"path": "/health"}),
    ("readinessProbe", {"port": 9000}),
    ("readinessProbe", {"port": "metrics"}),
    ("livenessProbe", {"path": "/ready"}),
])
def test_probes_hit_the_contract_paths_on_a_container_port(tmp_path, probe, change):
    broken = edit(DEPLOYMENT, lambda d: container(d)[probe]["httpGet"].update(change))
    [problem] = check(tmp_path, broken)
    assert problem.rule == "probe" and probe in problem.field


def test_a_missing_or_non_http_probe_is_reported(tmp_path):
    def change(d):
        container(d).pop("livenessProbe")
        container(d)["readinessProbe"] = {"tcpSocket": {"port": 8000}}

    problems = check(tmp_path, edit(DEPLOYMENT, change))
    assert sorted(p.field.rsplit(".", 1)[-1] for p in problems) == ["livenessProbe", "readinessProbe"]


@pytest.mark.parametrize(("text", "value"), [
    ("250m", Fraction(1, 4)), ("1", 1), (2, 2), ("0.5Gi", 2**29), ("128Mi", 128 * 2**20), ("1e3", 1000),
    ("1k", 1000), ("1.5", Fraction(3, 2)), ("bogus", None), ("1Zi", None)])
def test_quantities_are_parsed_exactly(text, value):
    assert manifests.quantity(text) == value


def test_requests_above_limits_are_reported(tmp_path):
    broken = edit(DEPLOYMENT, lambda d: container(d)["resources"]["requests"].update(cpu="1500m"))
    [problem] = check(tmp_path, broken)
    assert problem.rule == "resources" and problem.field.endswith("requests.cpu")


def test_missing_requests_are_reported(tmp_path):
    broken = edit(DEPLOYMENT, lambda d: container(d)["resources"].pop("requests"))
    problems = check(tmp_path, broken)
    assert sorted(p.field.rsplit(".", 1)[-1] for p in problems if p.rule == "resources") == ["cpu", "memory"]


@pytest.mark.parametrize("target", [8000, "http"])
def test_service_target_port_by_number_or_name(tmp_path, target):
    service = edit(SERVICE, lambda s: s["spec"]["ports"][0].update(targetPort=target))
    assert check(tmp_path, DEPLOYMENT, service) == []


def test_service_without_target_port_uses_its_port(tmp_path):
    service = edit(SERVICE, lambda s: s["spec"]["ports"][0].update(port=8000, targetPort=None))
    service["spec"]["ports"][0].pop("targetPort")
    assert check(tmp_path, DEPLOYMENT, service) == []


@pytest.mark.parametrize(("change", "field"), [
    (lambda s: s["spec"]["ports"][0].update(targetPort=8080), "spec.ports[0].targetPort"),
    (lambda s: s["spec"]["ports"][0].update(targetPort="web"), "spec.ports[0].targetPort"),
    (lambda s: s["spec"].update(selector={"app": "api"}), "spec.selector"),
    (lambda s: s["spec"].pop("selector"), "spec.selector"),
])
def test_service_problems(tmp_path, change, field):
    problems = check(tmp_path, DEPLOYMENT, edit(SERVICE, change))
    assert [(p.rule, p.field) for p in problems] == [("service", field)]


def test_hpa_must_name_an_existing_deployment(tmp_path):
    hpa = edit(HPA, lambda h: h["spec"]["scaleTargetRef"].update(name="web-v2"))
    [problem] = check(tmp_path, DEPLOYMENT, hpa)
    assert problem.rule == "hpa" and problem.field == "spec.scaleTargetRef" and "'web'" in problem.message


def test_hpa_on_cpu_needs_cpu_requests(tmp_path):
    deployment = edit(DEPLOYMENT, lambda d: container(d)["resources"]["requests"].pop("cpu"))
    assert "hpa" in rules(check(tmp_path, deployment, HPA))


def test_hpa_without_metrics_means_cpu(tmp_path):
    deployment = edit(DEPLOYMENT, lambda d: container(d)["resources"]["requests"].pop("cpu"))
    hpa = edit(HPA, lambda h: h["spec"].pop("metrics"))
    assert "hpa" in rules(check(tmp_path, deployment, hpa))


def test_hpa_min_above_max_is_reported(tmp_path):
    hpa = edit(HPA, lambda h: h["spec"].update(minReplicas=6))
    assert [p.field for p in check(tmp_path, DEPLOYMENT, hpa)] == ["spec.minReplicas"]


@pytest.mark.parametrize(("budget", "ok"), [
    ({"maxUnavailable": 1}, True), ({"maxUnavailable": "50%"}, True), ({"maxUnavailable": 0}, False),
    ({"maxUnavailable": "0%"}, False), ({"minAvailable": 1}, True), ({"minAvailable": 2}, False),
    ({"minAvailable": "50%"}, True), ({"minAvailable": "100%"}, False),
])
def test_pdb_must_leave_room_to_evict(tmp_path, budget, ok):
    pdb = edit(PDB, lambda p: (p["spec"].pop("maxUnavailable"), p["spec"].update(budget)))
    problems = check(tmp_path, DEPLOYMENT, pdb)
    assert (problems == []) is ok, [str(p) for p in problems]


def test_pdb_room_is_judged_at_the_hpas_min_replicas(tmp_path):
    deployment = edit(DEPLOYMENT, lambda d: d["spec"].update(replicas=4))
    pdb = edit(PDB, lambda p: (p["spec"].pop("maxUnavailable"), p["spec"].update(minAvailable=2)))
    assert check(tmp_path, deployment, pdb) == [], "4 replicas, minAvailable 2: room to evict"
    assert rules(check(tmp_path, deployment, HPA, pdb)) == ["pdb"], "but the HPA may scale down to 2"


def test_pdb_that_selects_no_pods_is_reported(tmp_path):
    pdb = edit(PDB, lambda p: p["spec"]["selector"]["matchLabels"].update(app="api"))
    assert [p.field for p in check(tmp_path, DEPLOYMENT, pdb)] == ["spec.selector"]


@pytest.mark.parametrize(("annotations", "fields"), [
    ({"prometheus.io/scrape": "false", "prometheus.io/port": "8000"}, ["prometheus.io/scrape"]),
    ({"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}, ["prometheus.io/port"]),
    ({"prometheus.io/scrape": "true", "prometheus.io/port": "8000", "prometheus.io/path": "metrics"},
     ["prometheus.io/path"]),
])
def test_scrape_annotations_when_asked(tmp_path, annotations, fields):
    deployment = edit(DEPLOYMENT, lambda d: d["spec"]["template"]["metadata"].update(annotations=annotations))
    assert check(tmp_path, deployment) == [], "scrape rules apply only when the day asks for them"
    problems = check(tmp_path, deployment, scrape=True)
    assert [p.field.split("annotations.")[-1] for p in problems] == fields


def test_scrape_annotations_on_the_deployment_instead_of_the_pods(tmp_path):
    def move(d):
        d["metadata"]["annotations"] = d["spec"]["template"]["metadata"].pop("annotations")

    [problem] = check(tmp_path, edit(DEPLOYMENT, move), scrape=True)
    assert problem.rule == "scrape" and "pod template" in problem.message


def test_with_image_replaces_every_container_image_in_a_copy():
    moved = manifests.with_image(DEPLOYMENT, "katas/x:abc")
    assert container(moved)["image"] == "katas/x:abc" and container(DEPLOYMENT)["image"].endswith(":1.2.3")


def test_label_selector_is_kubectls_l_argument():
    assert manifests.label_selector(DEPLOYMENT) == "app=web"
