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

_LOWER = frozenset(string.ascii_lowercase)
_DIGITS = frozenset(string.digits)
_ACCELERATORS_BY_NAME = {member.name: member for member in Accelerator}
_LIMITS = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1,
           "accelerator_count": 2**31 - 1}


class Invalid(ValueError):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")


def _whole(field: str, value: Any, minimum: int) -> int:
    if type(value) is not int:
        raise Invalid(field, f"expected an int, got {type(value).__name__}")
    if value < minimum or value > _LIMITS[field]:
        raise Invalid(field, f"{value} is out of range")
    return value


def _project_ok(text: str) -> bool:
    if text and set(text) <= _DIGITS:
        return True
    return (6 <= len(text) <= 30 and text[0] in _LOWER and text[-1] != "-"
            and set(text) <= _LOWER | _DIGITS | {"-"})


def _location_ok(text: str) -> bool:
    head = text.rstrip(string.digits)
    if head == text or not set(text[len(head):]) <= _DIGITS:
        return False
    words = head.split("-")
    return all(word and set(word) <= _LOWER for word in words)


def _id_ok(text: str) -> bool:
    return (1 <= len(text) <= 63 and text[0] in _LOWER | _DIGITS
            and set(text) <= _LOWER | _DIGITS | {"_", "-"})


class ResourceName:
    """projects/P/locations/L[/KIND/ID[@VERSION]] split on '/', checked part by part."""

    def __init__(self, field: str, text: Any, kind: str | None) -> None:
        if not isinstance(text, str):
            raise Invalid(field, f"expected a resource name string, got {text!r}")
        parts = text.split("/")
        size = 4 if kind is None else 6
        ok = (len(parts) == size and parts[0] == "projects" and parts[2] == "locations"
              and _project_ok(parts[1]) and _location_ok(parts[3]))
        if ok and kind is not None:
            ok = parts[4] == kind
            ident = parts[5]
            if ok and kind == "models" and "@" in ident:
                ident, version = ident.split("@", 1)
                ok = _id_ok(version)
            ok = ok and _id_ok(ident)
        if not ok:
            raise Invalid(field, f"{text!r} is not a valid {kind or 'parent'} name")
        self.location = parts[3]


def _bucket_ok(bucket: str) -> bool:
    allowed = _LOWER | _DIGITS | {".", "_", "-"}
    edge = _LOWER | _DIGITS
    return 3 <= len(bucket) <= 63 and set(bucket) <= allowed and bucket[0] in edge and bucket[-1] in edge


