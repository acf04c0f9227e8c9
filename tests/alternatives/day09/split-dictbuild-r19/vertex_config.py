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



_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
_PARENT = rf"projects/{_PROJECT}/locations/{_LOCATION}"
PARENT_RE = re.compile(_PARENT, re.ASCII)
ENDPOINT_RE = re.compile(rf"{_PARENT}/endpoints/{_ID}", re.ASCII)
MODEL_RE = re.compile(rf"{_PARENT}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}", re.ASCII)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _count(value, field, minimum, maximum):
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field}: must be an int, got {value!r}")
    if value < minimum or value > maximum:
        raise ValueError(f"{field}: must be between {minimum} and {maximum}, got {value}")
    return value


import string as _string

_LOWER_DIGIT = set(_string.ascii_lowercase + _string.digits)


def _is_project(p):
    if p and all(c in _string.digits for c in p):
        return True
    return (6 <= len(p) <= 30 and p[0] in _string.ascii_lowercase and p[-1] != "-"
            and all(c in _LOWER_DIGIT or c == "-" for c in p))


def _is_location(loc):
    words = loc.split("-")
    if len(words) < 2 or any(not w for w in words):
        return False
    last = words[-1]
    head = last.rstrip(_string.digits)
    if head == last or not head:
        return False
    return all(c in _string.ascii_lowercase for w in words[:-1] for c in w) and all(
        c in _string.ascii_lowercase for c in head) and all(c in _string.digits for c in last[len(head):])


def _is_id(i):
    return 1 <= len(i) <= 63 and i[0] in _LOWER_DIGIT and all(c in _LOWER_DIGIT or c in "_-" for c in i)


class _Parsed(dict):
    pass


def _name(value, pattern, field):
    kind = {PARENT_RE: None, ENDPOINT_RE: "endpoints", MODEL_RE: "models"}[pattern]
    ok = isinstance(value, str)
    parts = value.split("/") if ok else []
    expected = 4 if kind is None else 6
    ok = ok and len(parts) == expected and parts[0] == "projects" and parts[2] == "locations"
    ok = ok and _is_project(parts[1]) and _is_location(parts[3])
    if ok and kind is not None:
        ok = parts[4] == kind
        last = parts[5]
        if ok and kind == "models" and "@" in last:
            last, _, version = last.partition("@")
            ok = _is_id(version)
        ok = ok and _is_id(last)
    if not ok:
        raise ValueError(f"{field}: {value!r} is not a valid resource name")
    return _Parsed(location=parts[3])


