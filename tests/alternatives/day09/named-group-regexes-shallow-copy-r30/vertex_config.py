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
PARENT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}", re.ASCII)
MODEL_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}", re.ASCII)

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(field: str, value: Any, *, low: int, high: int) -> int:
    if not _is_int(value):
        raise ValueError(f"{field}: must be a whole number (int), got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{field}: {value} is outside {low}..{high}")
    return value


def _accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        acc = value
    elif isinstance(value, str):
        try:
            acc = Accelerator[value]
        except KeyError:
            raise ValueError(f"accelerator_type: unknown accelerator {value!r}") from None
    else:
        raise ValueError(f"accelerator_type: expected an AcceleratorType name or member, got {value!r}")
    return None if acc == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else acc


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type: expected a string, got {machine_type!r}")
    acc = _accelerator(accelerator_type)
    if not _is_int(accelerator_count):
        raise ValueError(f"accelerator_count: must be an int, got {accelerator_count!r}")
    if acc is None and accelerator_count != 0:
        raise ValueError("accelerator_count: must be 0 without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if acc != gpu:
            raise ValueError(f"accelerator_type: {machine_type} comes with {gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type) and machine_type.isascii():
        if acc is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if acc not in N1_GPU_COUNTS:
            raise ValueError(f"accelerator_type: {acc.name} does not attach to {machine_type}")
        allowed = N1_GPU_COUNTS[acc]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type) and machine_type.isascii():
        if acc is not None:
            raise ValueError(f"accelerator_type: {machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        raise ValueError(f"machine_type: {machine_type!r} is not a known machine type")
    if accelerator_count not in allowed:
        raise ValueError(f"accelerator_count: {machine_type} with {acc.name} takes {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=acc,
                                     accelerator_count=accelerator_count)


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        raise ValueError(f"display_name: must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or not GCS_RE.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _str_list(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{field}: expected a list of strings, got {value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{field}: every item must be a string, got {item!r}")
    return items


def _parent(value: Any) -> str:
    if not isinstance(value, str) or not PARENT_RE.fullmatch(value):
        raise ValueError(f"parent: {value!r} is not projects/PROJECT/locations/LOCATION")
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"image_uri: an image is required, got {value!r}")
    return value


def _module(value: Any) -> str:
    if not isinstance(value, str) or not MODULE_RE.fullmatch(value):
        raise ValueError(f"python_module: {value!r} is not a dotted module name")
    return value


def _check_package(package_uris: list[str], python_module: Any) -> None:
    if not package_uris:
        raise ValueError("package_uris: a Python package job needs at least one package")
    if python_module is None:
        raise ValueError("python_module: a Python package job needs its module")
    _module(python_module)
    for uri in package_uris:
        _gcs("package_uris", uri)


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
    _parent(parent)
    _display_name(display_name)
    command = _str_list("command", command)
    args = _str_list("args", args)
    package_uris = _str_list("package_uris", package_uris)
    _count("replica_count", replica_count, low=1, high=INT64_MAX)
    _image(image_uri)
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if package_uris or python_module is not None:
        _check_package(package_uris, python_module)
        if command:
            raise ValueError("command: a Python package job takes no command")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replica_count, **task)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _check_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping) or not split:
        raise ValueError(f"traffic_split: expected a non-empty mapping, got {split!r}")
    out = {}
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY_RE.fullmatch(key):
            raise ValueError(f"traffic_split: key {key!r} is not a deployed model ID of 1 to 10 digits")
        if not _is_int(pct) or not 0 <= pct <= 100:
            raise ValueError(f"traffic_split: {key}: {pct!r} is not a whole percentage from 0 to 100")
        out[key] = pct
    total = sum(out.values())
    if total != 100:
        raise ValueError(f"traffic_split: percentages add up to {total}, not 100")
    return out


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
    ep = ENDPOINT_RE.fullmatch(endpoint) if isinstance(endpoint, str) else None
    if ep is None:
        raise ValueError(f"endpoint: {endpoint!r} is not projects/P/locations/L/endpoints/ID")
    mo = MODEL_RE.fullmatch(model) if isinstance(model, str) else None
    if mo is None:
        raise ValueError(f"model: {model!r} is not projects/P/locations/L/models/ID[@VERSION]")
    if ep["location"] != mo["location"]:
        raise ValueError(f"model: in {mo['location']}, but the endpoint is in {ep['location']}")
    _display_name(display_name)
    _count("min_replica_count", min_replica_count, low=1, high=INT32_MAX)
    _count("max_replica_count", max_replica_count, low=min_replica_count, high=INT32_MAX)
    split = _check_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    resources = aiplatform_v1.DedicatedResources(machine_spec=machine, min_replica_count=min_replica_count,
                                                 max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                           dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: expected a mapping, got {type(config).__name__}")
    data = dict(config)
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [dict(pools)]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        raise ValueError("worker_pool_specs: the job needs at least one worker pool")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool:
            raise ValueError("machine_type: a worker pool needs a machineSpec")
        m = pool.machine_spec
        machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                     accelerator_count=m.accelerator_count)
        _count("replica_count", pool.replica_count, low=1, high=INT64_MAX)
        if "python_package_spec" in pool:
            pkg = pool.python_package_spec
            _image(pkg.executor_image_uri)
            _check_package(list(pkg.package_uris), pkg.python_module)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            raise ValueError("image_uri: the pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
