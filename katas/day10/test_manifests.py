"""Tasks 2 to 4, checked offline: the Deployment, the autoscaler and the disruption budget.

`manifest_report(...)` validates your YAML against the Kubernetes 1.32 schema (strict:
a misspelt key is an error) and then checks the rules across objects: the HPA scales
your Deployment, CPU requests exist for a CPU target, the budget leaves room to evict.
"""

import re

import pytest

from mlops_katas.infra.image_refs import unpinned
from mlops_katas.infra.model_server_pod import (
    low_cpu_limit, low_memory_limit, overridden_entry_point, own_model_path,
)
from mlops_katas.infra.manifests import (
    explain, one_node_blockers, quantity, selector_matches, selects_every_pod, startup_allowance,
)

DEPLOYMENT = "k8s/deployment.yaml"
HPA = "k8s/hpa.yaml"
PDB = "k8s/pdb.yaml"
ALL = (DEPLOYMENT, HPA, PDB)
SERVER_PORT = 8000  # the day-03 image serves on 0.0.0.0:8000 (day 04)
MAX_CPU_REQUEST = 1  # cores, as on day 04: the tests' kind cluster is one node on your machine
MIN_MEMORY = 16 * 2**20  # bytes, as on day 04
# What all replicas may request together, as on day 04: a two-core kind node whose own pods reserve ~0.95 core.
NODE_CPU, NODE_MEMORY = 1, 2 * 2**30
MIN_START_S = 30  # seconds the probe that restarts a starting container must allow, as on day 04
RELEASE_LABELS = ("app.kubernetes.io/version", "version", "helm.sh/chart", "chart")  # change with every release
VERSION_VALUE = re.compile(r"[vV]?[0-9]+(?:\.[0-9]+)+(?:[-+_.][A-Za-z0-9.]+)*|[vV][0-9]+")  # 1.0.0, v2.3, 1.4.2-rc1, v1
# A value that ends in a version: Helm's chart label model-server-0.1.0, app-v1.2, server_2.0.1-rc1, iris-v3; or in
# a date, a timestamp or a commit a CI run stamps on it: iris-2026-12-06, model-server-20261206T1530, server-3f9a2c1.
ENDS_IN_VERSION = re.compile(r"(?:^|[-_.])[vV]?[0-9]+(?:\.[0-9]+)+(?:[-+][A-Za-z0-9.]+)?$"
                             r"|[A-Za-z0-9][-_.][vV][0-9]+$"
                             r"|[A-Za-z0-9][-_.](?:19|20)[0-9]{2}([-_.]?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12][0-9]|3[01])"
                             r"(?:[T_.-]?[0-9][0-9_.-]*Z?)?$"
                             r"|[A-Za-z0-9][-_.](?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}$")
COMMIT_VALUE = re.compile(r"(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}")  # a git hash: 3f9a2c1
RELEASE_KEY_PARTS = ("version", "commit", "revision")  # git-commit, app.example.com/revision, chartVersion
RELEASE_KEY_WORDS = {"sha", "build", "digest", "tag", "date", "timestamp"}  # git-sha, image-tag, release-date
DATE_VALUE = re.compile(r"[0-9]{4}-?[01][0-9]-?[0-3][0-9](?:[T._-]?[0-9]{2,6}Z?)?")  # 2026-12-06, 20261206-1530
DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # a container's name
PORT_NAME = re.compile(r"(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")  # IANA_SVC_NAME
HEALTH_PATHS = ("/health", "/ready")  # what a startup probe may ask the day-03 server
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")  # how a probe checks; the API server wants one
# The labels the tests' kind node carries (Linux, your machine's architecture): a required value outside these
# keeps every pod Pending.
KIND_NODES = [{"kubernetes.io/os": "linux", "kubernetes.io/arch": arch} for arch in ("amd64", "arm64")]
NODE_LABELS = tuple(KIND_NODES[0])  # what every node carries, the tests' kind node too
APP_NAME_KEYS = ("app.kubernetes.io/name", "app", "name", "k8s-app")  # name one app
COMPONENT_KEY = "app.kubernetes.io/component"  # names the app among the recommended labels when there is no name
# Other apps carry them with the same value: a Helm release's instance is shared by every chart of the release.
SHARED_KEYS = ("app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "part-of",
               "managed-by", "tier", "team", "env", "environment", "project")
SYSTEM_ACCOUNTS = (None, "default")  # the service account every namespace has
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def _assert_each_container_keeps(rule, manifest_report):
    """A day-04 rule (mlops_katas.infra.model_server_pod) for every container of the Deployment."""
    for container in _containers(manifest_report(DEPLOYMENT)):
        problem = rule(container, f"container {container.get('name')!r}")
        assert problem is None, problem + " (as on day 04)"


