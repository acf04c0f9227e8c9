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
import string
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


_LOWER = set(string.ascii_lowercase)
_DIGITS = set(string.digits)
_LOWER_DIGITS = _LOWER | _DIGITS


class Invalid(ValueError):
    """A rejected input; the message starts with the field at fault."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")


# --- Small predicates on plain strings (no regular expressions) ---------------------------

def _is_number(text: str) -> bool:
    return bool(text) and set(text) <= _DIGITS


def _is_project(text: str) -> bool:
    if _is_number(text):
        return True
    return (6 <= len(text) <= 30 and text[0] in _LOWER and text[-1] != "-"
            and set(text) <= _LOWER_DIGITS | {"-"})


def _is_location(text: str) -> bool:
    words = text.split("-")
    if len(words) < 2 and not words[0]:
        return False
    last = words[-1]
    stem = last.rstrip(string.digits)
    if stem == last or not stem:
        return False  # must end in digits, after at least one letter
    return all(w and set(w) <= _LOWER for w in [*words[:-1], stem])


def _is_id(text: str) -> bool:
    return (1 <= len(text) <= 63 and text[0] in _LOWER_DIGITS
            and set(text) <= _LOWER_DIGITS | {"_", "-"})


def _is_bucket(text: str) -> bool:
    return (3 <= len(text) <= 63 and text[0] in _LOWER_DIGITS and text[-1] in _LOWER_DIGITS
            and set(text) <= _LOWER_DIGITS | {".", "_", "-"})


def _is_gcs(text: Any) -> bool:
    if not isinstance(text, str) or not text.startswith("gs://") or "\n" in text:
        return False
    bucket, _, _ = text[len("gs://"):].partition("/")
    return _is_bucket(bucket)


def _is_module(text: Any) -> bool:
    return (isinstance(text, str) and text.isascii()
            and all(part.isidentifier() for part in text.split(".")))


def _location_of(field: str, name: Any, collection: str | None, versioned: bool = False) -> str:
    """Check `projects/P/locations/L[/collection/ID[@V]]` and return L."""
    if not isinstance(name, str):
        raise Invalid(field, f"must be a resource name string, got {type(name).__name__}")
    parts = name.split("/")
    expected = 4 if collection is None else 6
    ok = (len(parts) == expected and parts[0] == "projects" and _is_project(parts[1])
          and parts[2] == "locations" and _is_location(parts[3]))
    if ok and collection is not None:
        resource_id, at, version = parts[5].partition("@")
        ok = (parts[4] == collection and _is_id(resource_id)
              and (not at or (versioned and _is_id(version))))
    if not ok:
        form = "projects/PROJECT/locations/LOCATION" + (f"/{collection}/ID" if collection else "")
        raise Invalid(field, f"{name!r} is not of the form {form}")
    return parts[3]


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _whole(field: str, value: Any, at_least: int | None = None) -> int:
    if type(value) is not int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise Invalid(field, f"must be a whole number (int), got {value!r}")
    if at_least is not None and value < at_least:
        raise Invalid(field, f"must be at least {at_least}, got {value}")
    if value > _FIELD_MAX.get(field, value):
        raise Invalid(field, f"{value} is more than the API field holds")
    return value


def _text_list(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise Invalid(field, "must be a list of strings, one item per argument")
    if not all(isinstance(item, str) for item in value):
        raise Invalid(field, "every item must be a string")
    return [*value]


def _check_display_name(name: Any) -> None:
    if not isinstance(name, str) or len(name) == 0 or len(name) > 128 or not name.strip():
        raise Invalid("display_name", "must be 1 to 128 characters and not only whitespace")


def _check_image(uri: Any) -> None:
    if not isinstance(uri, str) or uri == "":
        raise Invalid("image_uri", "an image URI is required")


def _check_package(package_uris: list[str], python_module: Any) -> None:
    if not package_uris:
        raise Invalid("package_uris", "a python_module runs from package_uris, none given")
    if python_module is None or python_module == "":
        raise Invalid("python_module", "package_uris need the python_module to run")
    if not _is_module(python_module):
        raise Invalid("python_module", f"{python_module!r} is not a dotted module name")
    bad = [uri for uri in package_uris if not _is_gcs(uri)]
    if bad:
        raise Invalid("package_uris", f"not gs:// URIs: {bad}")


# --- Task 1 ----------------------------------------------------------------------------------

_NO_GPU = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED


def _gpu(value: Any) -> Accelerator:
    """The accelerator as an enum member; UNSPECIFIED stands for none."""
    if value is None:
        return _NO_GPU
    if isinstance(value, Accelerator):
        return value
    if isinstance(value, str) and value in Accelerator.__members__:
        return Accelerator.__members__[value]
    raise Invalid("accelerator_type", f"{value!r} is not an AcceleratorType name")


def _allowed_counts(machine_type: str, gpu: Accelerator) -> set[int]:
    """Which accelerator counts the table allows for this machine and GPU."""
    fixed = FIXED_GPU_MACHINES.get(machine_type)
    if fixed is not None:
        if gpu != fixed[0]:
            raise Invalid("accelerator_type", f"{machine_type} needs {fixed[0].name}, not {gpu.name}")
        return {fixed[1]}
    if N1_MACHINE.fullmatch(machine_type):
        if gpu == _NO_GPU:
            return {0}
        if gpu not in N1_GPU_COUNTS:
            raise Invalid("accelerator_type", f"{gpu.name} does not attach to {machine_type}")
        return set(N1_GPU_COUNTS[gpu])
    if CPU_ONLY_MACHINE.fullmatch(machine_type):
        if gpu != _NO_GPU:
            raise Invalid("accelerator_type", f"{machine_type} takes no accelerator")
        return {0}
    raise Invalid("machine_type", f"{machine_type!r} is not in the machine table")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    gpu = _gpu(accelerator_type)
    _whole("accelerator_count", accelerator_count)
    if not isinstance(machine_type, str):
        raise Invalid("machine_type", "must be a string")
    if gpu == _NO_GPU and accelerator_count != 0:
        raise Invalid("accelerator_count", "no accelerator, so the count must be 0")
    allowed = _allowed_counts(machine_type, gpu)
    if accelerator_count not in allowed:
        raise Invalid("accelerator_count", f"{accelerator_count} not in {sorted(allowed)}")
    body = {"machineType": machine_type}
    if gpu != _NO_GPU:
        body.update(acceleratorType=gpu.name, acceleratorCount=accelerator_count)
    return aiplatform_v1.MachineSpec.wrap(json_format.ParseDict(body, aiplatform_v1.MachineSpec.pb()()))


def _machine_json(spec: aiplatform_v1.MachineSpec) -> dict[str, Any]:
    return json_format.MessageToDict(aiplatform_v1.MachineSpec.pb(spec))


# --- Task 2 ----------------------------------------------------------------------------------

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
    lists = {name: _text_list(name, value) for name, value in
             (("command", command), ("args", args), ("package_uris", package_uris))}
    _whole("replica_count", replica_count, at_least=1)
    _check_image(image_uri)
    pool: dict[str, Any] = {}
    if lists["package_uris"] or python_module is not None:
        _check_package(lists["package_uris"], python_module)
        if lists["command"]:
            raise Invalid("command", "a Python package pool runs python -m python_module, it takes no command")
        pool["pythonPackageSpec"] = {"executorImageUri": image_uri, "packageUris": lists["package_uris"],
                                     "pythonModule": python_module, "args": lists["args"]}
    else:
        pool["containerSpec"] = {"imageUri": image_uri, "command": lists["command"], "args": lists["args"]}
    if base_output_directory is not None and not _is_gcs(base_output_directory):
        raise Invalid("base_output_directory", f"{base_output_directory!r} is not a gs:// URI")
    pool["machineSpec"] = _machine_json(machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                                     accelerator_count=accelerator_count))
    pool["replicaCount"] = replica_count
    job_spec: dict[str, Any] = {"workerPoolSpecs": [pool]}
    if base_output_directory is not None:
        job_spec["baseOutputDirectory"] = {"outputUriPrefix": base_output_directory}
    body = {"parent": parent, "customJob": {"displayName": display_name, "jobSpec": job_spec}}
    message = json_format.ParseDict(body, aiplatform_v1.CreateCustomJobRequest.pb()())
    return aiplatform_v1.CreateCustomJobRequest.wrap(message)


# --- Task 3 ----------------------------------------------------------------------------------

def _checked_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        raise Invalid("traffic_split", "must be a mapping of deployed-model IDs to percentages")
    items = list(split.items())
    if not items:
        raise Invalid("traffic_split", "is empty")
    bad_keys = [k for k, _ in items if not (isinstance(k, str) and 1 <= len(k) <= 10 and set(k) <= _DIGITS)]
    if bad_keys:
        raise Invalid("traffic_split", f"keys must be deployed-model IDs of 1 to 10 digits: {bad_keys}")
    bad_values = [v for _, v in items if type(v) is not int or v < 0 or v > 100]
    if bad_values:
        raise Invalid("traffic_split", f"percentages must be ints from 0 to 100: {bad_values}")
    total = sum(v for _, v in items)
    if total != 100:
        raise Invalid("traffic_split", f"percentages add up to {total}, not 100")
    return dict(items)


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
    here = _location_of("endpoint", endpoint, "endpoints")
    there = _location_of("model", model, "models", versioned=True)
    if here != there:
        raise Invalid("model", f"the model is in {there} but the endpoint is in {here}")
    _check_display_name(display_name)
    low = _whole("min_replica_count", min_replica_count, at_least=1)
    _whole("max_replica_count", max_replica_count, at_least=low)
    split = _checked_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    body = {
        "endpoint": endpoint,
        "deployedModel": {
            "model": model,
            "displayName": display_name,
            "dedicatedResources": {"machineSpec": _machine_json(machine),
                                   "minReplicaCount": min_replica_count,
                                   "maxReplicaCount": max_replica_count},
        },
        "trafficSplit": split,
    }
    return aiplatform_v1.DeployModelRequest.wrap(
        json_format.ParseDict(body, aiplatform_v1.DeployModelRequest.pb()()))


# --- Task 4 ----------------------------------------------------------------------------------

def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError("the gcloud config must be a mapping of CustomJobSpec fields")
    pools = config.get("workerPoolSpecs")
    data = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else {**config}
    raw = aiplatform_v1.CustomJobSpec.pb()()
    try:
        json_format.ParseDict(data, raw)
    except json_format.ParseError as exc:
        raise ValueError(f"not a valid CustomJobSpec: {exc}") from exc
    if len(raw.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "at least one worker pool is needed")
    for pool in raw.worker_pool_specs:
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=Accelerator(pool.machine_spec.accelerator_type),
                     accelerator_count=pool.machine_spec.accelerator_count)
        _whole("replica_count", pool.replica_count, at_least=1)
        kind = pool.WhichOneof("task")
        if kind == "python_package_spec":
            package = pool.python_package_spec
            _check_image(package.executor_image_uri)
            _check_package(list(package.package_uris), package.python_module or None)
        elif kind == "container_spec":
            _check_image(pool.container_spec.image_uri)
        else:
            raise Invalid("image_uri", "the pool names no containerSpec and no pythonPackageSpec")
    if raw.HasField("base_output_directory") and not _is_gcs(raw.base_output_directory.output_uri_prefix):
        raise Invalid("base_output_directory", "outputUriPrefix must be a gs:// URI")
    return aiplatform_v1.CustomJobSpec.wrap(raw)
