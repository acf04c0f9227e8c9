"""Tasks 2 to 4, checked offline: the Deployment, the autoscaler and the disruption budget.

`manifest_report(...)` validates your YAML against the Kubernetes 1.32 schema (strict:
a misspelt key is an error) and then checks the rules across objects: the HPA scales
your Deployment, CPU requests exist for a CPU target, the budget leaves room to evict.
"""

import re

import pytest

from mlops_katas.infra.manifests import explain, quantity, selector_matches

DEPLOYMENT = "k8s/deployment.yaml"
HPA = "k8s/hpa.yaml"
PDB = "k8s/pdb.yaml"
ALL = (DEPLOYMENT, HPA, PDB)
SERVER_PORT = 8000  # the day-03 image serves on 0.0.0.0:8000 (day 04)
MAX_CPU_REQUEST = 1  # cores, as on day 04: the tests' kind cluster is one node on your machine
MIN_MEMORY = 16 * 2**20  # bytes, as on day 04


def _only(report, kind, api_version, file):
    objects = report.objects(kind)
    assert len(objects) == 1, f"{file} should hold exactly one {kind}, found {len(objects)}"
    assert objects[0].doc["apiVersion"] == api_version, \
        f"the {kind} should use apiVersion {api_version}, not {objects[0].doc['apiVersion']}"
    return objects[0]


def _spec(manifest):
    spec = manifest.doc.get("spec")
    return spec if isinstance(spec, dict) else {}


def _namespace(manifest):
    return (manifest.doc.get("metadata") or {}).get("namespace")


def _containers(report):
    deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
    containers = (_spec(deployment).get("template") or {}).get("spec", {}).get("containers") or []
    assert containers, "the Deployment's pod template should run the model server container"
    return containers