def _assert_pinned(image, where):
    problem = unpinned(image, where)
    assert problem is None, problem


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


def _name(manifest):
    return (manifest.doc.get("metadata") or {}).get("name")


def _assert_name_accepted(manifest, file):
    name = _name(manifest)
    assert isinstance(name, str) and DNS_SUBDOMAIN.fullmatch(name), \
        (f"the {manifest.kind}'s metadata.name in {file} is {name!r}: names are lowercase letters, digits, '-' "
         "and '.' (model-server, not model_server or ModelServer), and the API server rejects any other")


def _names_a_release(key):
    """A label key for something that changes with every release: a version, a commit, a build."""
    last = str(key).rsplit("/", 1)[-1]
    words = {w.lower() for w in re.split(r"[-_.]|(?<=[a-z0-9])(?=[A-Z])", last)}  # image-tag, imageTag, gitSha
    return any(part in last.lower() for part in RELEASE_KEY_PARTS) or bool(RELEASE_KEY_WORDS & words)


def _release_selections(selector):
    """The `key=value` pairs of a label selector that name a release: a version (or a value ending in one, such
    as Helm's `chart: model-server-0.1.0`), an image tag, a commit."""
    selector = selector if isinstance(selector, dict) else {}
    match_labels = selector.get("matchLabels") if isinstance(selector.get("matchLabels"), dict) else {}
    pairs = list(match_labels.items())
    pairs += [(e.get("key"), v) for e in selector.get("matchExpressions") or [] if isinstance(e, dict)
              for v in (e.get("values") if isinstance(e.get("values"), list) else [None])]
    return sorted({f"{k}={v}" for k, v in pairs
                   if k in RELEASE_LABELS
                   or _names_a_release(k)
                   or (isinstance(v, str) and (VERSION_VALUE.fullmatch(v) or COMMIT_VALUE.fullmatch(v)
                                               or DATE_VALUE.fullmatch(v) or ENDS_IN_VERSION.search(v)))})


