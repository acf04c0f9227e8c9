"""Vertex AI training jobs and model deployments, built as real requests and checked offline."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

Accelerator = aiplatform_v1.AcceleratorType

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

N1_MACHINE = re.compile(r"n1-(standard|highmem|highcpu)-[1-9][0-9]*")
N1_GPU_COUNTS: dict[Accelerator, tuple[int, ...]] = {
    Accelerator.NVIDIA_TESLA_T4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P100: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_V100: (1, 2, 4, 8),
}

CPU_ONLY_MACHINE = re.compile(r"(e2|n2|n2d|c2)-(standard|highmem|highcpu)-[1-9][0-9]*")

_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}", re.ASCII)
MODEL = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY = re.compile(r"[0-9]{1,10}", re.ASCII)

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _count(value: Any, field: str, *, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field}: must be an int, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{field}: must be at least {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{field}: {value} is too large (at most {high})")
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
    accelerator = _accelerator(accelerator_type)
    count = _count(accelerator_count, "accelerator_count")
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type: expected a string, got {machine_type!r}")
    if accelerator is None and count != 0:
        raise ValueError(f"accelerator_count: {count} given without an accelerator_type")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            raise ValueError(f"accelerator_type: {machine_type} comes with {gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if accelerator not in N1_GPU_COUNTS:
            raise ValueError(f"accelerator_type: {accelerator.name} does not attach to {machine_type}")
        allowed = N1_GPU_COUNTS[accelerator]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            raise ValueError(f"accelerator_type: {machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        raise ValueError(f"machine_type: {machine_type!r} is not a known machine type")
    if count not in allowed:
        raise ValueError(f"accelerator_count: {machine_type} with {accelerator.name} takes {allowed}, not {count}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=accelerator,
                                     accelerator_count=count)


def _name(value: Any, pattern: re.Pattern, field: str) -> re.Match:
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{field}: {value!r} is not a valid resource name")
    return match


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        raise ValueError(f"display_name: must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _gcs(value: Any, field: str) -> str:
    if not isinstance(value, str) or not GCS.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not a gs:// URI")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{field}: must be a list of strings, got {value!r}")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{field}: every item must be a string, got {items!r}")
    return items


def _module(value: Any) -> str:
    if not isinstance(value, str) or not MODULE.fullmatch(value):
        raise ValueError(f"python_module: {value!r} is not a dotted module name")
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
    _name(parent, PARENT, "parent")
    _display_name(display_name)
    command = _strings(command, "command")
    args = _strings(args, "args")
    package_uris = _strings(package_uris, "package_uris")
    replicas = _count(replica_count, "replica_count", low=1, high=INT64_MAX)
    if not isinstance(image_uri, str) or not image_uri:
        raise ValueError("image_uri: an image is required")
    if base_output_directory is not None:
        _gcs(base_output_directory, "base_output_directory")
    package_job = bool(package_uris) or python_module is not None
    if package_job:
        if not package_uris:
            raise ValueError("package_uris: python_module needs at least one package")
        if python_module is None:
            raise ValueError("python_module: package_uris need a python_module to run")
        _module(python_module)
        for uri in package_uris:
            _gcs(uri, "package_uris")
        if command:
            raise ValueError("command: a Python package job takes no command")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    pool = aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replicas, **task)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping) or not split:
        raise ValueError(f"traffic_split: must be a non-empty mapping, got {split!r}")
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key):
            raise ValueError(f"traffic_split: key {key!r} is not a deployed model ID")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            raise ValueError(f"traffic_split: {key} -> {pct!r} is not a whole percentage")
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
    e = _name(endpoint, ENDPOINT, "endpoint")
    m = _name(model, MODEL, "model")
    if e["location"] != m["location"]:
        raise ValueError(f"model: in {m['location']}, but the endpoint is in {e['location']}")
    _display_name(display_name)
    low = _count(min_replica_count, "min_replica_count", low=1, high=INT32_MAX)
    high = _count(max_replica_count, "max_replica_count", low=low, high=INT32_MAX)
    split = _traffic_split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=low, max_replica_count=high)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                                   dedicated_resources=resources),
        traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: expected a mapping, got {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except (json_format.ParseError, TypeError, AttributeError) as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        raise ValueError("worker_pool_specs: the config has no worker pools")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool or not pool.machine_spec.machine_type:
            raise ValueError("machine_type: a worker pool has no machine type")
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        _count(pool.replica_count, "replica_count", low=1)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            if not package.executor_image_uri:
                raise ValueError("image_uri: the package pool has no executor image")
            if not package.package_uris:
                raise ValueError("package_uris: the package pool has no packages")
            for uri in package.package_uris:
                _gcs(uri, "package_uris")
            _module(package.python_module)
        elif "container_spec" in pool:
            if not pool.container_spec.image_uri:
                raise ValueError("image_uri: the container pool has no image")
        else:
            raise ValueError("image_uri: the worker pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
