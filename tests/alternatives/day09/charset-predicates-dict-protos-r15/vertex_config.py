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
from google.protobuf import json_format

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


LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
DIGITS = frozenset("0123456789")
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
IDENT_START = LOWER | {c.upper() for c in LOWER} | {"_"}
IDENT_CHARS = IDENT_START | DIGITS


class _Bad(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{message} (field: {field})")
        self.field = field


def _is_digits(text: str) -> bool:
    return bool(text) and set(text) <= DIGITS


def _is_project(text: str) -> bool:
    if _is_digits(text):
        return True
    return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
            and set(text) <= LOWER | DIGITS | {"-"})


def _is_location(text: str) -> bool:
    words = text.split("-")
    *first, last = words
    stem = last.rstrip("0123456789")
    if stem == last or not stem or not set(stem) <= LOWER:
        return False
    return all(word and set(word) <= LOWER for word in first)


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and text[0] in LOWER | DIGITS and set(text) <= ID_CHARS


def _location_of(field: str, value: Any, kind: str | None) -> str:
    """Check a projects/P/locations/L[/kind/ID] name and return L."""
    if not isinstance(value, str):
        raise _Bad(field, f"expected a resource name string, got {type(value).__name__}")
    parts = value.split("/")
    expected = 4 if kind is None else 6
    ok = len(parts) == expected and parts[0] == "projects" and parts[2] == "locations"
    ok = ok and _is_project(parts[1]) and _is_location(parts[3])
    if ok and kind is not None:
        ok = parts[4] == kind
        resource, at, version = parts[5].partition("@")
        if kind != "models" and at:
            ok = False
        ok = ok and _is_id(resource) and (not at or _is_id(version))
    if not ok:
        raise _Bad(field, f"{value!r} does not have the form projects/PROJECT/locations/LOCATION"
                          + ("" if kind is None else f"/{kind}/ID"))
    return parts[3]


def _check_gcs(field: str, value: Any) -> None:
    ok = isinstance(value, str) and value.startswith("gs://")
    if ok:
        bucket, _, path = value[5:].partition("/")
        ok = (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS
              and bucket[0] in LOWER | DIGITS and bucket[-1] in LOWER | DIGITS
              and "\n" not in path and "\r" not in path)
    if not ok:
        raise _Bad(field, f"{value!r} is not a Cloud Storage URI gs://BUCKET/PATH")


def _check_display_name(value: Any) -> None:
    if not isinstance(value, str) or len(value) == 0 or len(value) > 128 or not value.strip():
        raise _Bad("display_name", f"{value!r} must be 1 to 128 characters and not blank")


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _whole(field: str, value: Any, minimum: int | None = None) -> int:
    if type(value) is not int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise _Bad(field, f"{value!r} is not a whole number (int)")
    if minimum is not None and value < minimum:
        raise _Bad(field, f"{value} is below {minimum}")
    if value > _FIELD_MAX.get(field, value):
        raise _Bad(field, f"{value} is more than the API field holds")
    return value


