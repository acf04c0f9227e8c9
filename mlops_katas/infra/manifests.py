"""Offline checks of Kubernetes manifests: the schema, then the rules a schema cannot see.

Every learner manifest is checked here, with no cluster, so the static tier runs on
any machine. Two layers:

1. The Kubernetes OpenAPI schema, through `kubernetes-validate` (pinned in
   pyproject.toml). It ships the schemas of many Kubernetes versions inside the wheel,
   so it needs no network, and its strict mode rejects unknown keys: a typo such as
   `readinessprobe` is silently dropped by `kubectl apply` but is an error here. We
   validate against KUBERNETES_VERSION, the minor version of the kind node image the
   kind tier runs (mlops_katas.infra.kind.NODE_IMAGE), so the schema and the live
   cluster agree on which API versions exist (no `policy/v1beta1`, no `autoscaling/v2beta2`).
2. Semantic rules across objects, which is where real outages come from: a selector
   that matches no pod, a probe on the wrong port, requests above limits, an HPA that
   scales nothing, a PodDisruptionBudget that blocks every node drain.

`validate(paths)` returns a list of Problems (file, object, field, message, rule);
an empty list means the manifests pass. Day tests filter by `rule` so each test
names one behaviour, and print problems with `explain()`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .kind import NODE_IMAGE

KUBERNETES_VERSION = re.search(r":v(\d+\.\d+)\.", NODE_IMAGE).group(1)

# The day-03 HTTP contract every model-server manifest serves.
READY_PATH = "/ready"
HEALTH_PATH = "/health"
PROBE_PATHS = {"readinessProbe": READY_PATH, "livenessProbe": HEALTH_PATH}
REQUIRED_REQUESTS = ("cpu", "memory")
SCRAPE = "prometheus.io/scrape"
SCRAPE_PORT = "prometheus.io/port"
SCRAPE_PATH = "prometheus.io/path"


@dataclass(frozen=True)
class Problem:
    file: str
    object: str  # "Deployment/model-server"
    field: str  # "spec.template.spec.containers[0].readinessProbe.httpGet.path"
    message: str
    rule: str  # yaml, schema, selector, probe, resources, image, service, hpa, pdb, scrape

    def __str__(self) -> str:
        return f"{self.file}: {self.object} {self.field}: {self.message}"


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: dict

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str(_get(self.doc, "metadata", "name") or "")

    @property
    def ref(self) -> str:
        return f"{self.kind or '?'}/{self.name or '(no name)'}"

    def problem(self, field: str, message: str, rule: str) -> Problem:
        return Problem(self.file, self.ref, field, message, rule)


def explain(problems: Iterable[Problem]) -> str:
    """One problem a line, for assertion messages."""
    return "\n".join(f"  - {p}" for p in problems)


@dataclass(frozen=True)
class Report:
    manifests: list[Manifest]
    problems: list[Problem]

    def problems_of(self, *rules: str) -> list[Problem]:
        return [p for p in self.problems if p.rule in rules]

    def objects(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m.kind == kind]


def report(paths: Iterable[Path], *, root: Path | None = None, scrape: bool = False) -> Report:
    """Load every YAML document of `paths` and check them together (cross-object rules need all)."""
    manifests, problems = load(paths, root=root)
    return Report(manifests, problems + check(manifests, scrape=scrape))


def validate(paths: Iterable[Path], *, root: Path | None = None, scrape: bool = False) -> list[Problem]:
    """All problems of the manifests in `paths`; an empty list means they pass."""
    return report(paths, root=root, scrape=scrape).problems


@functools.cache
def _strict_loader():
    """PyYAML keeps the last of two equal keys in a mapping; kubectl refuses the file. A second
    `readinessProbe:` left by a copy-paste must not silently replace the first here either."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # a key a `<<` merge brings in may be set again: that is what merges are for
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    continue  # the base class reports an unhashable key
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def load(paths: Iterable[Path], *, root: Path | None = None) -> tuple[list[Manifest], list[Problem]]:
    import yaml

    manifests: list[Manifest] = []
    problems: list[Problem] = []
    for path in paths:
        path = Path(path)
        shown = str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)
        try:
            docs = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_strict_loader())
                    if d is not None]
        except yaml.YAMLError as exc:
            problems.append(Problem(shown, "-", "-", f"is not valid YAML: {exc}", "yaml"))
            continue
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
                problems.append(Problem(shown, f"document {index + 1}", "-",
                                        "is not a Kubernetes object (needs apiVersion and kind)", "yaml"))
                continue
            manifests.append(Manifest(shown, doc))
    return manifests, problems