def _evictable(field, value, pods):
    """How many of `pods` the budget lets go at once (percentages round up); None if unreadable."""
    if type(value) is int:
        count = value
    elif isinstance(value, str) and re.fullmatch(r"\d+%", value):
        count = -(-pods * int(value[:-1]) // 100)
    else:
        return None
    if not isinstance(pods, int):
        return None
    return min(count, pods) if field == "maxUnavailable" else max(pods - count, 0)


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

    def test_probes_are_plain_http_to_the_pod(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            for probe in ("readinessProbe", "livenessProbe"):
                http = (container.get(probe) or {}).get("httpGet") or {}
                assert http.get("scheme", "HTTP") == "HTTP", \
                    f"{probe}.httpGet.scheme is {http.get('scheme')!r}: the server speaks plain HTTP (day 04)"
                assert "host" not in http, \
                    f"{probe}.httpGet.host is {http.get('host')!r}: the kubelet would probe that address, not the pod"

    def test_resources_are_in_real_units(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            cpu = quantity(requests.get("cpu"))
            assert cpu is not None and 0 < cpu <= MAX_CPU_REQUEST, \
                (f"requests.cpu is {requests.get('cpu')!r}: more than zero (utilisation is usage divided by it) "
                 "and at most one core per pod (250m is a quarter of a core; a bare 250 is 250 cores, which no "
                 "node has, so no pod and no scaling)")
            assert "memory" in limits, \
                (f"container {container.get('name')!r} has no resources.limits.memory: as on day 04, a leaking "
                 "server should be OOM-killed and restarted instead of starving its neighbours")
            for where, values in (("requests", requests), ("limits", limits)):
                memory = quantity(values.get("memory"))
                assert memory is None or memory >= MIN_MEMORY, \
                    (f"{where}.memory is {values.get('memory')!r}: memory counts bytes, so give it a unit "
                     "(256Mi); under 16Mi the server cannot even start")

    def test_replicas_can_share_one_node(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        template = _spec(_only(report, "Deployment", "apps/v1", DEPLOYMENT)).get("template") or {}
        pod = template.get("spec") or {}
        assert pod.get("hostNetwork") is not True, \
            ("the pod sets hostNetwork: true, so every replica binds port 8000 of its node: on the tests' one-node "
             "cluster the second replica never starts, and the HPA can add none; leave hostNetwork out")
        claimed = [p.get("hostPort") for c in _containers(report)
                   for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        assert not claimed, \
            (f"the container claims hostPort {claimed}: only one pod per node can hold it, so the HPA's extra "
             "replicas never start on the tests' one-node cluster")
        labels = (template.get("metadata") or {}).get("labels") or {}
        anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
        for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            selector = term.get("labelSelector") if isinstance(term, dict) else None
            assert not (selector == {} or selector_matches(selector, labels)), \
                (f"a required podAntiAffinity term keeps two replicas out of one {term.get('topologyKey')!r}: "
                 "on the tests' one-node cluster only one replica is ever scheduled and scaling adds none; "
                 "use preferredDuringSchedulingIgnoredDuringExecution to spread them")

    def test_pull_policy_lets_a_loaded_image_run(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            policy = container.get("imagePullPolicy", "IfNotPresent")
            assert policy == "IfNotPresent", \
                (f"imagePullPolicy {policy!r}: as on day 04, a pinned image loaded into the cluster needs "
                 "IfNotPresent (Always pulls from a registry, Never fails on a node without the image)")

    def test_pods_carry_the_prometheus_scrape_annotations(self, manifest_report):
        report = manifest_report(DEPLOYMENT, scrape=True)
        _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        problems = report.problems_of("scrape")
        assert not problems, ("the pod template should tell Prometheus to scrape it, on the container's "
                              "port:\n" + explain(problems))

    def test_pods_are_scraped_over_plain_http(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        template = _spec(deployment).get("template") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        scheme = annotations.get("prometheus.io/scheme", "http")
        assert scheme == "http", \
            (f"the pod template's prometheus.io/scheme is {scheme!r}: the day-03 server speaks plain HTTP, so "
             'leave the annotation out or set it to "http"; any other scheme makes every scrape fail')

    def test_the_probes_and_the_scrape_port_are_the_servers_port(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        for container in _containers(report):
            by_name = {p.get("name"): p.get("containerPort") for p in container.get("ports") or [] if p.get("name")}
            for probe in ("readinessProbe", "livenessProbe"):
                port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
                assert by_name.get(port, port) == SERVER_PORT, \
                    (f"{probe}.httpGet.port is {port!r}: the day-03 server answers on port {SERVER_PORT}; a probe "
                     "of another declared port (an admin or debug port) never sees it ready")
        template = _spec(_only(report, "Deployment", "apps/v1", DEPLOYMENT)).get("template") or {}
        port = ((template.get("metadata") or {}).get("annotations") or {}).get("prometheus.io/port")
        assert port == str(SERVER_PORT), \
            (f"prometheus.io/port is {port!r}: the day-03 server serves /metrics on port {SERVER_PORT}, so "
             f'Prometheus must scrape "{SERVER_PORT}", not another declared port')

    def test_pods_say_where_the_metrics_are(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        template = _spec(deployment).get("template") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        path = annotations.get("prometheus.io/path")
        assert path == "/metrics", \
            (f"the pod template's prometheus.io/path is {path!r}: the day-03 server serves its metrics at "
             "/metrics, so the annotation should say exactly that")


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
        hpa = report.objects("HorizontalPodAutoscaler")[0]
        deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        assert _namespace(hpa) == _namespace(deployment), \
            (f"the HPA's metadata.namespace is {_namespace(hpa)!r} but the Deployment's is "
             f"{_namespace(deployment)!r}: an HPA scales only in its own namespace (FailedGetScale)")

    def test_scale_target_ref_is_an_apps_v1_deployment(self, manifest_report):
        hpa = _only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        ref = _spec(hpa).get("scaleTargetRef") or {}
        assert (ref.get("apiVersion"), ref.get("kind")) == ("apps/v1", "Deployment"), \
            (f"scaleTargetRef is {ref.get('apiVersion')!r} {ref.get('kind')!r}: Deployments live in apps/v1 "
             "(an old extensions/v1beta1 reference leaves the HPA at FailedGetScale, scaling nothing)")

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

    def test_behavior_never_switches_a_direction_off(self, manifest_report):
        hpa = _only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        behavior = _spec(hpa).get("behavior") or {}
        for direction in ("scaleUp", "scaleDown"):
            rules = behavior.get(direction) or {}
            policy = rules.get("selectPolicy")
            assert policy != "Disabled", \
                (f"behavior.{direction}.selectPolicy is Disabled, so the HPA never scales "
                 f"{'up to absorb a spike' if direction == 'scaleUp' else 'back down after one'}: "
                 "behavior may slow scaling, not switch it off")
            for rule in rules.get("policies") or []:
                value = rule.get("value") if isinstance(rule, dict) else None
                assert not (isinstance(value, int) and value < 1), \
                    (f"a behavior.{direction} policy allows a change of {value} {rule.get('type')}: that switches "
                     "the direction off (and the API server rejects it); a policy's value should be at least 1")

    def test_behavior_stays_within_the_api_servers_limits(self, manifest_report):
        hpa = _only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        behavior = _spec(hpa).get("behavior") or {}
        for direction in ("scaleUp", "scaleDown"):
            rules = behavior.get(direction) or {}
            policy = rules.get("selectPolicy", "Max")
            assert policy in ("Max", "Min", "Disabled"), \
                f"behavior.{direction}.selectPolicy is {policy!r}: the API server accepts only Max or Min here"
            window = rules.get("stabilizationWindowSeconds", 0)
            assert type(window) is int and 0 <= window <= 3600, \
                (f"behavior.{direction}.stabilizationWindowSeconds is {window!r}: the API server accepts 0 to "
                 "3600 seconds (one hour) and rejects the HPA otherwise")
            policies = rules.get("policies")
            assert policies != [], \
                (f"behavior.{direction}.policies is an empty list: the API server wants at least one policy "
                 "(leave the key out for the defaults)")
            for rule in policies or []:
                rule = rule if isinstance(rule, dict) else {}
                assert rule.get("type") in ("Pods", "Percent"), \
                    (f"a behavior.{direction} policy has type {rule.get('type')!r}: the API server accepts "
                     "Pods or Percent")
                period = rule.get("periodSeconds")
                assert type(period) is int and 1 <= period <= 1800, \
                    (f"a behavior.{direction} policy has periodSeconds {period!r}: the API server accepts 1 to 1800 "
                     "seconds (30 minutes) and rejects the HPA otherwise")


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
        pdb = report.objects("PodDisruptionBudget")[0]
        deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        assert _namespace(pdb) == _namespace(deployment), \
            (f"the budget's metadata.namespace is {_namespace(pdb)!r} but the Deployment's is "
             f"{_namespace(deployment)!r}: a PDB covers only pods of its own namespace, so it would protect nothing")

    def test_budget_is_a_whole_number_or_a_percentage(self, manifest_report):
        pdb = _only(manifest_report(PDB), "PodDisruptionBudget", "policy/v1", PDB)
        budget = {k: v for k, v in _spec(pdb).items() if k in ("minAvailable", "maxUnavailable")}
        assert len(budget) == 1, f"set exactly one of minAvailable and maxUnavailable, not {sorted(budget)}"
        (field, value), = budget.items()
        percent = re.fullmatch(r"(\d+)%", value) if isinstance(value, str) else None
        assert (type(value) is int and value >= 0) or (percent and int(percent.group(1)) <= 100), \
            (f"{field} is {value!r}: the API server takes a whole number of pods (1) or a percentage "
             "string up to 100% (\"50%\"), and rejects anything else, such as the string \"1\"")

    def test_never_lets_every_pod_go_at_once(self, manifest_report):
        report = manifest_report(*ALL)
        pdb = _only(report, "PodDisruptionBudget", "policy/v1", PDB)
        deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        hpa = _only(report, "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        budget = {k: v for k, v in _spec(pdb).items() if k in ("minAvailable", "maxUnavailable")}
        assert len(budget) == 1, f"set exactly one of minAvailable and maxUnavailable, not {sorted(budget)}"
        (field, value), = budget.items()
        sizes = {"the HPA's minReplicas": _spec(hpa).get("minReplicas", 1),
                 "the Deployment's replicas": _spec(deployment).get("replicas", 1)}
        for where, pods in sizes.items():
            evictable = _evictable(field, value, pods)
            assert evictable is None or evictable < pods, \
                (f"{field}: {value!r} lets all {pods} pods ({where}) be evicted at once, so a drain can take "
                 "the whole service down: the budget should always keep at least one pod")

    def test_leaves_room_to_evict_at_the_deployments_replicas(self, manifest_report):
        report = manifest_report(*ALL)
        pdb = _only(report, "PodDisruptionBudget", "policy/v1", PDB)
        deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        budget = {k: v for k, v in _spec(pdb).items() if k in ("minAvailable", "maxUnavailable")}
        assert len(budget) == 1, f"set exactly one of minAvailable and maxUnavailable, not {sorted(budget)}"
        (field, value), = budget.items()
        pods = _spec(deployment).get("replicas", 1)
        evictable = _evictable(field, value, pods)
        assert evictable is None or evictable >= 1, \
            (f"{field}: {value!r} lets none of the Deployment's {pods} replicas be evicted, so a node drain hangs "
             "until the HPA has scaled up: the budget should leave room for one eviction at that size too")

    def test_leaves_room_to_evict_at_min_replicas(self, manifest_report):
        report = manifest_report(*ALL)
        _only(report, "PodDisruptionBudget", "policy/v1", PDB)
        problems = report.problems_of("pdb")
        assert not problems, ("at the HPA's minReplicas a node drain should still be able to evict one "
                              "pod:\n" + explain(problems))
