"""Tasks 1 and 2, checked offline: the Kubernetes schema and the rules a schema cannot see.

`manifest_report(...)` loads your YAML files and runs mlops_katas/infra/manifests.py
over them: the official schema of Kubernetes 1.32 in strict mode (a misspelt key is an
error), then cross-object rules. Every problem names the file, the object and the field.
"""

import re

import pytest

from mlops_katas.infra.manifests import explain, quantity

DEPLOYMENT = "k8s/deployment.yaml"
SERVICE = "k8s/service.yaml"
CONTRACT_PORT = 8000  # the day-03 server listens here
MAX_CPU_REQUEST = 1  # cores: the tests' kind cluster is one node on your machine
MIN_MEMORY = 16 * 2**20  # bytes: less cannot even start Python, let alone load a model
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # the image reference grammar's tag
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _only(report, kind, api_version, file):
    objects = report.objects(kind)
    assert len(objects) == 1, f"{file} should hold exactly one {kind}, found {len(objects)}"
    assert objects[0].doc["apiVersion"] == api_version, f"the {kind} should use apiVersion {api_version}"
    return objects[0]


def _container(report):
    deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
    containers = deployment.doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    assert len(containers) == 1, "the pod should run exactly one container: the model server"
    return containers[0]


def _port_number(container, port, protocol=None):
    """The containerPort a probe or targetPort reaches: a number as is (if declared), a name looked up.

    A Service resolves a named targetPort only among ports of its own protocol; the kubelet's
    probes ignore the protocol (protocol=None).
    """
    ports = [p for p in container.get("ports") or [] if isinstance(p, dict)]
    if isinstance(port, bool):
        return None
    if isinstance(port, int):
        return port if any(p.get("containerPort") == port for p in ports) else None
    for p in ports:
        if p.get("name") == port and protocol in (None, p.get("protocol", "TCP")):
            return p.get("containerPort")
    return None


def _which(number, protocol=None):
    if number is None:
        return f"no declared {protocol} container port" if protocol else "no declared container port"
    return f"container port {number}"


def _assert_probe_on_the_contract_port(container, probe):
    port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
    reached = _port_number(container, port)
    assert reached == CONTRACT_PORT, \
        (f"{probe}.httpGet.port is {port!r}, which reaches {_which(reached)}: the day-03 server answers "
         f"on {CONTRACT_PORT} only, so the probe should use {CONTRACT_PORT} or that port's name")


def _assert_plain_http_to_the_pod(container, probe):
    http = (container.get(probe) or {}).get("httpGet") or {}
    scheme = http.get("scheme", "HTTP")
    assert scheme == "HTTP", (f"{probe}.httpGet.scheme is {scheme!r}: the day-03 server speaks plain HTTP, "
                              "so every probe would fail")
    assert "host" not in http, (f"{probe}.httpGet.host is {http['host']!r}: the kubelet would probe that "
                                "address (the node itself for 127.0.0.1), not the pod; leave host out")