def _gs_uri(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("gs://"):
        raise Invalid(field, f"{value!r} is not a gs:// URI")
    bucket = value[5:].partition("/")[0]
    if not _bucket_ok(bucket):
        raise Invalid(field, f"{bucket!r} is not a Cloud Storage bucket name")
    return value


def _module_ok(text: Any) -> bool:
    if not isinstance(text, str) or not text:
        return False
    return all(part.isidentifier() and part.isascii() for part in text.split("."))


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise Invalid(field, "expected a list of strings")
    if any(not isinstance(item, str) for item in value):
        raise Invalid(field, "every item must be a string")
    return list(value)


def _display(value: Any) -> str:
    if isinstance(value, str) and len(value) <= 128 and value.strip():
        return value
    raise Invalid("display_name", "must be 1 to 128 characters and not only whitespace")


class _MachineRules:
    def resolve(self, accelerator: Any) -> Accelerator | None:
        if accelerator is None:
            return None
        if isinstance(accelerator, Accelerator):
            member = accelerator
        elif isinstance(accelerator, str) and accelerator in _ACCELERATORS_BY_NAME:
            member = _ACCELERATORS_BY_NAME[accelerator]
        else:
            raise Invalid("accelerator_type", f"{accelerator!r} is not an AcceleratorType")
        return None if member is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member

    def allowed_counts(self, machine: str, gpu: Accelerator | None) -> set[int]:
        fixed = FIXED_GPU_MACHINES.get(machine)
        if fixed is not None:
            if gpu is not fixed[0]:
                raise Invalid("accelerator_type", f"{machine} needs {fixed[0].name}")
            return {fixed[1]}
        if N1_MACHINE.fullmatch(machine) and machine.isascii():
            if gpu is None:
                return {0}
            if gpu not in N1_GPU_COUNTS:
                raise Invalid("accelerator_type", f"{gpu.name} does not attach to N1")
            return set(N1_GPU_COUNTS[gpu])
        if CPU_ONLY_MACHINE.fullmatch(machine) and machine.isascii():
            if gpu is not None:
                raise Invalid("accelerator_type", f"{machine} takes no accelerator")
            return {0}
        raise Invalid("machine_type", f"{machine!r} is not in the allowlist")

    def build(self, machine: Any, accelerator: Any, count: Any) -> aiplatform_v1.MachineSpec:
        if not isinstance(machine, str):
            raise Invalid("machine_type", "expected a string")
        gpu = self.resolve(accelerator)
        if type(count) is not int:
            raise Invalid("accelerator_count", "expected an int")
        if gpu is None and count:
            raise Invalid("accelerator_count", "no accelerator, so the count must be 0")
        if count not in self.allowed_counts(machine, gpu):
            raise Invalid("accelerator_count", f"{count} is not allowed for {machine}")
        spec = aiplatform_v1.MachineSpec(machine_type=machine)
        if gpu is not None:
            spec.accelerator_type = gpu
            spec.accelerator_count = count
        return spec


_RULES = _MachineRules()


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    return _RULES.build(machine_type, accelerator_type, accelerator_count)


class _PoolCheck:
    """The task 2 rules shared by the function and the gcloud config."""

    @staticmethod
    def image(uri: Any) -> None:
        if not isinstance(uri, str) or uri == "":
            raise Invalid("image_uri", "an image is required")

    @staticmethod
    def package(uris: list[str], module: Any) -> None:
        if not uris:
            raise Invalid("package_uris", "a Python package job needs package_uris")
        if module is None:
            raise Invalid("python_module", "a Python package job needs python_module")
        if not _module_ok(module):
            raise Invalid("python_module", f"{module!r} is not a dotted module name")
        for uri in uris:
            _gs_uri("package_uris", uri)


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
    ResourceName("parent", parent, None)
    _display(display_name)
    cmd, arg_list, packages = (_strings("command", command), _strings("args", args),
                               _strings("package_uris", package_uris))
    _whole("replica_count", replica_count, 1)
    _PoolCheck.image(image_uri)
    job_spec: dict[str, Any] = {}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {"output_uri_prefix": _gs_uri("base_output_directory",
                                                                          base_output_directory)}
    pool: dict[str, Any] = {"machine_spec": machine_spec(machine_type=machine_type,
                                                         accelerator_type=accelerator_type,
                                                         accelerator_count=accelerator_count),
                            "replica_count": replica_count}
    is_package = bool(packages) or python_module is not None
    if is_package:
        if cmd:
            raise Invalid("command", "a Python package job takes no command")
        _PoolCheck.package(packages, python_module)
        pool["python_package_spec"] = {"executor_image_uri": image_uri, "package_uris": packages,
                                       "python_module": python_module, "args": arg_list}
    else:
        pool["container_spec"] = {"image_uri": image_uri, "command": cmd, "args": arg_list}
    job_spec["worker_pool_specs"] = [pool]
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job={"display_name": display_name, "job_spec": job_spec})


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
    where = ResourceName("endpoint", endpoint, "endpoints").location
    if ResourceName("model", model, "models").location != where:
        raise Invalid("model", f"the model must be in the endpoint's location {where}")
    _display(display_name)
    low = _whole("min_replica_count", min_replica_count, 1)
    _whole("max_replica_count", max_replica_count, low)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise Invalid("traffic_split", "expected a non-empty mapping of IDs to percentages")
    keys_ok = all(isinstance(k, str) and 1 <= len(k) <= 10 and set(k) <= _DIGITS for k in traffic_split)
    values_ok = all(type(v) is int and 0 <= v <= 100 for v in traffic_split.values())
    if not (keys_ok and values_ok):
        raise Invalid("traffic_split", "keys are IDs of 1 to 10 digits, values whole percentages 0..100")
    total = sum(traffic_split.values())
    if total != 100:
        raise Invalid("traffic_split", f"percentages add up to {total}, not 100")
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                                   dedicated_resources=resources),
        traffic_split=dict(traffic_split))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"a gcloud config is a mapping, got {type(config).__name__}")
    data = _plain(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        text = json.dumps(data, default=str)
        spec = aiplatform_v1.CustomJobSpec.from_json(text)
    except (json_format.ParseError, TypeError) as exc:
        raise ValueError(f"invalid gcloud config: {exc}") from exc
    pools = list(spec.worker_pool_specs)
    if len(pools) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in pools:
        if "machine_spec" not in pool:
            raise Invalid("machine_type", "the pool has no machineSpec")
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        _whole("replica_count", pool.replica_count, 1)
        kind = aiplatform_v1.WorkerPoolSpec.pb(pool).WhichOneof("task")
        if kind == "python_package_spec":
            pkg = pool.python_package_spec
            _PoolCheck.image(pkg.executor_image_uri)
            _PoolCheck.package(list(pkg.package_uris), pkg.python_module)
        elif kind == "container_spec":
            _PoolCheck.image(pool.container_spec.image_uri)
        else:
            raise Invalid("image_uri", "the pool has neither containerSpec nor pythonPackageSpec")
    if "base_output_directory" in spec:
        _gs_uri("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
