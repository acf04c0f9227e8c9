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

PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT_RE = re.compile(rf"projects/{PROJECT}/locations/{LOCATION}")
ENDPOINT_RE = re.compile(rf"projects/{PROJECT}/locations/{LOCATION}/endpoints/{ID}")
MODEL_RE = re.compile(rf"projects/{PROJECT}/locations/{LOCATION}/models/{ID}(?:@{ID})?")
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.DOTALL)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}")

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _count(field: str, value: Any, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: must be an int, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{field}: {value} is outside {minimum}..{maximum}")
    return int(value)


def _accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        gpu = value
    elif isinstance(value, str):
        try:
            gpu = Accelerator[value]
        except KeyError:
            raise ValueError(f"accelerator_type: unknown accelerator {value!r}") from None
    else:
        raise ValueError(f"accelerator_type: expected an AcceleratorType name or member, got {value!r}")
    return None if gpu == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else gpu


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    gpu = _accelerator(accelerator_type)
    if not isinstance(accelerator_count, int) or isinstance(accelerator_count, bool):
        raise ValueError(f"accelerator_count: must be an int, got {accelerator_count!r}")
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type: must be a string, got {machine_type!r}")
    if gpu is None and accelerator_count != 0:
        raise ValueError("accelerator_count: must be 0 without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        fixed_gpu, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != fixed_gpu:
            raise ValueError(f"accelerator_type: {machine_type} needs {fixed_gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if gpu is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if gpu not in N1_GPU_COUNTS:
            raise ValueError(f"accelerator_type: {gpu.name} does not attach to {machine_type}")
        allowed = N1_GPU_COUNTS[gpu]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if gpu is not None:
            raise ValueError(f"accelerator_type: {machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        raise ValueError(f"machine_type: {machine_type!r} is not a known machine type")
    if accelerator_count not in allowed:
        raise ValueError(f"accelerator_count: {accelerator_count} not in {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=gpu,
                                     accelerator_count=accelerator_count)


def _name(field: str, value: Any, pattern: re.Pattern[str]) -> re.Match[str]:
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be a string, got {value!r}")
    match = pattern.fullmatch(value)
    if match is None:
        raise ValueError(f"{field}: {value!r} is malformed")
    return match


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or value.isspace():
        raise ValueError(f"display_name: must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or not GCS_RE.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not a gs:// URI")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{field}: must be a list of strings, got {value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{field}: item {item!r} is not a string")
    return items


def _module(value: Any) -> str:
    if not isinstance(value, str) or not MODULE_RE.fullmatch(value):
        raise ValueError(f"python_module: {value!r} is not a dotted module name")
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("image_uri: an image is required")
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
    _name("parent", parent, PARENT_RE)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    replica_count = _count("replica_count", replica_count, minimum=1, maximum=INT64_MAX)
    _image(image_uri)
    package_job = bool(package_uris) or python_module is not None
    if package_job:
        if not package_uris:
            raise ValueError("package_uris: a python_module needs package_uris")
        if python_module is None:
            raise ValueError("python_module: package_uris need a python_module")
        _module(python_module)
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            raise ValueError("command: a Python package job takes no command")
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)

    if package_job:
        pool = aiplatform_v1.WorkerPoolSpec(
            machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                      accelerator_count=accelerator_count),
            replica_count=replica_count,
            python_package_spec=aiplatform_v1.PythonPackageSpec(
                executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module,
                args=args))
    else:
        pool = aiplatform_v1.WorkerPoolSpec(
            machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                      accelerator_count=accelerator_count),
            replica_count=replica_count,
            container_spec=aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args))
    job_spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        job_spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=job_spec))


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        raise ValueError("traffic_split: must be a mapping of deployed-model IDs to percentages")
    if not split:
        raise ValueError("traffic_split: must not be empty")
    result: dict[str, int] = {}
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY_RE.fullmatch(key):
            raise ValueError(f"traffic_split: key {key!r} is not a deployed-model ID")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            raise ValueError(f"traffic_split: {key}: {pct!r} is not a whole percentage")
        result[key] = pct
    total = sum(result.values())
    if total != 100:
        raise ValueError(f"traffic_split: percentages add up to {total}, not 100")
    return result


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
    endpoint_match = _name("endpoint", endpoint, ENDPOINT_RE)
    model_match = _name("model", model, MODEL_RE)
    if endpoint_match["location"] != model_match["location"]:
        raise ValueError("model: the model must be in the endpoint's location")
    _display_name(display_name)
    low = _count("min_replica_count", min_replica_count, minimum=1, maximum=INT32_MAX)
    high = _count("max_replica_count", max_replica_count, minimum=1, maximum=INT32_MAX)
    if high < low:
        raise ValueError("max_replica_count: below min_replica_count")
    split = _traffic_split(traffic_split)
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    resources = aiplatform_v1.DedicatedResources(machine_spec=spec, min_replica_count=low,
                                                 max_replica_count=high)
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
    except (json_format.ParseError, TypeError, AttributeError) as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        raise ValueError("worker_pool_specs: the config has no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _count("replica_count", pool.replica_count, minimum=1, maximum=INT64_MAX)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            uris = list(package.package_uris)
            if not uris:
                raise ValueError("package_uris: a Python package pool needs package_uris")
            for uri in uris:
                _gcs("package_uris", uri)
            _module(package.python_module)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            raise ValueError("image_uri: the pool has neither a container nor a Python package")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