def _node_requirements(pod):
    """What a pod asks of its node: its nodeSelector (a dict, empty when none) and the terms of its required
    nodeAffinity (dicts; None when it has no required nodeAffinity)."""
    selector = pod.get("nodeSelector") if isinstance(pod.get("nodeSelector"), dict) else {}
    required = ((pod.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return selector, None
    return selector, [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]


def _pod_spec(report):
    deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
    pod = (_spec(deployment).get("template") or {}).get("spec")
    return pod if isinstance(pod, dict) else {}


def _init_containers(report):
    return [c for c in _pod_spec(report).get("initContainers") or [] if isinstance(c, dict)]


def _utilization_targets(hpa):
    """(resource, container) pairs the HPA measures as a utilisation, usage / the pods' requests; container is
    None for a Resource metric (every container the pods run) and no metrics at all means 80 % CPU."""
    metrics = [m for m in _spec(hpa).get("metrics") or [] if isinstance(m, dict)]
    if not metrics:
        return [("cpu", None)]
    targets = []
    for m in metrics:
        source = m.get("resource") if m.get("type") == "Resource" else m.get("containerResource")
        source = source if isinstance(source, dict) else {}
        target = source.get("target") if isinstance(source.get("target"), dict) else {}
        if target.get("type") == "Utilization" and source.get("name"):
            targets.append((source["name"], source.get("container") if m.get("type") != "Resource" else None))
    return targets


def _metric_targets(manifest_report):
    """(index, target) of each of the HPA's metrics: its resource or containerResource target, {} when it has none."""
    hpa = _only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
    for i, metric in enumerate(m for m in _spec(hpa).get("metrics") or [] if isinstance(m, dict)):
        source = metric.get("resource") or metric.get("containerResource") or {}
        target = source.get("target") if isinstance(source, dict) else None
        yield i, (target if isinstance(target, dict) else {})


def _request(container, name):
    """What the scheduler reserves for one container: its request, or its limit when only that is set."""
    resources = container.get("resources") or {}
    value = (resources.get("requests") or {}).get(name)
    return quantity(value if value is not None else (resources.get("limits") or {}).get(name)) or 0


def _pod_request(containers, init_containers, name):
    """A pod's effective request: its containers (and native sidecars) together, or its largest init
    container (with the sidecars started before it), whichever is larger, as the scheduler counts it."""
    sidecars, starting = 0, []
    for c in init_containers:
        if c.get("restartPolicy") == "Always":
            sidecars += _request(c, name)
        else:
            starting.append(_request(c, name) + sidecars)
    return max([sum(_request(c, name) for c in containers) + sidecars, *starting])


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

    def test_init_containers_resources_are_in_real_units_too(self, manifest_report):
        # A sidecar's memory: "32" is 32 bytes: the API server takes it, and the kubelet kills the container at once.
        for init in _init_containers(manifest_report(DEPLOYMENT)):
            resources = init.get("resources") if isinstance(init.get("resources"), dict) else {}
            requests, limits = (resources.get(k) if isinstance(resources.get(k), dict) else {}
                                for k in ("requests", "limits"))
            name = init.get("name")
            for where, values in (("requests", requests), ("limits", limits)):
                cpu, memory = quantity(values.get("cpu")), quantity(values.get("memory"))
                assert cpu is None or cpu <= MAX_CPU_REQUEST, \
                    (f"init container {name!r} has {where}.cpu {values.get('cpu')!r}: at most one core, as for the "
                     "server (CPU counts cores: a bare 100 is a hundred cores, not 100m)")
                assert memory is None or memory >= MIN_MEMORY, \
                    (f"init container {name!r} has {where}.memory {values.get('memory')!r}: memory counts bytes, "
                     "so give it a unit (32Mi), as for the server; under 16Mi the container is killed at once")
            for resource in sorted(set(requests) & set(limits)):
                request, limit = quantity(requests[resource]), quantity(limits[resource])
                assert request is None or limit is None or request <= limit, \
                    (f"init container {name!r} requests {requests[resource]!r} {resource} but its limit is "
                     f"{limits[resource]!r}: a request may never exceed its limit, the API server rejects the "
                     "Deployment")

    def test_replicas_can_share_one_node(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        template = _spec(_only(report, "Deployment", "apps/v1", DEPLOYMENT)).get("template") or {}
        pod = template.get("spec") or {}
        assert pod.get("hostNetwork") is not True, \
            ("the pod sets hostNetwork: true, so every replica binds port 8000 of its node: on the tests' one-node "
             "cluster the second replica never starts, and the HPA can add none; leave hostNetwork out")
        claimed = [p.get("hostPort") for c in _containers(report) + _init_containers(report)
                   for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        assert not claimed, \
            (f"a container (or an init or sidecar container) claims hostPort {claimed}: only one pod per node can "
             "hold it, so the HPA's extra replicas never start on the tests' one-node cluster")
        labels = (template.get("metadata") or {}).get("labels")
        blockers = one_node_blockers(pod, labels if isinstance(labels, dict) else {})
        assert not blockers, blockers[0]

    def test_a_rolling_update_may_add_or_remove_a_pod(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        strategy = _spec(deployment).get("strategy")
        rolling = strategy.get("rollingUpdate") if isinstance(strategy, dict) else None
        if not isinstance(rolling, dict):
            return  # the defaults (25 % each way) are accepted

        def is_zero(value):
            return (type(value) is int and value == 0) or \
                (isinstance(value, str) and re.fullmatch(r"0+%", value) is not None)
        surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
        assert not (is_zero(surge) and is_zero(unavailable)), \
            (f"strategy.rollingUpdate sets maxSurge {surge!r} and maxUnavailable {unavailable!r}: a rollout that "
             "may neither start an extra pod nor stop an old one cannot move, and the API server rejects the "
             "Deployment (\"may not be 0 when maxSurge is 0\"); let one of them be at least 1 (maxSurge: 1, "
             "maxUnavailable: 0 keeps every pod serving)")

    def test_rolling_update_sizes_are_pod_counts_or_percentages(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        strategy = _spec(deployment).get("strategy")
        rolling = strategy.get("rollingUpdate") if isinstance(strategy, dict) else None
        for field, value in (rolling.items() if isinstance(rolling, dict) else ()):
            assert (type(value) is int and value >= 0) or \
                (isinstance(value, str) and re.fullmatch(r"\d+%", value) is not None), \
                (f"strategy.rollingUpdate.{field} is {value!r}: the API server takes a whole number of pods (1) or "
                 'a percentage string ("25%") and rejects the Deployment for anything else, such as the string "1"')

    def test_a_recreate_strategy_sets_no_rolling_update(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        strategy = _spec(deployment).get("strategy")
        strategy = strategy if isinstance(strategy, dict) else {}
        assert not (strategy.get("type") == "Recreate" and "rollingUpdate" in strategy), \
            ("strategy.type is Recreate but strategy.rollingUpdate is set: the API server rejects the Deployment "
             "(rollingUpdate may not be specified when the type is Recreate), as on day 04; drop rollingUpdate "
             "or keep type RollingUpdate")

    def test_all_replicas_fit_one_small_node(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        replicas = _spec(deployment).get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return  # test_runs_at_least_two_replicas reports it
        report = manifest_report(DEPLOYMENT)
        containers, init_containers = _containers(report), _init_containers(report)
        for name, budget, shown in (("cpu", NODE_CPU, "one core"), ("memory", NODE_MEMORY, "2Gi")):
            each = _pod_request(containers, init_containers, name)
            assert replicas * each <= budget, \
                (f"{replicas} replicas requesting {float(each):g} {name} each ask for more than {shown} together: "
                 "the tests run every replica on one kind node of a small machine, whose own pods already "
                 f"reserve almost a core, so some replicas would stay Pending for ever; keep replicas x "
                 f"requests.{name} within {shown} (250m and 256Mi per pod are plenty). A pod reserves the "
                 "larger of its containers' requests together and its largest init container's request, and a "
                 "container with only a limit requests that limit")

    def test_image_is_pinned_not_a_moving_tag(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        for i, container in enumerate(_containers(report)):
            _assert_pinned(container.get("image"), f"containers[{i}].image")

    def test_init_containers_images_are_pinned_too(self, manifest_report):
        for i, init in enumerate(_init_containers(manifest_report(DEPLOYMENT))):
            _assert_pinned(init.get("image"), f"initContainers[{i}].image")

    def test_memory_limit_lets_the_server_load_its_model(self, manifest_report):
        _assert_each_container_keeps(low_memory_limit, manifest_report)

    def test_cpu_limit_lets_the_server_start(self, manifest_report):
        _assert_each_container_keeps(low_cpu_limit, manifest_report)

    def test_runs_the_image_as_built(self, manifest_report):
        _assert_each_container_keeps(overridden_entry_point, manifest_report)

    def test_keeps_the_model_the_image_carries(self, manifest_report):
        _assert_each_container_keeps(own_model_path, manifest_report)

    def test_selector_leaves_out_the_release_version(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        moving = _release_selections(_spec(deployment).get("selector"))
        assert not moving, \
            (f"spec.selector selects on {moving}, a version (or a value ending in one, such as Helm's chart label "
             "model-server-0.1.0 or model-server-v1), a date, image tag or commit that changes with every release: "
             "the API server never lets a Deployment's selector change, so the next release could not be applied "
             "(as on day 04); select on the app's name and keep the version on the pod template only")

    def test_liveness_gives_the_server_time_to_start(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            probe = "startupProbe" if isinstance(container.get("startupProbe"), dict) else "livenessProbe"
            allowed = startup_allowance(container.get(probe))
            assert allowed is not None and allowed >= MIN_START_S, \
                (f"{probe} restarts the container {allowed} s after it starts if the server is not answering yet "
                 "(initialDelaySeconds + failureThreshold x periodSeconds): the day-03 server needs several "
                 f"seconds to load, more on a busy machine and more while a scale-up starts pods, so allow at "
                 f"least {MIN_START_S} s (as on day 04) or it is killed before it is up")

    def test_a_startup_probe_asks_the_servers_health_over_plain_http(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            probe = container.get("startupProbe")
            if not isinstance(probe, dict):
                continue  # optional: the liveness probe's allowance is checked instead
            by_name = {p.get("name"): p.get("containerPort") for p in container.get("ports") or [] if p.get("name")}
            check = probe.get("httpGet")
            if not isinstance(check, dict):
                continue  # test_a_startup_probe_is_an_http_get reports it
            port = check.get("port")
            assert by_name.get(port, port) == SERVER_PORT, \
                (f"startupProbe asks port {port!r}: the day-03 server answers on port {SERVER_PORT}; a startup "
                 "probe that never succeeds restarts the container for ever")
            assert check.get("path") in HEALTH_PATHS, \
                (f"startupProbe.httpGet.path is {check.get('path')!r}: the day-03 server answers /health (or "
                 "/ready); any other path is a 404, so the startup never succeeds and the container is "
                 "restarted for ever")
            assert check.get("scheme", "HTTP") == "HTTP" and "host" not in check, \
                (f"startupProbe.httpGet asks scheme {check.get('scheme')!r} host {check.get('host')!r}: the "
                 "server speaks plain HTTP on the pod's own address, as the other probes")

    def test_a_startup_probe_is_an_http_get(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            probe = container.get("startupProbe")
            if not isinstance(probe, dict):
                continue  # optional: the liveness probe's allowance is checked instead
            handlers = sorted(h for h in PROBE_HANDLERS if h in probe)
            assert handlers == ["httpGet"], \
                (f"the startupProbe of container {container.get('name')!r} uses {handlers or 'no handler at all'}: "
                 "a startup probe asks the server's /health or /ready over plain HTTP (httpGet), like the other "
                 "probes. An exec command (curl is not in the image) or a gRPC check never succeeds against the "
                 "day-03 HTTP server, so the container is restarted for ever; a probe without a handler, or with "
                 "two, is rejected by the API server")

    def test_liveness_and_startup_probes_succeed_once(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            for probe in ("livenessProbe", "startupProbe"):
                threshold = (container.get(probe) or {}).get("successThreshold", 1)
                assert threshold == 1, \
                    (f"{probe}.successThreshold is {threshold!r}: the API server rejects any value but 1 for a "
                     "liveness or startup probe (only a readiness probe may ask for several successes)")

    def test_container_and_port_names_are_ones_the_api_server_accepts(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        for container in _containers(report) + _init_containers(report):
            name = container.get("name")
            assert isinstance(name, str) and DNS_LABEL.fullmatch(name), \
                (f"the container name {name!r} is not one the API server accepts: lowercase letters, digits and "
                 "'-', at most 63 (model-server, not model_server)")
            for port in container.get("ports") or []:
                port_name = port.get("name") if isinstance(port, dict) else None
                assert port_name is None or (isinstance(port_name, str) and PORT_NAME.fullmatch(port_name)), \
                    (f"the port name {port_name!r} of container {name!r} is not one the API server accepts: at "
                     "most 15 lowercase letters, digits and '-', with at least one letter (http, not "
                     "model-server-http)")

    def test_resource_quantities_use_kubernetes_units(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        for container in _containers(report) + _init_containers(report):
            resources = container.get("resources") or {}
            for where in ("requests", "limits"):
                for name, value in (resources.get(where) or {}).items():
                    assert quantity(value) is not None, \
                        (f"{where}.{name} of container {container.get('name')!r} is {value!r}, which is not a "
                         "Kubernetes quantity: the API server rejects it; write 256Mi or 1Gi (binary) or 256M "
                         "(decimal), never MB or GB, and 250m or 0.25 for CPU")

    def test_name_is_one_the_api_server_accepts(self, manifest_report):
        _assert_name_accepted(_only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT), DEPLOYMENT)

    def test_pull_policy_lets_a_loaded_image_run(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        for container in _containers(report) + _init_containers(report):
            policy = container.get("imagePullPolicy", "IfNotPresent")
            assert policy == "IfNotPresent", \
                (f"imagePullPolicy {policy!r} of container {container.get('name')!r}: as on day 04, a pinned image "
                 "loaded into the cluster needs IfNotPresent (Always pulls from a registry, Never fails on a node "
                 "without the image), for an init container as for the server")

    def test_pods_need_no_node_label_beyond_os_and_arch(self, manifest_report):
        pod = _pod_spec(manifest_report(DEPLOYMENT))
        assert pod.get("nodeName") is None, \
            (f"the pod template sets nodeName {pod['nodeName']!r}: every replica is bound to the node of that name "
             "and waits for it for ever, and the tests' one kind node has a name you cannot know, so no replica "
             "would ever run and the HPA could add none; leave nodeName out and let the scheduler choose")
        selector, terms = _node_requirements(pod)
        keys = [("nodeSelector", k) for k in selector]
        for term in terms or []:
            keys += [("required nodeAffinity", e.get("key")) for e in term.get("matchExpressions") or []
                     if isinstance(e, dict)]
            keys += [("required nodeAffinity (matchFields)", e.get("key")) for e in term.get("matchFields") or []
                     if isinstance(e, dict)]
        pinned = [f"{where} on {key!r}" for where, key in keys if key not in NODE_LABELS]
        assert not pinned, \
            (f"the pods may only run on nodes chosen by {pinned}: the tests' one kind node carries no zone, "
             "instance-type or node-pool label (nor a name you can know), so no replica would ever be scheduled "
             "and the HPA could add none; require only kubernetes.io/os or kubernetes.io/arch, or use "
             "preferredDuringSchedulingIgnoredDuringExecution")

    def test_required_node_labels_name_values_the_kind_node_carries(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _containers(report)
        selector, terms = _node_requirements(_pod_spec(report))
        foreign = {k: v for k, v in selector.items() if not any(node.get(k) == v for node in KIND_NODES)}
        assert not foreign, \
            (f"nodeSelector {foreign} matches no node of the tests' kind cluster, whose node is labelled "
             "kubernetes.io/os: linux and kubernetes.io/arch: amd64 or arm64 (values are lowercase): every "
             "replica stays Pending and the HPA can add none; leave it out or keep kubernetes.io/os: linux")
        if terms is not None:
            fits = [t for t in terms if not t.get("matchFields") and any(
                selector_matches({"matchExpressions": t.get("matchExpressions")}, n) for n in KIND_NODES)]
            assert fits, \
                (f"required nodeAffinity {terms} matches no node of the tests' kind cluster (kubernetes.io/os: "
                 "linux, kubernetes.io/arch: amd64 or arm64): every replica stays Pending; use "
                 "preferredDuringSchedulingIgnoredDuringExecution")

    def test_pods_require_no_affinity_to_pods_the_files_do_not_run(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _containers(report)
        template = _spec(_only(report, "Deployment", "apps/v1", DEPLOYMENT)).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        affinity = (_pod_spec(report).get("affinity") or {}).get("podAffinity") or {}
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        for i, term in enumerate(t for t in required if isinstance(t, dict)):
            selector = term.get("labelSelector")
            own = selects_every_pod(selector) or selector_matches(selector, labels)
            assert own and term.get("topologyKey") == "kubernetes.io/hostname", \
                (f"podAffinity.requiredDuringSchedulingIgnoredDuringExecution[{i}] requires pods matching "
                 f"{selector} in the same {term.get('topologyKey')!r} domain: the tests run no such pod beside "
                 "the model server (and the kind node has no zone label), so not one replica is ever scheduled "
                 "(as on day 04); use preferredDuringSchedulingIgnoredDuringExecution")

    def test_every_probe_has_exactly_one_handler(self, manifest_report):
        for container in _containers(manifest_report(DEPLOYMENT)):
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                spec = container.get(probe)
                if not isinstance(spec, dict):
                    continue
                handlers = [h for h in PROBE_HANDLERS if h in spec]
                assert len(handlers) == 1, \
                    (f"the {probe} of container {container.get('name')!r} has the handlers {handlers}: a probe "
                     "has exactly one, and the API server rejects the Deployment otherwise (as on day 04); keep "
                     "the httpGet and drop the leftover exec, tcpSocket or grpc")

    def test_pods_need_no_object_the_files_do_not_create(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        containers = _containers(report) + _init_containers(report)
        pod = _pod_spec(report)
        account = pod.get("serviceAccountName", pod.get("serviceAccount"))
        assert account in SYSTEM_ACCOUNTS, \
            (f"the pod runs as service account {account!r}, which these files do not create: the ReplicaSet "
             "cannot create a single pod (as on day 04); leave serviceAccountName out (the namespace's default "
             "account)")
        for field in ("priorityClassName", "runtimeClassName"):
            assert pod.get(field) is None, \
                (f"the pod asks for {field} {pod[field]!r}, an object these files do not create: the API server "
                 "refuses every pod (as on day 04); leave it out")
        needed = []
        for c in containers:
            for e in [e for e in c.get("envFrom") or [] if isinstance(e, dict)]:
                for kind in ("configMapRef", "secretRef"):
                    ref = e.get(kind) if isinstance(e.get(kind), dict) else {}
                    if ref and not ref.get("optional"):
                        needed.append(f"envFrom {kind} {ref.get('name')!r}")
            for e in [e for e in c.get("env") or [] if isinstance(e, dict)]:
                source = e.get("valueFrom") if isinstance(e.get("valueFrom"), dict) else {}
                for kind in ("configMapKeyRef", "secretKeyRef"):
                    ref = source.get(kind) if isinstance(source.get(kind), dict) else {}
                    if ref and not ref.get("optional"):
                        needed.append(f"env {e.get('name')} from {kind} {ref.get('name')!r}")
        for v in [v for v in pod.get("volumes") or [] if isinstance(v, dict)]:
            for kind in ("configMap", "secret"):
                ref = v.get(kind)
                if isinstance(ref, dict) and not ref.get("optional"):
                    needed.append(f"volume {v.get('name')} from {kind} {ref.get('name', ref.get('secretName'))!r}")
            projected = v.get("projected") if isinstance(v.get("projected"), dict) else {}
            for source in [s for s in projected.get("sources") or [] if isinstance(s, dict)]:
                for kind in ("configMap", "secret"):
                    ref = source.get(kind)
                    if isinstance(ref, dict) and not ref.get("optional"):
                        needed.append(f"volume {v.get('name')} projecting {kind} {ref.get('name')!r}")
            if "persistentVolumeClaim" in v:
                needed.append(f"volume {v.get('name')} from a persistentVolumeClaim")
        assert not needed, \
            (f"the pod needs objects these files do not create: {needed}; the tests apply only the Deployment, "
             "the HPA and the budget, so no container ever starts and no pod is ready (as on day 04); mark a "
             "ConfigMap or Secret optional: true, or leave it out")

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
        sidecars = [c for c in _init_containers(report) if c.get("restartPolicy") == "Always"]
        for name, container in _utilization_targets(hpa):
            for sidecar in sidecars:
                if container is not None and container != sidecar.get("name"):
                    continue  # a ContainerResource metric reads only the container it names
                resources = sidecar.get("resources") if isinstance(sidecar.get("resources"), dict) else {}
                given = any(name in (resources.get(k) or {}) for k in ("requests", "limits"))
                assert given, \
                    (f"the native sidecar {sidecar.get('name')!r} (an init container with restartPolicy: Always) "
                     f"requests no {name}, but the HPA scales on {name} utilisation: it adds up the {name} requests "
                     "of every container the pods run, sidecars included, and with one missing it reads no "
                     f"utilisation at all (\"missing request for {name}\") and never scales; give the sidecar "
                     f"a resources.requests.{name}")

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

    def test_min_replicas_fit_one_small_node(self, manifest_report):
        report = manifest_report(DEPLOYMENT, HPA)
        hpa = _only(report, "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        low = _spec(hpa).get("minReplicas", 1)
        if not isinstance(low, int) or isinstance(low, bool):
            return  # test_keeps_at_least_two_replicas_and_room_to_grow reports it
        containers, init_containers = _containers(report), _init_containers(report)
        for name, budget, shown in (("cpu", NODE_CPU, "one core"), ("memory", NODE_MEMORY, "2Gi")):
            each = _pod_request(containers, init_containers, name)
            assert low * each <= budget, \
                (f"minReplicas {low} pods requesting {float(each):g} {name} each ask for more than {shown} "
                 "together: the HPA raises the Deployment to minReplicas at once, before it reads any metric, and "
                 "the tests' small kind node cannot hold them, so some pods stay Pending for ever; keep "
                 f"minReplicas x requests.{name} within {shown}, as for the Deployment's replicas")

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

    def test_a_utilization_target_sets_no_raw_value_beside_it(self, manifest_report):
        for i, target in _metric_targets(manifest_report):
            assert not ("averageUtilization" in target and "averageValue" in target), \
                (f"spec.metrics[{i}] sets both averageUtilization ({target.get('averageUtilization')!r}) and "
                 f"averageValue ({target.get('averageValue')!r}): the API server rejects the HPA (\"may not set "
                 "both a target raw value and a target utilization\"); a Utilization target sets averageUtilization "
                 "only")

    def test_a_resource_target_is_a_utilization_or_an_average_value(self, manifest_report):
        for i, target in _metric_targets(manifest_report):
            expected = {"Utilization": "averageUtilization", "AverageValue": "averageValue"}.get(target.get("type"))
            assert expected in target, \
                (f"spec.metrics[{i}].target is {target}: a Resource (or ContainerResource) metric is averaged over "
                 "the pods, so its target is type Utilization with averageUtilization, or type AverageValue with "
                 "averageValue; a Value target (one raw value for all pods) is rejected by the API server (\"must "
                 "set either a target raw value or a target utilization\")")

    def test_scales_only_on_metrics_that_metrics_server_serves(self, manifest_report):
        hpa = _only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        for i, metric in enumerate(m for m in _spec(hpa).get("metrics") or [] if isinstance(m, dict)):
            kind = metric.get("type")
            assert kind in ("Resource", "ContainerResource"), \
                (f"spec.metrics[{i}] is a {kind!r} metric: it needs a custom or external metrics adapter (such as "
                 "the Prometheus adapter) that these files do not install, and an HPA that cannot read one of its "
                 "metrics never scales down, so the peak size stays for ever; list only Resource (or "
                 "ContainerResource) metrics such as cpu")
            source = metric.get("resource") or metric.get("containerResource") or {}
            name = source.get("name") if isinstance(source, dict) else None
            assert name in ("cpu", "memory"), \
                (f"spec.metrics[{i}] scales on the resource {name!r}: metrics-server measures only cpu and memory, "
                 "so the HPA can never read this metric and, missing one of its metrics, never scales down; "
                 "scale on cpu (or memory) only")

    def test_metric_target_values_are_kubernetes_quantities(self, manifest_report):
        for i, target in _metric_targets(manifest_report):
            for field in ("averageValue", "value"):
                if field in target:
                    assert quantity(target[field]) is not None, \
                        (f"spec.metrics[{i}].target.{field} is {target[field]!r}, which is not a Kubernetes "
                         "quantity: the API server rejects the HPA; write 300Mi or 300M for memory, 250m for CPU, "
                         "never MB or GB")

    def test_a_container_metric_names_a_container_the_pods_run(self, manifest_report):
        report = manifest_report(DEPLOYMENT, HPA)
        hpa = _only(report, "HorizontalPodAutoscaler", "autoscaling/v2", HPA)
        running = {c.get("name") for c in _containers(report) if isinstance(c, dict)}
        running |= {c.get("name") for c in _init_containers(report) if c.get("restartPolicy") == "Always"}
        for i, metric in enumerate(m for m in _spec(hpa).get("metrics") or [] if isinstance(m, dict)):
            source = metric.get("containerResource")
            if metric.get("type") != "ContainerResource" or not isinstance(source, dict):
                continue
            container = source.get("container")
            assert container in running, \
                (f"spec.metrics[{i}] is a ContainerResource metric on container {container!r}, but the "
                 f"Deployment's pods run {sorted(n for n in running if n)}: metrics-server has no usage for a "
                 "container the pods do not run, so the HPA can never read this metric and never scales down; "
                 "name the container exactly as the Deployment does")

    def test_name_is_one_the_api_server_accepts(self, manifest_report):
        _assert_name_accepted(_only(manifest_report(HPA), "HorizontalPodAutoscaler", "autoscaling/v2", HPA), HPA)

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

    def test_name_is_one_the_api_server_accepts(self, manifest_report):
        _assert_name_accepted(_only(manifest_report(PDB), "PodDisruptionBudget", "policy/v1", PDB), PDB)

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
        template = _spec(deployment).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        other_app = {key: f"not-{value}" for key, value in labels.items()}  # same label keys, other values
        selector = _spec(pdb).get("selector")
        assert not selector_matches(selector, other_app), \
            (f"the budget's spec.selector {selector} also selects a pod labelled {other_app}: it needs no value of "
             "the model server's labels, so it takes in the pods of every other app of the namespace and counts "
             "their evictions too (and a pod two budgets select cannot be evicted at all); select on the app's "
             "name, such as matchLabels {app.kubernetes.io/name: model-server}, not on a key alone (Exists) or "
             "a NotIn")
        selected = _spec(deployment).get("selector")
        selected = selected if isinstance(selected, dict) else {}
        own = set((selected.get("matchLabels") if isinstance(selected.get("matchLabels"), dict) else {}) or {})
        own |= {e.get("key") for e in selected.get("matchExpressions") or [] if isinstance(e, dict)}
        # The labels that name this app: a name key, or else the component, or else the selector's keys other apps
        # do not share.
        naming = ({key for key in labels if key in APP_NAME_KEYS} or {COMPONENT_KEY} & set(labels)
                  or (own - set(SHARED_KEYS)) or own)
        neighbour = {key: (f"not-{value}" if key in naming else value) for key, value in labels.items()}
        if naming & set(labels):
            assert not selector_matches(selector, neighbour), \
                (f"the budget's spec.selector {selector} also selects a pod labelled {neighbour}, another app that "
                 "shares the model server's other labels: a label other apps carry with the same value (part-of, "
                 "tier, team) takes in their pods too, and the budget counts their evictions; select on the label "
                 "that names this app, as the Deployment's selector does")
        expressions = (selector.get("matchExpressions") if isinstance(selector, dict) else None) or []
        listed = [{**labels, e["key"]: value} for e in expressions
                  if isinstance(e, dict) and e.get("operator") == "In" and e.get("key") in naming & set(labels)
                  for value in (e.get("values") if isinstance(e.get("values"), list) else [])
                  if value != labels[e["key"]]]
        others = [pod for pod in listed if selector_matches(selector, pod)]
        assert not others, \
            (f"the budget's spec.selector {selector} also selects a pod labelled {others[0]}: an In that lists "
             "another app's name beside the model server's takes in that app's pods too, and the budget counts "
             "their evictions (and a pod two budgets select cannot be evicted at all); list only the value the "
             "model server's pods carry")

    def test_selector_leaves_out_the_release_version(self, manifest_report):
        pdb = _only(manifest_report(PDB), "PodDisruptionBudget", "policy/v1", PDB)
        moving = _release_selections(_spec(pdb).get("selector"))
        assert not moving, \
            (f"the budget's spec.selector selects on {moving}, a version (or a value ending in one, such as Helm's "
             "chart label model-server-0.1.0 or model-server-v1), a date, image tag or commit that changes with "
             "every release: the next "
             "release's pods no longer carry it, so from then on the budget protects "
             "nothing and a drain may evict every pod at once; select on the app's name, as the Deployment does")

    def test_budget_is_a_whole_number_or_a_percentage(self, manifest_report):
        pdb = _only(manifest_report(PDB), "PodDisruptionBudget", "policy/v1", PDB)
        budget = {k: v for k, v in _spec(pdb).items() if k in ("minAvailable", "maxUnavailable")}
        assert len(budget) == 1, f"set exactly one of minAvailable and maxUnavailable, not {sorted(budget)}"
        (field, value), = budget.items()
        percent = re.fullmatch(r"(\d+)%", value) if isinstance(value, str) else None
        assert (type(value) is int and value >= 0) or (percent and int(percent.group(1)) <= 100), \
            (f"{field} is {value!r}: the API server takes a whole number of pods (1) or a percentage "
             "string up to 100% (\"50%\"), and rejects anything else, such as the string \"1\"")

    def test_unhealthy_pod_eviction_policy_is_one_the_api_server_accepts(self, manifest_report):
        pdb = _only(manifest_report(PDB), "PodDisruptionBudget", "policy/v1", PDB)
        spec = _spec(pdb)
        if "unhealthyPodEvictionPolicy" not in spec:
            return  # optional: the API server's default is IfHealthyBudget
        policy = spec["unhealthyPodEvictionPolicy"]
        assert policy in ("IfHealthyBudget", "AlwaysAllow"), \
            (f"unhealthyPodEvictionPolicy is {policy!r}: the API server accepts exactly IfHealthyBudget or "
             "AlwaysAllow (letter case included) and rejects the budget otherwise")

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