def _display_name(value):
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        raise ValueError(f"display_name: must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _gcs(value, field):
    if not isinstance(value, str) or not GCS_RE.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not a gs:// URI")
    return value


def _str_list(value, field):
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{field}: must be a list of strings, got {value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{field}: every item must be a string, got {item!r}")
    return items


def _accelerator(value):
    if value is None:
        return None
    if isinstance(value, str):
        acc = Accelerator.__members__.get(value)
        if acc is None:
            raise ValueError(f"accelerator_type: unknown accelerator {value!r}")
    elif isinstance(value, Accelerator):
        acc = value
    else:
        raise ValueError(f"accelerator_type: must be a name or an AcceleratorType, got {value!r}")
    return None if acc == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else acc


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type: must be a string, got {machine_type!r}")
    acc = _accelerator(accelerator_type)
    if not isinstance(accelerator_count, int) or isinstance(accelerator_count, bool):
        raise ValueError(f"accelerator_count: must be an int, got {accelerator_count!r}")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if acc != gpu:
            raise ValueError(f"accelerator_type: {machine_type} comes with {gpu.name}")
        allowed = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if acc is None:
            allowed = (0,)
        elif acc not in N1_GPU_COUNTS:
            raise ValueError(f"accelerator_type: {acc.name} does not fit {machine_type}")
        else:
            allowed = N1_GPU_COUNTS[acc]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if acc is not None:
            raise ValueError(f"accelerator_type: {machine_type} takes no accelerator")
        allowed = (0,)
    else:
        raise ValueError(f"machine_type: {machine_type!r} is not a known machine type")
    if accelerator_count not in allowed:
        raise ValueError(f"accelerator_count: {accelerator_count} not allowed, expected one of {allowed}")
    if acc is None:
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=acc,
                                     accelerator_count=accelerator_count)


def _check_package(package_uris, python_module, command):
    if python_module is not None and not isinstance(python_module, str):
        raise ValueError(f"python_module: must be a string, got {python_module!r}")
    if package_uris and python_module is None:
        raise ValueError("python_module: a package job needs its module")
    if python_module is not None and not package_uris:
        raise ValueError("package_uris: a module needs a package")
    if not MODULE_RE.fullmatch(python_module):
        raise ValueError(f"python_module: {python_module!r} is not a dotted module name")
    for uri in package_uris:
        _gcs(uri, "package_uris")
    if command:
        raise ValueError("command: a Python package job takes no command")


def _image(value):
    if not isinstance(value, str) or not value:
        raise ValueError(f"image_uri: an image is required, got {value!r}")
    return value


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
    _name(parent, PARENT_RE, "parent")
    _display_name(display_name)
    command = _str_list(command, "command")
    args = _str_list(args, "args")
    package_uris = _str_list(package_uris, "package_uris")
    _count(replica_count, "replica_count", 1, INT64_MAX)
    _image(image_uri)
    if base_output_directory is not None:
        _gcs(base_output_directory, "base_output_directory")
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    pool = {"machineSpec": json_format.MessageToDict(aiplatform_v1.MachineSpec.pb(spec)),
            "replicaCount": str(replica_count)}
    if package_uris or python_module is not None:
        _check_package(package_uris, python_module, command)
        pool["pythonPackageSpec"] = {"executorImageUri": image_uri, "packageUris": package_uris,
                                     "pythonModule": python_module, "args": args}
    else:
        pool["containerSpec"] = {"imageUri": image_uri, "command": command, "args": args}
    body = {"parent": parent, "customJob": {"displayName": display_name,
                                             "jobSpec": {"workerPoolSpecs": [pool]}}}
    if base_output_directory is not None:
        body["customJob"]["jobSpec"]["baseOutputDirectory"] = {"outputUriPrefix": base_output_directory}
    message = json_format.ParseDict(body, aiplatform_v1.CreateCustomJobRequest.pb()())
    return aiplatform_v1.CreateCustomJobRequest.wrap(message)


def _traffic_split(split):
    if not isinstance(split, Mapping) or not split:
        raise ValueError(f"traffic_split: must be a non-empty mapping, got {split!r}")
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY_RE.fullmatch(key):
            raise ValueError(f"traffic_split: key {key!r} is not a deployed model ID")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            raise ValueError(f"traffic_split: {pct!r} is not a whole percentage")
    total = sum(split.values())
    if total != 100:
        raise ValueError(f"traffic_split: percentages add up to {total}, not 100")
    return dict(split)


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
    ep = _name(endpoint, ENDPOINT_RE, "endpoint")
    mo = _name(model, MODEL_RE, "model")
    if ep["location"] != mo["location"]:
        raise ValueError(f"model: in {mo['location']}, the endpoint is in {ep['location']}")
    _display_name(display_name)
    _count(min_replica_count, "min_replica_count", 1, INT32_MAX)
    _count(max_replica_count, "max_replica_count", 1, INT32_MAX)
    if max_replica_count < min_replica_count:
        raise ValueError("max_replica_count: below min_replica_count")
    split = _traffic_split(traffic_split)
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model, display_name=display_name,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=spec, min_replica_count=min_replica_count,
                max_replica_count=max_replica_count)),
        traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config: must be a mapping, got {type(config).__name__}")
    data = dict(config)
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [dict(pools)]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        raise ValueError("worker_pool_specs: the config has no worker pools")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool or not pool.machine_spec.machine_type:
            raise ValueError("machine_type: a worker pool has no machine")
        m = pool.machine_spec
        machine_spec(machine_type=m.machine_type, accelerator_type=Accelerator(m.accelerator_type),
                     accelerator_count=m.accelerator_count)
        _count(pool.replica_count, "replica_count", 1, INT64_MAX)
        if "python_package_spec" in pool:
            p = pool.python_package_spec
            _image(p.executor_image_uri)
            _check_package(list(p.package_uris), p.python_module, [])
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            raise ValueError("image_uri: a worker pool has neither a container nor a package")
    if "base_output_directory" in spec:
        _gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