class TestDeployment:
    pytestmark = pytest.mark.task(taskno=1)

    def test_holds_one_apps_v1_deployment(self, manifest_report):
        _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)

    def test_passes_the_kubernetes_schema(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        problems = report.problems_of("yaml", "schema")
        assert not problems, "the Deployment should match the Kubernetes 1.32 schema:\n" + explain(problems)

    def test_selector_matches_the_pod_template_labels(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        problems = report.problems_of("selector")
        assert not problems, "spec.selector should select the pods the template makes:\n" + explain(problems)

    def test_runs_at_least_two_replicas(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        replicas = deployment.doc.get("spec", {}).get("replicas", 1)
        assert isinstance(replicas, int) and replicas >= 2, \
            f"spec.replicas is {replicas}: with one pod, every restart or node drain is an outage"

    def test_container_listens_on_the_contract_port(self, manifest_report):
        declared = [p for p in _container(manifest_report(DEPLOYMENT)).get("ports") or [] if isinstance(p, dict)]
        ports = [p.get("containerPort") for p in declared]
        assert CONTRACT_PORT in ports, f"the container should declare containerPort {CONTRACT_PORT} (day 03), not {ports}"
        protocols = [p.get("protocol", "TCP") for p in declared if p.get("containerPort") == CONTRACT_PORT]
        assert "TCP" in protocols, \
            (f"containerPort {CONTRACT_PORT} is declared as {protocols}: HTTP runs over TCP, and a Service "
             "finds a named port only under its own protocol (TCP); leave protocol out or write TCP")

    def test_claims_no_port_of_the_node(self, manifest_report):
        declared = [p for p in _container(manifest_report(DEPLOYMENT)).get("ports") or [] if isinstance(p, dict)]
        claimed = [p["hostPort"] for p in declared if p.get("hostPort")]
        assert not claimed, \
            (f"the container claims hostPort {claimed}: only one pod per node can hold a node port, so on the "
             "tests' one-node cluster the second replica never starts; the Service is how traffic gets in")

    def test_readiness_probe_gets_ready_on_the_container_port(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        problems = [p for p in report.problems_of("probe") if ".readinessProbe" in p.field]
        assert not problems, ("the readiness probe should GET /ready on the container port, so a pod gets "
                              "traffic only once its model is loaded:\n" + explain(problems))
        _assert_probe_on_the_contract_port(_container(report), "readinessProbe")
        _assert_plain_http_to_the_pod(_container(report), "readinessProbe")

    def test_liveness_probe_gets_health_on_the_container_port(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        problems = [p for p in report.problems_of("probe") if ".livenessProbe" in p.field]
        assert not problems, ("the liveness probe should GET /health on the container port, so a hung "
                              "process is restarted (but a loading model is not):\n" + explain(problems))
        _assert_probe_on_the_contract_port(_container(report), "livenessProbe")
        _assert_plain_http_to_the_pod(_container(report), "livenessProbe")

    def test_requests_are_set_and_no_higher_than_limits(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        container = _container(report)
        problems = report.problems_of("resources")
        assert not problems, "resources should request CPU and memory within the limits:\n" + explain(problems)
        limits = (container.get("resources") or {}).get("limits") or {}
        assert "memory" in limits, ("resources.limits.memory should be set: a leaking server is then "
                                    "OOM-killed and restarted instead of starving its neighbours")

    def test_resources_are_in_real_units(self, manifest_report):
        resources = _container(manifest_report(DEPLOYMENT)).get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        cpu = quantity(requests.get("cpu"))
        assert cpu is not None and cpu <= MAX_CPU_REQUEST, \
            (f"requests.cpu is {requests.get('cpu')!r}: at most one core per pod (CPU counts cores, so "
             "100m is a tenth of one and a bare 100 is a hundred cores, which no node has)")
        for where, values in (("requests", requests), ("limits", limits)):
            memory = quantity(values.get("memory"))
            assert memory is not None and memory >= MIN_MEMORY, \
                (f"{where}.memory is {values.get('memory')!r}: memory counts bytes, so give it a unit "
                 "(256Mi); under 16Mi the server cannot even start")
            for name, value in values.items():
                assert quantity(value) is not None, \
                    (f"{where}.{name} is {value!r}, which is not a Kubernetes quantity (such as 500m, 1, "
                     "256Mi): the API server rejects the Deployment")

    def test_image_is_pinned_not_latest(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        problems = report.problems_of("image")
        assert not problems, "the image should have a fixed tag or digest:\n" + explain(problems)
        image = str(_container(report).get("image"))
        if "@" in image:
            digest = image.rsplit("@", 1)[1]
            assert DIGEST.fullmatch(digest), \
                (f"the image's digest {digest!r} is not sha256: and 64 hex digits (a short image id is not a "
                 "digest): the reference is invalid and the pod never starts (InvalidImageName)")
        else:
            tag = image.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            assert TAG.fullmatch(tag), \
                (f"the image's tag {tag!r} is empty or not a valid tag: {image!r} is an invalid reference "
                 "and the pod never starts (InvalidImageName)")

    def test_pull_policy_lets_a_loaded_image_run(self, manifest_report):
        policy = _container(manifest_report(DEPLOYMENT)).get("imagePullPolicy", "IfNotPresent")
        assert policy == "IfNotPresent", \
            (f"imagePullPolicy {policy!r}: Always pulls on every start (and fails for an image loaded "
             "with kind load), Never fails on every node that lacks the image; use IfNotPresent")


class TestService:
    pytestmark = pytest.mark.task(taskno=2)

    def test_holds_one_v1_service(self, manifest_report):
        _only(manifest_report(SERVICE), "Service", "v1", SERVICE)

    def test_passes_the_kubernetes_schema(self, manifest_report):
        report = manifest_report(SERVICE)
        _only(report, "Service", "v1", SERVICE)
        problems = report.problems_of("yaml", "schema")
        assert not problems, "the Service should match the Kubernetes 1.32 schema:\n" + explain(problems)

    def test_selects_the_deployments_pods(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        _only(report, "Service", "v1", SERVICE)
        problems = [p for p in report.problems_of("service") if p.field == "spec.selector"]
        assert not problems, "the Service's selector should match the Deployment's pod labels:\n" + explain(problems)

    def test_lives_in_the_deployments_namespace(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        service = _only(report, "Service", "v1", SERVICE)
        deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        theirs, ours = (m.doc.get("metadata", {}).get("namespace") for m in (deployment, service))
        assert ours == theirs, \
            (f"the Service's metadata.namespace is {ours!r} but the Deployment's is {theirs!r}: a Service "
             "selects pods of its own namespace only, so it would have no endpoints; use the same (or none)")

    def test_target_port_is_the_container_port(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        service = _only(report, "Service", "v1", SERVICE)
        assert service.doc.get("spec", {}).get("ports"), "the Service should list at least one port"
        problems = report.problems_of("service")
        assert not problems, ("every Service port should send traffic to a port the container declares "
                              "(targetPort by number or by the port's name):\n" + explain(problems))
        container = _container(report)
        for i, port in enumerate(p for p in service.doc["spec"]["ports"] if isinstance(p, dict)):
            protocol = port.get("protocol", "TCP")
            assert protocol == "TCP", \
                f"spec.ports[{i}].protocol is {protocol!r}: the model server speaks HTTP, which runs over TCP"
            target = port.get("targetPort", port.get("port"))
            reached = _port_number(container, target, protocol)
            assert reached == CONTRACT_PORT, \
                (f"spec.ports[{i}].targetPort {target!r} reaches {_which(reached, protocol)}, but the model server "
                 f"listens on {CONTRACT_PORT}: use {CONTRACT_PORT} or the name of that port")