def check(manifests: list[Manifest], *, scrape: bool = False) -> list[Problem]:
    deployments = [m for m in manifests if m.kind == "Deployment"]
    hpas = [m for m in manifests if m.kind == "HorizontalPodAutoscaler"]
    problems: list[Problem] = []
    for m in manifests:
        problems += _schema(m)
    for d in deployments:
        problems += _deployment(d, scrape)
    for m in manifests:
        if m.kind == "Service":
            problems += _service(m, deployments)
        elif m.kind == "HorizontalPodAutoscaler":
            problems += _hpa(m, deployments)
        elif m.kind == "PodDisruptionBudget":
            problems += _pdb(m, deployments, hpas)
    return problems


def with_image(doc: dict, image: str) -> dict:
    """A copy of a workload whose containers all run `image`: how tests deploy the image they built."""
    import copy

    doc = copy.deepcopy(doc)
    for container in _dicts(_get(doc, "spec", "template", "spec", "containers")):
        container["image"] = image
    return doc


def without_namespace(*docs: dict) -> list[dict]:
    """Copies without metadata.namespace: the READMEs allow one shared namespace (the offline tests check that
    the objects agree), and `kubectl -n <test namespace> apply` refuses an object naming another."""
    import copy

    docs = [copy.deepcopy(d) for d in docs]
    for d in docs:
        _map(d.get("metadata")).pop("namespace", None)
    return docs


def startup_allowance(probe) -> int | None:
    """Seconds the kubelet waits for a probe before its failures restart the container; None when the
    probe's numbers are not integers (the API server would refuse them)."""
    probe = _map(probe)
    delay, failures, period = (probe.get(k, d) for k, d in
                               (("initialDelaySeconds", 0), ("failureThreshold", 3), ("periodSeconds", 10)))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (delay, failures, period)):
        return None
    return delay + (failures or 3) * (period or 10)  # the API server turns 0 into the default


def selects_every_pod(selector) -> bool:
    """A labelSelector with no matchLabels and no matchExpressions ({}, {matchLabels: {}}): Kubernetes reads
    it as "every pod" (only a missing labelSelector selects none)."""
    return isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions")


def one_node_blockers(pod_spec: dict, pod_labels: dict) -> list[str]:
    """Why the replicas of a pod template could not all be scheduled on one node (the tests' kind cluster
    has one): a required podAntiAffinity term that selects the pod itself, or a DoNotSchedule topology
    spread that needs a label the node lacks or more than one domain."""
    blockers = []
    anti = _map(_map(pod_spec.get("affinity")).get("podAntiAffinity"))
    for i, term in enumerate(_dicts(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))):
        selector = term.get("labelSelector")
        if selects_every_pod(selector) or selector_matches(selector, pod_labels):
            blockers.append(
                f"podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[{i}] forbids two replicas in one "
                f"{term.get('topologyKey')!r} domain: on the tests' one-node cluster only one replica is ever "
                "scheduled (and scaling adds none); use preferredDuringSchedulingIgnoredDuringExecution to spread them")
    for i, constraint in enumerate(_dicts(pod_spec.get("topologySpreadConstraints"))):
        if constraint.get("whenUnsatisfiable") != "DoNotSchedule":
            continue
        key, domains = constraint.get("topologyKey"), constraint.get("minDomains", 1)
        if key != "kubernetes.io/hostname":
            blockers.append(
                f"topologySpreadConstraints[{i}] must spread over {key!r} (DoNotSchedule): a node without that "
                "label takes no pod at all, and the tests' kind node has no zone label; spread zones with "
                "whenUnsatisfiable: ScheduleAnyway, or spread over kubernetes.io/hostname")
        if isinstance(domains, int) and domains > 1:
            blockers.append(
                f"topologySpreadConstraints[{i}] asks for minDomains {domains} (DoNotSchedule): on the tests' "
                "one-node cluster the second replica is never scheduled (and scaling adds none); leave minDomains out")
    return blockers


