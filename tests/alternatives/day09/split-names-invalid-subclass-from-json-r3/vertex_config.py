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

LOWER_DIGITS = set(string.ascii_lowercase + string.digits)


class Invalid(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{problem} (field {field})")


def _whole(value) -> bool:
    return type(value) is int


def _is_digits(text: str) -> bool:
    return text != "" and text.isascii() and text.isdigit()


def _is_project(text: str) -> bool:
    if _is_digits(text):
        return True
    return (6 <= len(text) <= 30 and text[0] in string.ascii_lowercase and text[-1] != "-"
            and set(text) <= LOWER_DIGITS | {"-"})


def _is_location(text: str) -> bool:
    stripped = text.rstrip(string.digits)
    if stripped == text or not text.isascii():
        return False
    words = stripped.split("-")
    return all(w and set(w) <= set(string.ascii_lowercase) for w in words)


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and text[0] in LOWER_DIGITS and set(text) <= LOWER_DIGITS | {"_", "-"}


def _resource(field: str, value, kind: str | None) -> str:
    """Split projects/P/locations/L[/kind/ID] and return L, or raise naming `field`."""
    if not isinstance(value, str):
        raise Invalid(field, f"not a string: {value!r}")
    parts = value.split("/")
    size = 4 if kind is None else 6
    if len(parts) != size or parts[0] != "projects" or parts[2] != "locations":
        raise Invalid(field, f"{value!r} does not have the form projects/P/locations/L" + (f"/{kind}/ID" if kind else ""))
    if not _is_project(parts[1]) or not _is_location(parts[3]):
        raise Invalid(field, f"bad project or location in {value!r}")
    if kind is not None:
        if parts[4] != kind:
            raise Invalid(field, f"expected {kind}/ in {value!r}")
        ident, at, version = parts[5].partition("@")
        if not _is_id(ident) or (kind != "models" and at) or (at and not _is_id(version)):
            raise Invalid(field, f"bad ID in {value!r}")
    return parts[3]


def _check_gcs(field: str, value) -> None:
    if not isinstance(value, str) or not value.startswith("gs://"):
        raise Invalid(field, f"{value!r} is not a gs:// URI")
    bucket = value[len("gs://"):].split("/", 1)[0]
    ok = (3 <= len(bucket) <= 63 and bucket.isascii() and set(bucket) <= LOWER_DIGITS | set("._-")
          and bucket[0] in LOWER_DIGITS and bucket[-1] in LOWER_DIGITS)
    if not ok:
        raise Invalid(field, f"bad bucket name {bucket!r}")


def _check_module(value) -> None:
    if not isinstance(value, str) or not all(
            p.isascii() and p.isidentifier() for p in value.split(".")):
        raise Invalid("python_module", f"{value!r} is not a dotted module name")


def _check_display_name(value) -> None:
    if not (isinstance(value, str) and 0 < len(value) <= 128 and not value.isspace()):
        raise Invalid("display_name", f"{value!r} must be 1 to 128 characters, not blank")


def _string_list(field: str, value) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):  # any sequence, not only list or tuple
        raise Invalid(field, f"must be a list of strings, not {value!r}")
    if any(not isinstance(v, str) for v in value):
        raise Invalid(field, "every item must be a string")
    return list(value)


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _check_count(field: str, value, at_least: int) -> None:
    if not _whole(value):
        raise Invalid(field, f"must be an int, not {type(value).__name__}")
    if value < at_least:
        raise Invalid(field, f"{value} is below {at_least}")
    if value > _FIELD_MAX.get(field, value):
        raise Invalid(field, f"{value} is more than the API field holds")


def _check_image(value) -> None:
    if not (isinstance(value, str) and value != ""):
        raise Invalid("image_uri", "an image URI is required")


