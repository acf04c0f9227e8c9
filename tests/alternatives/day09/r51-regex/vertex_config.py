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

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
_PARENT = rf"projects/{_PROJECT}/locations/{_LOCATION}"
PARENT_RE = re.compile(_PARENT)
ENDPOINT_RE = re.compile(rf"{_PARENT}/endpoints/{_ID}")
MODEL_RE = re.compile(rf"{_PARENT}/models/{_ID}(?:@{_ID})?")
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?")
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}")


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _check_int(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(field, f"must be an int, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        _fail(field, f"must be between {low} and {high}, got {value}")
    return value


def _check_name(value: Any, pattern: re.Pattern, field: str) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {type(value).__name__}")
    match = pattern.fullmatch(value)
    if match is None:
        _fail(field, f"{value!r} is not a valid resource name")
    return match


def _check_gcs(value: Any, field: str) -> str:
    if not isinstance(value, str) or GCS_RE.fullmatch(value) is None:
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _check_display_name(value: Any) -> str:
    if not isinstance(value, str):
        _fail("display_name", f"must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 128:
        _fail("display_name", f"must be 1 to 128 characters, got {len(value)}")
    if value.isspace():
        _fail("display_name", "must not be only whitespace")
    return value


def _check_str_list(value: Any, field: str) -> list[str]:
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"every item must be a string, got {item!r}")
    return items


def _check_module(value: Any) -> str:
    if not isinstance(value, str) or MODULE_RE.fullmatch(value) is None:
        _fail("python_module", f"{value!r} is not a dotted Python module name")
    return value


def _check_image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        _fail("image_uri", f"must be a non-empty string, got {value!r}")
    return value


def _accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        member = value
    elif isinstance(value, str):
        try:
            member = Accelerator[value]
        except KeyError:
            _fail("accelerator_type", f"unknown accelerator {value!r}")
    else:
        _fail("accelerator_type", f"must be an AcceleratorType name or member, got {value!r}")
    return None if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    _check_int(accelerator_count, "accelerator_count", -(2**31), INT32_MAX)
    gpu = _accelerator(accelerator_type)
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {type(machine_type).__name__}")
    if gpu is None and accelerator_count != 0:
        _fail("accelerator_count", f"{accelerator_count} without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        fixed_gpu, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != fixed_gpu:
            _fail("accelerator_type", f"{machine_type} comes with {fixed_gpu.name}, got {gpu and gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if gpu is None:
            allowed = (0,)
        elif gpu not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{gpu.name} does not attach to {machine_type}")
        else:
            allowed = N1_GPU_COUNTS[gpu]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if gpu is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        allowed = (0,)
    else:
        _fail("machine_type", f"{machine_type!r} is not in the table")
    if accelerator_count not in allowed:
        _fail("accelerator_count", f"{accelerator_count} not in {allowed}")
    return aiplatform_v1.MachineSpec(
        machine_type=machine_type,
        accelerator_type=gpu or Accelerator.ACCELERATOR_TYPE_UNSPECIFIED,
        accelerator_count=accelerator_count,
    )


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
    _check_name(parent, PARENT_RE, "parent")
    _check_display_name(display_name)
    command = _check_str_list(command, "command")
    args = _check_str_list(args, "args")
    package_uris = _check_str_list(package_uris, "package_uris")
    _check_image(image_uri)
    is_package = bool(package_uris) or python_module is not None
    if is_package:
        if python_module is None:
            _fail("python_module", "package_uris need a python_module")
        _check_module(python_module)
        if not package_uris:
            _fail("package_uris", "python_module needs package_uris")
        for uri in package_uris:
            _check_gcs(uri, "package_uris")
        if command:
            _fail("command", "a Python package job takes no command")
    _check_int(replica_count, "replica_count", 1, INT64_MAX)
    if base_output_directory is not None:
        _check_gcs(base_output_directory, "base_output_directory")
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    if is_package:
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=spec, replica_count=replica_count, **task)
    job_spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        job_spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent,
        custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=job_spec),
    )


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
    endpoint_match = _check_name(endpoint, ENDPOINT_RE, "endpoint")
    model_match = _check_name(model, MODEL_RE, "model")
    if endpoint_match["location"] != model_match["location"]:
        _fail("model", f"model is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _check_display_name(display_name)
    _check_int(min_replica_count, "min_replica_count", 1, INT32_MAX)
    _check_int(max_replica_count, "max_replica_count", min_replica_count, INT32_MAX)
    if not isinstance(traffic_split, Mapping):
        _fail("traffic_split", "must be a mapping of deployed-model IDs to percentages")
    split = dict(traffic_split)
    if not split:
        _fail("traffic_split", "must not be empty")
    for key, pct in split.items():
        if not isinstance(key, str) or SPLIT_KEY_RE.fullmatch(key) is None:
            _fail("traffic_split", f"key {key!r} is not a deployed-model ID of 1 to 10 digits")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            _fail("traffic_split", f"percentage {pct!r} for {key!r} is not a whole number from 0 to 100")
    total = sum(split.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model,
            display_name=display_name,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=spec, min_replica_count=min_replica_count, max_replica_count=max_replica_count),
        ),
        traffic_split=split,
    )


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: a gcloud config must be a mapping, got {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "the config has no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _check_int(pool.replica_count, "replica_count", 1, INT64_MAX)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _check_image(package.executor_image_uri)
            if not package.package_uris:
                _fail("package_uris", "a Python package pool needs package_uris")
            for uri in package.package_uris:
                _check_gcs(uri, "package_uris")
            _check_module(package.python_module)
        elif "container_spec" in pool:
            _check_image(pool.container_spec.image_uri)
        else:
            _fail("image_uri", "the pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _check_gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