def _strings(field: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _Bad(field, f"expected a list of strings, got {type(value).__name__}")
    if not all(isinstance(item, str) for item in value):
        raise _Bad(field, "every item must be a string")
    return tuple(value)


def _is_module(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    return all(part and part[0] in IDENT_START and set(part) <= IDENT_CHARS for part in text.split("."))


def _machine_kind(machine_type: str) -> str | None:
    """'fixed', 'n1', 'cpu' or None for a machine not in the allowlist."""
    if machine_type in FIXED_GPU_MACHINES:
        return "fixed"
    family, _, rest = machine_type.partition("-")
    shape, _, size = rest.partition("-")
    if shape not in ("standard", "highmem", "highcpu") or not _is_digits(size) or size[0] == "0":
        return None
    if family == "n1":
        return "n1"
    if family in ("e2", "n2", "n2d", "c2"):
        return "cpu"
    return None


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if isinstance(accelerator_type, Accelerator):
        gpu = accelerator_type
    elif accelerator_type is None:
        gpu = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    elif isinstance(accelerator_type, str) and accelerator_type in Accelerator.__members__:
        gpu = Accelerator.__members__[accelerator_type]
    else:
        raise _Bad("accelerator_type", f"unknown accelerator {accelerator_type!r}")
    count = _whole("accelerator_count", accelerator_count)
    kind = _machine_kind(machine_type) if isinstance(machine_type, str) else None
    if kind is None:
        raise _Bad("machine_type", f"{machine_type!r} is not a known machine type")
    has_gpu = gpu != Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if kind == "fixed":
        wanted, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != wanted:
            raise _Bad("accelerator_type", f"{machine_type} needs {wanted.name}")
        counts = {n}
    elif kind == "n1" and has_gpu:
        if gpu not in N1_GPU_COUNTS:
            raise _Bad("accelerator_type", f"{gpu.name} cannot be attached to {machine_type}")
        counts = set(N1_GPU_COUNTS[gpu])
    elif has_gpu:
        raise _Bad("accelerator_type", f"{machine_type} takes no accelerator")
    else:
        counts = {0}
    if count not in counts:
        raise _Bad("accelerator_count", f"{count} is not one of {sorted(counts)}")
    return aiplatform_v1.MachineSpec({"machine_type": machine_type, "accelerator_type": gpu,
                                      "accelerator_count": count})


def _task_fields(image_uri: Any, command: Sequence[str], args: Sequence[str],
                 package_uris: Sequence[str], python_module: Any) -> dict[str, Any]:
    if not isinstance(image_uri, str) or image_uri == "":
        raise _Bad("image_uri", "an image URI is required")
    if not package_uris and python_module is None:
        return {"container_spec": {"image_uri": image_uri, "command": list(command), "args": list(args)}}
    if python_module is None:
        raise _Bad("python_module", "package_uris were given without python_module")
    if not package_uris:
        raise _Bad("package_uris", "python_module was given without package_uris")
    if command:
        raise _Bad("command", "a Python package job takes no command")
    if not _is_module(python_module):
        raise _Bad("python_module", f"{python_module!r} is not a dotted module name")
    for uri in package_uris:
        _check_gcs("package_uris", uri)
    return {"python_package_spec": {"executor_image_uri": image_uri, "package_uris": list(package_uris),
                                    "python_module": python_module, "args": list(args)}}


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
    _location_of("parent", parent, None)
    _check_display_name(display_name)
    command, args, package_uris = (_strings(f, v) for f, v in
                                   (("command", command), ("args", args), ("package_uris", package_uris)))
    _whole("replica_count", replica_count, 1)
    task = _task_fields(image_uri, command, args, package_uris, python_module)
    job_spec: dict[str, Any] = {
        "worker_pool_specs": [{
            "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                         accelerator_count=accelerator_count),
            "replica_count": replica_count,
            **task,
        }],
    }
    if base_output_directory is not None:
        _check_gcs("base_output_directory", base_output_directory)
        job_spec["base_output_directory"] = {"output_uri_prefix": base_output_directory}
    return aiplatform_v1.CreateCustomJobRequest({
        "parent": parent,
        "custom_job": {"display_name": display_name, "job_spec": job_spec},
    })


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
    where = _location_of("endpoint", endpoint, "endpoints")
    if _location_of("model", model, "models") != where:
        raise _Bad("model", f"the model must be in the endpoint's location {where}")
    _check_display_name(display_name)
    _whole("min_replica_count", min_replica_count, 1)
    _whole("max_replica_count", max_replica_count, min_replica_count)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise _Bad("traffic_split", "must be a non-empty mapping of deployed model IDs to percentages")
    bad_keys = [k for k in traffic_split if not (isinstance(k, str) and len(k) <= 10 and _is_digits(k))]
    bad_values = [v for v in traffic_split.values()
                  if not (type(v) is int or (isinstance(v, int) and not isinstance(v, bool))) or not 0 <= v <= 100]
    if bad_keys or bad_values:
        raise _Bad("traffic_split", f"bad keys {bad_keys} or percentages {bad_values}")
    if sum(traffic_split.values()) != 100:
        raise _Bad("traffic_split", f"percentages add up to {sum(traffic_split.values())}, not 100")
    return aiplatform_v1.DeployModelRequest({
        "endpoint": endpoint,
        "deployed_model": {
            "model": model,
            "display_name": display_name,
            "dedicated_resources": {
                "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                             accelerator_count=accelerator_count),
                "min_replica_count": min_replica_count,
                "max_replica_count": max_replica_count,
            },
        },
        "traffic_split": dict(traffic_split),
    })


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping of CustomJobSpec fields, got {config!r}")
    pools = config.get("workerPoolSpecs")
    data = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else {**config}
    try:
        spec = aiplatform_v1.CustomJobSpec.wrap(json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()()))
    except Exception as exc:  # ParseError, and whatever an odd YAML value provokes
        raise ValueError(f"invalid gcloud config: {exc}") from exc
    plain = json_format.MessageToDict(spec._pb, preserving_proto_field_name=True)
    if not plain.get("worker_pool_specs"):
        raise _Bad("worker_pool_specs", "no worker pools")
    for pool in plain["worker_pool_specs"]:
        machine = pool.get("machine_spec", {})
        machine_spec(machine_type=machine.get("machine_type", ""),
                     accelerator_type=machine.get("accelerator_type"),
                     accelerator_count=machine.get("accelerator_count", 0))
        _whole("replica_count", int(pool.get("replica_count", 0)), 1)
        if "python_package_spec" in pool:
            package = pool["python_package_spec"]
            _task_fields(package.get("executor_image_uri", ""), (), (), tuple(package.get("package_uris", ())),
                         package.get("python_module", ""))
        else:
            _task_fields(pool.get("container_spec", {}).get("image_uri", ""), (), (), (), None)
    if "base_output_directory" in plain or "base_output_directory" in spec:
        _check_gcs("base_output_directory", plain.get("base_output_directory", {}).get("output_uri_prefix", ""))
    return spec
