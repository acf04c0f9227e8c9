"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

Why: `google.cloud.aiplatform_v1` objects reject unknown fields and wrong types, but they
happily carry a T4 on an e2 machine, `gs:/bucket`, min replicas above max or a traffic
split of 90/5. The API would refuse those minutes later, after a submit, a queue and a
bill; checking them here turns each into an immediate ValueError that names the field.

Contract (README "The contract"): every function takes keyword arguments only, returns a
real `aiplatform_v1` object, and raises ValueError whose message contains the snake_case
name of the field at fault (`accelerator_type`, `traffic_split`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format  # noqa: F401  (task 4)

Accelerator = aiplatform_v1.AcceleratorType

# --- Which GPU fits which machine (a small allowlist, not a complete catalogue) ----------
# Source: Google Cloud documentation, "Configure compute resources for custom training"
# (GPUs for custom training) and Compute Engine "GPU machine types" (N1 attachable GPUs,
# accelerator-optimized A2, A3 and G2 series). Anything not listed here is rejected.
# This table is given; task 1 is to enforce it.

# Accelerator-optimized machines: the GPU model and count are part of the machine type.
FIXED_GPU_MACHINES: dict[str, tuple[Accelerator, int]] = {
    **{f"a2-highgpu-{n}g": (Accelerator.NVIDIA_TESLA_A100, n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": (Accelerator.NVIDIA_TESLA_A100, 16),
    **{f"a2-ultragpu-{n}g": (Accelerator.NVIDIA_A100_80GB, n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": (Accelerator.NVIDIA_H100_80GB, n) for n in (1, 2, 4, 8)},
    **{f"g2-standard-{n}": (Accelerator.NVIDIA_L4, 1) for n in (4, 8, 12, 16, 32)},
    "g2-standard-24": (Accelerator.NVIDIA_L4, 2),
    "g2-standard-48": (Accelerator.NVIDIA_L4, 4),
    "g2-standard-96": (Accelerator.NVIDIA_L4, 8),
}

# N1 machines run without a GPU or with one of these attached, in these counts.
N1_MACHINE = re.compile(r"n1-(standard|highmem|highcpu)-[1-9][0-9]*")
N1_GPU_COUNTS: dict[Accelerator, tuple[int, ...]] = {
    Accelerator.NVIDIA_TESLA_T4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P100: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_V100: (1, 2, 4, 8),
}

# General-purpose families that take no accelerator at all.
CPU_ONLY_MACHINE = re.compile(r"(e2|n2|n2d|c2)-(standard|highmem|highcpu)-[1-9][0-9]*")

import json
import string

LOWER = frozenset(string.ascii_lowercase)
DIGITS = frozenset(string.digits)
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
IDENT_START = frozenset(string.ascii_letters) | {"_"}
IDENT_CHARS = IDENT_START | DIGITS


class _Bad(ValueError):
    def __init__(self, field, why):
        super().__init__(f"{field}: {why}")


def _whole(value):
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _project_ok(p):
    if p and set(p) <= DIGITS:
        return True
    return (6 <= len(p) <= 30 and set(p) <= LOWER | DIGITS | {"-"} and p[0] in LOWER and p[-1] != "-")


def _location_ok(loc):
    words = loc.split("-")
    if not all(words):
        return False
    *head, last = words
    if not all(set(w) <= LOWER for w in head):
        return False
    stem = last.rstrip(string.digits)
    digits = last[len(stem):]
    return bool(stem) and set(stem) <= LOWER and bool(digits) and set(digits) <= DIGITS


def _id_ok(i):
    return 1 <= len(i) <= 63 and set(i) <= ID_CHARS and i[0] not in "_-"


def _location_of(value, field, collection=None):
    """Check projects/P/locations/L[/collection/ID] and return L."""
    if not isinstance(value, str):
        raise _Bad(field, f"expected a resource name, got {value!r}")
    parts = value.split("/")
    size = 4 if collection is None else 6
    if (len(parts) != size or parts[0] != "projects" or parts[2] != "locations"
            or not _project_ok(parts[1]) or not _location_ok(parts[3])):
        raise _Bad(field, f"{value!r} is not projects/PROJECT/locations/LOCATION" + (f"/{collection}/ID" if collection else ""))
    if collection is not None:
        if parts[4] != collection:
            raise _Bad(field, f"{value!r} is not a {collection} name")
        ident = parts[5]
        if collection == "models" and "@" in ident:
            ident, version = ident.split("@", 1)
            if not _id_ok(version):
                raise _Bad(field, f"bad version in {value!r}")
        if not _id_ok(ident):
            raise _Bad(field, f"bad ID in {value!r}")
    return parts[3]


def _check_gcs(uri, field):
    ok = isinstance(uri, str) and uri.startswith("gs://")
    if ok:
        bucket, _, path = uri[5:].partition("/")
        ok = (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS and bucket[0] not in "._-"
              and bucket[-1] not in "._-" and "\n" not in path and "\r" not in path)
    if not ok:
        raise _Bad(field, f"{uri!r} is not gs://BUCKET or gs://BUCKET/PATH")


def _check_display(name):
    if not (isinstance(name, str) and 0 < len(name) <= 128 and name.strip()):
        raise _Bad("display_name", f"{name!r}: 1 to 128 characters, not only whitespace")


def _as_list(value, field):
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _Bad(field, f"a list of strings, not {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise _Bad(field, f"item {item!r} is not a string")
    return items


def _check_module(module):
    ok = isinstance(module, str) and module != ""
    if ok:
        for part in module.split("."):
            if not part or part[0] not in IDENT_START or not set(part) <= IDENT_CHARS:
                ok = False
    if not ok:
        raise _Bad("python_module", f"{module!r} is not a dotted module name like trainer.task")


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _check_at_least(value, field, floor):
    if not _whole(value):
        raise _Bad(field, f"a whole number (int), not {value!r}")
    if value < floor:
        raise _Bad(field, f"{value} is below {floor}")
    if value > _FIELD_MAX.get(field, value):
        raise _Bad(field, f"{value} is more than the API field holds")


def _allowed(machine_type, accelerator):
    """The counts allowed for this pair; raises for a machine or GPU that does not fit."""
    if not isinstance(machine_type, str):
        raise _Bad("machine_type", f"not a string: {machine_type!r}")
    fixed = FIXED_GPU_MACHINES.get(machine_type)
    if fixed is not None:
        gpu, n = fixed
        if accelerator is not gpu:
            raise _Bad("accelerator_type", f"{machine_type} needs {gpu.name}")
        return {n}
    if N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            return {0}
        if accelerator not in N1_GPU_COUNTS:
            raise _Bad("accelerator_type", f"{accelerator.name} does not attach to N1")
        return set(N1_GPU_COUNTS[accelerator])
    if CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            raise _Bad("accelerator_type", f"{machine_type} takes no accelerator")
        return {0}
    raise _Bad("machine_type", f"{machine_type!r} is not a known machine type")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if accelerator_type is None:
        accelerator = None
    elif isinstance(accelerator_type, Accelerator):
        accelerator = accelerator_type
    else:
        accelerator = Accelerator.__members__.get(accelerator_type) if isinstance(accelerator_type, str) else None
        if accelerator is None:
            raise _Bad("accelerator_type", f"unknown accelerator {accelerator_type!r}")
    if accelerator is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED:
        accelerator = None
    if not _whole(accelerator_count):
        raise _Bad("accelerator_count", f"a whole number (int), not {accelerator_count!r}")
    if accelerator is None and accelerator_count:
        raise _Bad("accelerator_count", f"{accelerator_count} with no accelerator")
    allowed = _allowed(machine_type, accelerator)
    if accelerator_count not in allowed:
        raise _Bad("accelerator_count", f"{accelerator_count} not in {sorted(allowed)}")
    fields = {"machine_type": machine_type}
    if accelerator is not None:
        fields.update(accelerator_type=accelerator, accelerator_count=accelerator_count)
    return aiplatform_v1.MachineSpec(**fields)


def _pool_task(image_uri, command, args, package_uris, python_module):
    """Check one pool's task and return (oneof field name, dict of its fields)."""
    command = _as_list(command, "command")
    args = _as_list(args, "args")
    package_uris = _as_list(package_uris, "package_uris")
    if python_module is not None or package_uris:
        if python_module is None:
            raise _Bad("python_module", "package_uris were given without a python_module")
        if not package_uris:
            raise _Bad("package_uris", "a python_module was given without package_uris")
        _check_module(python_module)
        if command:
            raise _Bad("command", "a Python package job runs its module; it takes no command")
        for uri in package_uris:
            _check_gcs(uri, "package_uris")
        if not isinstance(image_uri, str) or not image_uri:
            raise _Bad("image_uri", "the executor image is required")
        return "python_package_spec", dict(executor_image_uri=image_uri, package_uris=package_uris,
                                           python_module=python_module, args=args)
    if not isinstance(image_uri, str) or not image_uri:
        raise _Bad("image_uri", "the container image is required")
    return "container_spec", dict(image_uri=image_uri, command=command, args=args)


def custom_job_request(
    *,
    parent: str,
    display_name: str,
    machine_type: str,
    image_uri: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
    replica_count: int = 1,
    command: Sequence[str] = (),
    args: Sequence[str] = (),
    package_uris: Sequence[str] = (),
    python_module: str | None = None,
    base_output_directory: str | None = None,
) -> aiplatform_v1.CreateCustomJobRequest:
    """One worker pool running a custom container, or a Python package on a prebuilt image."""
    _location_of(parent, "parent")
    _check_display(display_name)
    kind, task = _pool_task(image_uri, command, args, package_uris, python_module)
    _check_at_least(replica_count, "replica_count", 1)
    if base_output_directory is not None:
        _check_gcs(base_output_directory, "base_output_directory")
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    body = {
        "parent": parent,
        "custom_job": {
            "display_name": display_name,
            "job_spec": {
                "worker_pool_specs": [{"machine_spec": machine, "replica_count": replica_count, kind: task}],
            },
        },
    }
    if base_output_directory is not None:
        body["custom_job"]["job_spec"]["base_output_directory"] = {"output_uri_prefix": base_output_directory}
    return aiplatform_v1.CreateCustomJobRequest(body)


def deploy_model_request(
    *,
    endpoint: str,
    model: str,
    display_name: str,
    machine_type: str,
    min_replica_count: int,
    max_replica_count: int,
    traffic_split: Mapping[str, int],
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.DeployModelRequest:
    """Deploy `model` to `endpoint` on dedicated machines, with a checked traffic split."""
    here = _location_of(endpoint, "endpoint", "endpoints")
    there = _location_of(model, "model", "models")
    if here != there:
        raise _Bad("model", f"the model is in {there} but the endpoint is in {here}")
    _check_display(display_name)
    _check_at_least(min_replica_count, "min_replica_count", 1)
    _check_at_least(max_replica_count, "max_replica_count", min_replica_count)
    if not isinstance(traffic_split, Mapping):
        raise _Bad("traffic_split", "a mapping of deployed-model IDs to percentages")
    pairs = list(traffic_split.items())
    if not pairs:
        raise _Bad("traffic_split", "empty")
    for key, share in pairs:
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and set(key) <= DIGITS):
            raise _Bad("traffic_split", f"{key!r} is not a deployed-model ID")
        if not (_whole(share) and 0 <= share <= 100):
            raise _Bad("traffic_split", f"{share!r} is not a whole percentage")
    total = sum(share for _, share in pairs)
    if total != 100:
        raise _Bad("traffic_split", f"percentages add up to {total}, not 100")
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint)
    request.deployed_model.model = model
    request.deployed_model.display_name = display_name
    request.deployed_model.dedicated_resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine, min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    for key, share in pairs:
        request.traffic_split[key] = share
    return request


def _plain(value):
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) is not a JSON value")


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping, got {type(config).__name__}")
    pools = config.get("workerPoolSpecs")
    data = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else {**config}
    try:
        text = json.dumps(data, default=_plain)
        spec = aiplatform_v1.CustomJobSpec.from_json(text)
    except (json_format.ParseError, TypeError) as exc:
        raise ValueError(f"the config does not parse: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        raise _Bad("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        m = pool.machine_spec
        machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                     accelerator_count=m.accelerator_count)
        _check_at_least(pool.replica_count, "replica_count", 1)
        if "python_package_spec" in pool:
            p = pool.python_package_spec
            _pool_task(p.executor_image_uri, (), p.args, p.package_uris, p.python_module or "")
        elif "container_spec" in pool:
            c = pool.container_spec
            _pool_task(c.image_uri, c.command, c.args, (), None)
        else:
            raise _Bad("image_uri", "the pool has no containerSpec or pythonPackageSpec")
    if "base_output_directory" in spec:
        _check_gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