def _allowed_counts(machine: str, gpu) -> tuple[int, ...]:
    """Which accelerator counts `gpu` (None for none) may have on `machine`."""
    if machine in FIXED_GPU_MACHINES:
        needed, n = FIXED_GPU_MACHINES[machine]
        if gpu is not needed and gpu != needed:
            raise Invalid("accelerator_type", f"{machine} has {needed.name} built in")
        return (n,)
    pieces = machine.split("-")
    if len(pieces) != 3 or not (_is_digits(pieces[2]) and pieces[2][0] != "0"):
        raise Invalid("machine_type", f"unknown machine {machine!r}")
    family, kind = pieces[0], pieces[1]
    if kind not in ("standard", "highmem", "highcpu"):
        raise Invalid("machine_type", f"unknown machine {machine!r}")
    if family == "n1":
        if gpu is None:
            return (0,)
        if gpu not in N1_GPU_COUNTS:
            raise Invalid("accelerator_type", f"{gpu.name} cannot be attached to {machine}")
        return N1_GPU_COUNTS[gpu]
    if family in ("e2", "n2", "n2d", "c2"):
        if gpu is not None:
            raise Invalid("accelerator_type", f"{machine} takes no accelerator")
        return (0,)
    raise Invalid("machine_type", f"unknown machine {machine!r}")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    if not isinstance(machine_type, str):
        raise Invalid("machine_type", f"not a string: {machine_type!r}")
    gpu = None
    if isinstance(accelerator_type, Accelerator):
        gpu = accelerator_type
    elif isinstance(accelerator_type, str):
        gpu = Accelerator.__members__.get(accelerator_type)
        if gpu is None:
            raise Invalid("accelerator_type", f"unknown accelerator {accelerator_type!r}")
    elif accelerator_type is not None:
        raise Invalid("accelerator_type", f"not an accelerator: {accelerator_type!r}")
    if gpu == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED:
        gpu = None
    allowed = _allowed_counts(machine_type, gpu)
    if not _whole(accelerator_count) or accelerator_count not in allowed:
        raise Invalid("accelerator_count", f"{accelerator_count!r} is not one of {allowed}")
    spec = {"machine_type": machine_type}
    if gpu is not None:
        spec.update(accelerator_type=gpu, accelerator_count=accelerator_count)
    return aiplatform_v1.MachineSpec(spec)


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
    lists = {f: _string_list(f, v) for f, v in
             (("command", command), ("args", args), ("package_uris", package_uris))}
    _check_count("replica_count", replica_count, 1)
    _check_image(image_uri)
    pool = {
        "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                     accelerator_count=accelerator_count),
        "replica_count": replica_count,
    }
    if not lists["package_uris"] and python_module is None:
        pool["container_spec"] = {"image_uri": image_uri, "command": lists["command"], "args": lists["args"]}
    else:
        if python_module is None:
            raise Invalid("python_module", "package_uris given without python_module")
        if not lists["package_uris"]:
            raise Invalid("package_uris", "python_module given without package_uris")
        if lists["command"]:
            raise Invalid("command", "a Python package runs its module; it takes no command")
        for uri in lists["package_uris"]:
            _check_gcs("package_uris", uri)
        _check_module(python_module)
        pool["python_package_spec"] = {"executor_image_uri": image_uri, "package_uris": lists["package_uris"],
                                       "python_module": python_module, "args": lists["args"]}
    job_spec = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        _check_gcs("base_output_directory", base_output_directory)
        job_spec["base_output_directory"] = {"output_uri_prefix": base_output_directory}
    return aiplatform_v1.CreateCustomJobRequest(
        {"parent": parent, "custom_job": {"display_name": display_name, "job_spec": job_spec}})


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
    region = _resource("endpoint", endpoint, "endpoints")
    if _resource("model", model, "models") != region:
        raise Invalid("model", f"the model must be in {region}, like the endpoint")
    _check_display_name(display_name)
    _check_count("min_replica_count", min_replica_count, 1)
    _check_count("max_replica_count", max_replica_count, min_replica_count)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise Invalid("traffic_split", "must be a non-empty mapping of deployed-model ID to percentage")
    for key, share in traffic_split.items():
        if not (isinstance(key, str) and len(key) <= 10 and _is_digits(key)):
            raise Invalid("traffic_split", f"{key!r} is not a deployed-model ID")
        if not (_whole(share) and 0 <= share <= 100):
            raise Invalid("traffic_split", f"{share!r} for {key} is not a whole percentage")
    if sum(traffic_split.values()) != 100:
        raise Invalid("traffic_split", f"adds up to {sum(traffic_split.values())}, not 100")
    return aiplatform_v1.DeployModelRequest({
        "endpoint": endpoint,
        "deployed_model": {
            "model": model, "display_name": display_name,
            "dedicated_resources": {
                "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                             accelerator_count=accelerator_count),
                "min_replica_count": min_replica_count, "max_replica_count": max_replica_count,
            },
        },
        "traffic_split": dict(traffic_split.items()),
    })


def _jsonable(value: Any) -> Any:
    """json.dumps fallback: any mapping (a read-only one too) is an object, anything else its str."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise Invalid("config", "the config must be a mapping")
    pools = config.get("workerPoolSpecs")
    data = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else config
    try:
        spec = aiplatform_v1.CustomJobSpec.from_json(json.dumps(data, default=_jsonable))
    except json_format.ParseError as exc:
        raise Invalid("config", str(exc)) from exc
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=int(ms.accelerator_count))
        _check_count("replica_count", int(pool.replica_count), 1)
        if "python_package_spec" in pool:
            pkg = pool.python_package_spec
            _check_image(pkg.executor_image_uri)
            if len(pkg.package_uris) == 0:
                raise Invalid("package_uris", "no packages")
            for uri in pkg.package_uris:
                _check_gcs("package_uris", uri)
            _check_module(pkg.python_module)
        else:
            _check_image(pool.container_spec.image_uri)
    if "base_output_directory" in spec:
        _check_gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