def label_selector(doc: dict) -> str:
    """A Deployment's `spec.selector.matchLabels` as kubectl's `-l` argument."""
    labels = _map(_get(doc, "spec", "selector", "matchLabels"))
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


# --- schema -------------------------------------------------------------------------


def _schema(m: Manifest) -> list[Problem]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(m.doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [m.problem(_dotted(exc.path) or "-", exc.message, "schema")]
    except kubernetes_validate.SchemaNotFoundError:
        return [m.problem("apiVersion", f"Kubernetes {KUBERNETES_VERSION} has no {m.kind} in "
                          f"{m.doc.get('apiVersion')!r} (removed or misspelt API version?)", "schema")]
    return []


def _dotted(path: Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- tolerant access: semantic rules run even when the schema failed ------------------


def _get(doc, *keys):
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _dicts(value) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _map(value) -> dict:
    return value if isinstance(value, dict) else {}


def _containers(deployment: Manifest) -> Iterator[tuple[str, dict]]:
    for i, c in enumerate(_dicts(_get(deployment.doc, "spec", "template", "spec", "containers"))):
        yield f"spec.template.spec.containers[{i}]", c


def _pod_labels(deployment: Manifest) -> dict:
    return _map(_get(deployment.doc, "spec", "template", "metadata", "labels"))


def _replicas(deployment: Manifest) -> int:
    value = _get(deployment.doc, "spec", "replicas")
    return value if isinstance(value, int) else 1


def selector_matches(selector, labels: dict) -> bool:
    """A LabelSelector (matchLabels/matchExpressions) against pod labels; empty matches nothing here."""
    selector = _map(selector)
    match_labels = _map(selector.get("matchLabels"))
    expressions = _dicts(selector.get("matchExpressions"))
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for e in expressions:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels,
              "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


def _selected(selector, deployments: list[Manifest]) -> list[Manifest]:
    return [d for d in deployments if selector_matches(selector, _pod_labels(d))]


# --- Deployment -----------------------------------------------------------------------


def _deployment(d: Manifest, scrape: bool) -> list[Problem]:
    problems = []
    labels = _pod_labels(d)
    if not selector_matches(_get(d.doc, "spec", "selector"), labels):
        problems.append(d.problem("spec.selector", f"does not match the pod template's labels {labels}; "
                                  "the API server rejects it and the Deployment would own no pods", "selector"))
    for where, c in _containers(d):
        problems += _image(d, where, c)
        problems += _probes(d, where, c)
        problems += _resources(d, where, c)
    if scrape:
        problems += _scrape(d)
    return problems


def _image(d: Manifest, where: str, c: dict) -> list[Problem]:
    image = str(c.get("image") or "")
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else None
    if tag is None or tag == "latest":
        what = "has no tag, which means :latest" if tag is None else "uses :latest"
        return [d.problem(f"{where}.image", f"{image!r} {what}: a moving tag cannot be rolled back "
                          "and is pulled on every start; pin a version tag or a digest", "image")]
    return []


def _port_matches(port, container: dict) -> bool:
    ports = _dicts(container.get("ports"))
    if isinstance(port, int):
        return any(p.get("containerPort") == port for p in ports)
    return isinstance(port, str) and any(p.get("name") == port for p in ports)


def _probes(d: Manifest, where: str, c: dict) -> list[Problem]:
    problems = []
    for probe, path in PROBE_PATHS.items():
        field = f"{where}.{probe}"
        spec = c.get(probe)
        http = _get(spec, "httpGet")
        if not isinstance(spec, dict):
            problems.append(d.problem(field, f"is missing: it should GET {path} on the container port", "probe"))
        elif not isinstance(http, dict):
            problems.append(d.problem(field, f"should be an httpGet probe of {path}", "probe"))
        else:
            if http.get("path") != path:
                problems.append(d.problem(f"{field}.httpGet.path", f"is {http.get('path')!r}; "
                                          f"the {probe} should GET {path}", "probe"))
            if not _port_matches(http.get("port"), c):
                problems.append(d.problem(f"{field}.httpGet.port", f"{http.get('port')!r} is not one of the "
                                          "container's ports (by number or name)", "probe"))
    return problems


_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_SUFFIX = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3, "M": 10**6,
           "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
           "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value) -> Fraction | None:
    """A Kubernetes resource quantity ('250m', '1.5Gi', 2, '1e3') as an exact number; None if malformed."""
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    number, exponent, suffix = match.groups()
    result = Fraction(number)
    if exponent:
        result *= Fraction(10) ** int(exponent[1:])
    if suffix:
        result *= _SUFFIX[suffix]
    return result


def _resources(d: Manifest, where: str, c: dict) -> list[Problem]:
    problems = []
    requests = _map(_get(c, "resources", "requests"))
    limits = _map(_get(c, "resources", "limits"))
    for name in REQUIRED_REQUESTS:
        if name not in requests:
            problems.append(d.problem(f"{where}.resources.requests.{name}", "is missing: without requests the "
                                      "scheduler places the pod blindly and CPU autoscaling cannot work",
                                      "resources"))
    for name in sorted(set(requests) & set(limits)):
        req, lim = quantity(requests[name]), quantity(limits[name])
        if req is not None and lim is not None and req > lim:
            problems.append(d.problem(f"{where}.resources.requests.{name}", f"{requests[name]} is above the "
                                      f"limit {limits[name]}; a request may never exceed its limit", "resources"))
    return problems


def _scrape(d: Manifest) -> list[Problem]:
    field = "spec.template.metadata.annotations"
    annotations = _map(_get(d.doc, "spec", "template", "metadata", "annotations"))
    if SCRAPE not in annotations and SCRAPE in _map(_get(d.doc, "metadata", "annotations")):
        return [d.problem(field, "the Prometheus annotations sit on the Deployment; Prometheus discovers "
                          "pods, so put them on the pod template", "scrape")]
    problems = []
    if annotations.get(SCRAPE) != "true":
        problems.append(d.problem(f"{field}.{SCRAPE}", 'should be "true" so Prometheus scrapes the pods', "scrape"))
    port = str(annotations.get(SCRAPE_PORT, ""))
    if not port.isdigit() or not any(_port_matches(int(port), c) for _, c in _containers(d)):
        problems.append(d.problem(f"{field}.{SCRAPE_PORT}", f"{port or 'missing'}: should name a container "
                                  "port by number", "scrape"))
    path = annotations.get(SCRAPE_PATH, "/metrics")
    if not str(path).startswith("/"):
        problems.append(d.problem(f"{field}.{SCRAPE_PATH}", f"{path!r} should be a URL path such as /metrics",
                                  "scrape"))
    return problems


# --- Service ----------------------------------------------------------------------------


def _service(s: Manifest, deployments: list[Manifest]) -> list[Problem]:
    selector = _map(_get(s.doc, "spec", "selector"))
    if not selector:
        return [s.problem("spec.selector", "is empty: the Service would send traffic to no pod", "service")]
    if not deployments:
        return []
    targets = _selected({"matchLabels": selector}, deployments)
    if not targets:
        return [s.problem("spec.selector", f"{selector} matches the pods of no Deployment here; "
                          "the Service would have no endpoints", "service")]
    problems = []
    for i, port in enumerate(_dicts(_get(s.doc, "spec", "ports"))):
        target = port.get("targetPort", port.get("port"))
        for d in targets:
            if not any(_port_matches(target, c) for _, c in _containers(d)):
                problems.append(s.problem(f"spec.ports[{i}].targetPort", f"{target!r} is not a container port "
                                          f"of {d.ref} (by number or name)", "service"))
    return problems


# --- HorizontalPodAutoscaler -----------------------------------------------------------------


def _hpa_target(h: Manifest, deployments: list[Manifest]) -> Manifest | None:
    ref = _map(_get(h.doc, "spec", "scaleTargetRef"))
    if ref.get("kind") != "Deployment":
        return None
    return next((d for d in deployments if d.name == ref.get("name")), None)


def _hpa(h: Manifest, deployments: list[Manifest]) -> list[Problem]:
    ref = _map(_get(h.doc, "spec", "scaleTargetRef"))
    target = _hpa_target(h, deployments)
    problems = []
    if target is None:
        known = ", ".join(repr(d.name) for d in deployments) or "none"
        problems.append(h.problem("spec.scaleTargetRef", f"names {ref.get('kind')} {ref.get('name')!r}, but the "
                                  f"Deployments here are: {known}; the HPA would scale nothing", "hpa"))
    low, high = _get(h.doc, "spec", "minReplicas"), _get(h.doc, "spec", "maxReplicas")
    low = low if isinstance(low, int) else 1
    if isinstance(high, int) and low > high:
        problems.append(h.problem("spec.minReplicas", f"{low} is above maxReplicas {high}", "hpa"))
    if target is not None:
        for name in _utilization_resources(h):
            for where, c in _containers(target):
                if name not in _map(_get(c, "resources", "requests")):
                    problems.append(h.problem("spec.metrics", f"scales on {name} utilization, but {target.ref} "
                                              f"{where} requests no {name}; utilization is usage / request",
                                              "hpa"))
    return problems


def _utilization_resources(h: Manifest) -> list[str]:
    """Resources the HPA measures as a percentage of requests; no metrics means 80 % CPU."""
    metrics = _get(h.doc, "spec", "metrics")
    if not metrics:
        return ["cpu"]
    names = []
    for m in _dicts(metrics):
        source = _map(m.get("resource") or m.get("containerResource"))
        if _get(source, "target", "type") == "Utilization" and source.get("name"):
            names.append(source["name"])
    return names


# --- PodDisruptionBudget ----------------------------------------------------------------------


def _pdb(p: Manifest, deployments: list[Manifest], hpas: list[Manifest]) -> list[Problem]:
    spec = _map(p.doc.get("spec"))
    if "minAvailable" in spec and "maxUnavailable" in spec:
        return [p.problem("spec", "sets both minAvailable and maxUnavailable; set one", "pdb")]
    targets = _selected(spec.get("selector"), deployments)
    if not targets:
        return [p.problem("spec.selector", "matches the pods of no Deployment here; the budget protects nothing",
                          "pdb")]
    problems = []
    for d in targets:
        replicas = _lowest_replicas(d, hpas)
        if "minAvailable" in spec:
            keep = _scaled(spec["minAvailable"], replicas)
            if keep is not None and keep >= replicas:
                problems.append(p.problem("spec.minAvailable", f"{spec['minAvailable']} of {replicas} replicas of "
                                          f"{d.ref} leaves no pod evictable: node drains would hang", "pdb"))
        elif "maxUnavailable" in spec:
            allowed = _scaled(spec["maxUnavailable"], replicas)
            if allowed is not None and allowed < 1:
                problems.append(p.problem("spec.maxUnavailable", f"{spec['maxUnavailable']} allows no eviction: "
                                          "node drains would hang", "pdb"))
        else:
            problems.append(p.problem("spec", "sets neither minAvailable nor maxUnavailable", "pdb"))
    return problems


def _lowest_replicas(d: Manifest, hpas: list[Manifest]) -> int:
    """The budget must leave room at the smallest size the Deployment runs at: the HPA's minReplicas."""
    for h in hpas:
        if _hpa_target(h, [d]) is d:
            low = _get(h.doc, "spec", "minReplicas")
            return low if isinstance(low, int) else 1
    return _replicas(d)


def _scaled(value, replicas: int) -> int | None:
    """An int-or-percent budget in pods; percentages round up, as the disruption controller does."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return math.ceil(int(value[:-1]) * replicas / 100)
    return None
