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



import string

_LOWER = frozenset(string.ascii_lowercase)
_DIGITS = frozenset(string.digits)
_ID_CHARS = _LOWER | _DIGITS | {"_", "-"}
_BUCKET_CHARS = _LOWER | _DIGITS | {".", "_", "-"}
_IDENT_START = frozenset(string.ascii_letters + "_")
_IDENT_CHARS = _IDENT_START | _DIGITS


class ConfigError(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def _is_digits(s: str) -> bool:
    return bool(s) and set(s) <= _DIGITS


def _is_project(s: str) -> bool:
    if _is_digits(s):
        return True
    return (6 <= len(s) <= 30 and s[0] in _LOWER and s[-1] != "-"
            and set(s) <= _LOWER | _DIGITS | {"-"})


def _is_location(s: str) -> bool:
    words = s.split("-")
    if not words or not all(words):
        return False
    *front, last = words
    if not all(set(w) <= _LOWER for w in front):
        return False
    stem = last.rstrip(string.digits)
    tail = last[len(stem):]
    return bool(stem) and set(stem) <= _LOWER and _is_digits(tail)


def _is_id(s: str) -> bool:
    return 1 <= len(s) <= 63 and s[0] in _LOWER | _DIGITS and set(s) <= _ID_CHARS


def _resource(field: str, value: Any, collection: str | None, versioned: bool = False) -> str:
    """Check a name; return its location."""
    if not isinstance(value, str):
        raise ConfigError(field, f"expected a string, got {type(value).__name__}")
    parts = value.split("/")
    size = 4 if collection is None else 6
    bad = ConfigError(field, f"{value!r} is not projects/PROJECT/locations/LOCATION"
                      + ("" if collection is None else f"/{collection}/ID"))
    if len(parts) != size or parts[0] != "projects" or parts[2] != "locations":
        raise bad
    if not _is_project(parts[1]) or not _is_location(parts[3]):
        raise bad
    if collection is not None:
        if parts[4] != collection:
            raise bad
        rid = parts[5]
        if versioned and "@" in rid:
            rid, version = rid.split("@", 1)
            if not _is_id(version):
                raise bad
        if not _is_id(rid):
            raise bad
    return parts[3]


def _is_gcs(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith("gs://"):
        return False
    bucket = value[5:].split("/", 1)[0]
    return (3 <= len(bucket) <= 63 and set(bucket) <= _BUCKET_CHARS
            and bucket[0] in _LOWER | _DIGITS and bucket[-1] in _LOWER | _DIGITS)


def _require_gcs(field: str, value: Any) -> None:
    if not _is_gcs(value):
        raise ConfigError(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")


def _is_module(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    return all(p and p[0] in _IDENT_START and set(p) <= _IDENT_CHARS for p in value.split("."))


def _whole(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, f"expected an int, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(field, f"{value} is outside {low}..{high}")
    return int(value)


def _str_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(field, f"expected a list of strings, got {type(value).__name__}")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(field, f"item {item!r} is not a string")
        out.append(item)
    return out


def _check_display_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError("display_name", "expected a string")
    if len(value) < 1 or len(value) > 128 or not value.strip():
        raise ConfigError("display_name", "must be 1 to 128 characters, not only whitespace")
    return value


def _cpu_family(machine: str) -> str | None:
    """'n1' / 'cpu' for general-purpose names in the table, else None."""
    parts = machine.split("-")
    if len(parts) != 3:
        return None
    family, kind, n = parts
    if kind not in ("standard", "highmem", "highcpu"):
        return None
    if not _is_digits(n) or n[0] == "0":
        return None
    if family == "n1":
        return "n1"
    if family in ("e2", "n2", "n2d", "c2"):
        return "cpu"
    return None


def _gpu(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        gpu = value
    elif isinstance(value, str) and value in Accelerator.__members__:
        gpu = Accelerator.__members__[value]
    else:
        raise ConfigError("accelerator_type", f"{value!r} is not an AcceleratorType name")
    return None if gpu is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else gpu


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    gpu = _gpu(accelerator_type)
    count = _whole("accelerator_count", accelerator_count, -(2**31), 2**31 - 1)
    if not isinstance(machine_type, str):
        raise ConfigError("machine_type", "expected a string")
    fixed = FIXED_GPU_MACHINES.get(machine_type)
    family = None if fixed else _cpu_family(machine_type)
    if fixed:
        if gpu is not fixed[0]:
            raise ConfigError("accelerator_type", f"{machine_type} needs {fixed[0].name}")
        allowed: tuple[int, ...] = (fixed[1],)
    elif family is None:
        raise ConfigError("machine_type", f"{machine_type!r} is not in the allowlist")
    elif gpu is None:
        allowed = (0,)
    elif family == "n1" and gpu in N1_GPU_COUNTS:
        allowed = N1_GPU_COUNTS[gpu]
    else:
        raise ConfigError("accelerator_type", f"{gpu.name} cannot attach to {machine_type}")
    if count not in allowed:
        raise ConfigError("accelerator_count", f"{count} is not one of {allowed}")
    spec = aiplatform_v1.MachineSpec()
    spec.machine_type = machine_type
    if gpu is not None:
        spec.accelerator_type = gpu
        spec.accelerator_count = count
    return spec


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
    _resource("parent", parent, None)
    _check_display_name(display_name)
    cmd = _str_list("command", command)
    arg_list = _str_list("args", args)
    pkgs = _str_list("package_uris", package_uris)
    replicas = _whole("replica_count", replica_count, 1, 2**63 - 1)
    if not isinstance(image_uri, str) or image_uri == "":
        raise ConfigError("image_uri", "an image URI is required")
    if base_output_directory is not None:
        _require_gcs("base_output_directory", base_output_directory)

    pool: dict[str, Any] = {
        "machineSpec": {"machineType": machine_type},
        "replicaCount": str(replicas),
    }
    ms = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                      accelerator_count=accelerator_count)
    pool["machineSpec"] = json_format.MessageToDict(aiplatform_v1.MachineSpec.pb(ms))

    if pkgs or python_module is not None:
        if python_module is None:
            raise ConfigError("python_module", "package_uris need a python_module")
        if not _is_module(python_module):
            raise ConfigError("python_module", f"{python_module!r} is not a dotted module name")
        if not pkgs:
            raise ConfigError("package_uris", "python_module needs package_uris")
        for uri in pkgs:
            _require_gcs("package_uris", uri)
        if cmd:
            raise ConfigError("command", "a Python package pool takes no command")
        pool["pythonPackageSpec"] = {"executorImageUri": image_uri, "packageUris": pkgs,
                                     "pythonModule": python_module, "args": arg_list}
    else:
        pool["containerSpec"] = {"imageUri": image_uri, "command": cmd, "args": arg_list}

    job_spec: dict[str, Any] = {"workerPoolSpecs": [pool]}
    if base_output_directory is not None:
        job_spec["baseOutputDirectory"] = {"outputUriPrefix": base_output_directory}
    request = {"parent": parent,
               "customJob": {"displayName": display_name, "jobSpec": job_spec}}
    message = json_format.ParseDict(request, aiplatform_v1.CreateCustomJobRequest.pb()())
    return aiplatform_v1.CreateCustomJobRequest.wrap(message)


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
    where = _resource("endpoint", endpoint, "endpoints")
    model_where = _resource("model", model, "models", versioned=True)
    if where != model_where:
        raise ConfigError("model", f"model in {model_where} cannot serve an endpoint in {where}")
    _check_display_name(display_name)
    low = _whole("min_replica_count", min_replica_count, 1, 2**31 - 1)
    high = _whole("max_replica_count", max_replica_count, -(2**31), 2**31 - 1)
    if high < low:
        raise ConfigError("max_replica_count", "must be at least min_replica_count")
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise ConfigError("traffic_split", "a non-empty mapping of id -> percent is required")
    pairs = list(traffic_split.items())
    for key, pct in pairs:
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and set(key) <= _DIGITS):
            raise ConfigError("traffic_split", f"key {key!r} is not a deployed model ID")
        _whole("traffic_split", pct, 0, 100)
    total = sum(p for _, p in pairs)
    if total != 100:
        raise ConfigError("traffic_split", f"percentages add up to {total}, not 100")

    resources = aiplatform_v1.DedicatedResources()
    resources.machine_spec = machine_spec(machine_type=machine_type,
                                          accelerator_type=accelerator_type,
                                          accelerator_count=accelerator_count)
    resources.min_replica_count = low
    resources.max_replica_count = high
    deployed = aiplatform_v1.DeployedModel()
    deployed.model = model
    deployed.display_name = display_name
    deployed.dedicated_resources = resources
    request = aiplatform_v1.DeployModelRequest()
    request.endpoint = endpoint
    request.deployed_model = deployed
    for key, pct in pairs:
        request.traffic_split[key] = pct
    return request


def _check_pool(pool: aiplatform_v1.WorkerPoolSpec) -> None:
    if "machine_spec" not in pool or not pool.machine_spec.machine_type:
        raise ConfigError("machine_type", "the pool has no machineSpec.machineType")
    m = pool.machine_spec
    machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                 accelerator_count=m.accelerator_count)
    if pool.replica_count < 1:
        raise ConfigError("replica_count", f"{pool.replica_count} replicas; at least 1 needed")
    kind = pool._pb.WhichOneof("task")
    if kind == "container_spec":
        if not pool.container_spec.image_uri:
            raise ConfigError("image_uri", "the container pool has no imageUri")
    elif kind == "python_package_spec":
        p = pool.python_package_spec
        if not p.executor_image_uri:
            raise ConfigError("image_uri", "the package pool has no executorImageUri")
        if not p.package_uris:
            raise ConfigError("package_uris", "the package pool has no packageUris")
        for uri in p.package_uris:
            _require_gcs("package_uris", uri)
        if not _is_module(p.python_module):
            raise ConfigError("python_module", f"{p.python_module!r} is not a module name")
    else:
        raise ConfigError("image_uri", "the pool has neither containerSpec nor pythonPackageSpec")


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping, got {type(config).__name__}")
    data = dict(config)
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [dict(pools)]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"cannot parse the config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if len(spec.worker_pool_specs) == 0:
        raise ConfigError("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        _check_pool(pool)
    if spec._pb.HasField("base_output_directory"):
        _require_gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
