"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

Style: compiled regular expressions for every name, small check helpers, if/elif for the
machine table, nested constructors for the request objects.
"""

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
ENDPOINT = re.compile(rf"{PARENT.pattern}/endpoints/{_ID}", re.ASCII)
MODEL = re.compile(rf"{PARENT.pattern}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
TRAFFIC_KEY = re.compile(r"[0-9]{1,10}", re.ASCII)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _count(field: str, value: Any, minimum: int) -> int:
    if not _is_int(value):
        raise ValueError(f"{field}: must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{field}: must be at least {minimum}, got {value}")
    if value > _FIELD_MAX.get(field, value):
        raise ValueError(f"{field}: {value} is more than the API field holds")
    return value


def _name(field: str, value: Any, pattern: re.Pattern[str], form: str) -> re.Match[str]:
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{field}: {value!r} is not of the form {form}")
    return match


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        raise ValueError(f"display_name: must be 1 to 128 characters, not only whitespace, got {value!r}")
    return value


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or GCS_URI.fullmatch(value) is None:
        raise ValueError(f"{field}: {value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{field}: must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{field}: every item must be a string, got {item!r}")
    return list(value)


def _module(value: Any) -> str:
    if not isinstance(value, str) or MODULE.fullmatch(value) is None:
        raise ValueError(f"python_module: {value!r} is not a dotted module name such as trainer.task")
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"image_uri: an image is required, got {value!r}")
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
            raise ValueError(f"accelerator_type: unknown accelerator {value!r}") from None
    else:
        raise ValueError(f"accelerator_type: must be an AcceleratorType name or member, got {value!r}")
    return None if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    accelerator = _accelerator(accelerator_type)
    if not _is_int(accelerator_count):
        raise ValueError(f"accelerator_count: must be an int, got {accelerator_count!r}")
    if accelerator is None and accelerator_count != 0:
        raise ValueError(f"accelerator_count: {accelerator_count} with no accelerator_type")
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type: must be a string, got {machine_type!r}")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, number = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            raise ValueError(f"accelerator_type: {machine_type} comes with {gpu.name}, got {accelerator_type!r}")
        allowed: tuple[int, ...] = (number,)
    elif N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if accelerator not in N1_GPU_COUNTS:
            raise ValueError(f"accelerator_type: {accelerator.name} cannot be attached to {machine_type}")
        allowed = N1_GPU_COUNTS[accelerator]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            raise ValueError(f"accelerator_type: {machine_type} takes no accelerator, got {accelerator.name}")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        raise ValueError(f"machine_type: {machine_type!r} is not a known machine type")
    if accelerator_count not in allowed:
        raise ValueError(f"accelerator_count: {machine_type} with {accelerator.name} takes {allowed}, "
                         f"got {accelerator_count}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=accelerator,
                                     accelerator_count=accelerator_count)


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
    _name("parent", parent, PARENT, "projects/PROJECT/locations/LOCATION")
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    _count("replica_count", replica_count, 1)
    _image(image_uri)
    if package_uris or python_module is not None:
        if not package_uris:
            raise ValueError("package_uris: a python_module needs package_uris to run from")
        if python_module is None:
            raise ValueError("python_module: package_uris need a python_module to run")
        _module(python_module)
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            raise ValueError("command: a Python package job takes no command, only args")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    pool = aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replica_count, **task)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        raise ValueError(f"traffic_split: must be a mapping of deployed-model IDs to percentages, got {split!r}")
    if not split:
        raise ValueError("traffic_split: must not be empty")
    for key, pct in split.items():
        if not isinstance(key, str) or TRAFFIC_KEY.fullmatch(key) is None:
            raise ValueError(f"traffic_split: key {key!r} is not a deployed-model ID of 1 to 10 digits")
        if not _is_int(pct) or not 0 <= pct <= 100:
            raise ValueError(f"traffic_split: {key!r} has {pct!r}, not a whole percentage from 0 to 100")
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
    where = _name("endpoint", endpoint, ENDPOINT, "projects/PROJECT/locations/LOCATION/endpoints/ID")
    model_match = _name("model", model, MODEL, "projects/PROJECT/locations/LOCATION/models/ID[@VERSION]")
    if model_match["location"] != where["location"]:
        raise ValueError(f"model: is in {model_match['location']}, the endpoint in {where['location']}")
    _display_name(display_name)
    _count("min_replica_count", min_replica_count, 1)
    _count("max_replica_count", max_replica_count, min_replica_count)
    split = _traffic_split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name, dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


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
        raise ValueError("worker_pool_specs: the config has no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _count("replica_count", pool.replica_count, 1)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            if not package.package_uris:
                raise ValueError("package_uris: a Python package pool needs package_uris")
            for uri in package.package_uris:
                _gcs("package_uris", uri)
            _module(package.python_module)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            raise ValueError("image_uri: the pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
