"""Day 09 answer A: regex-heavy, helper functions, the stub's tables."""

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
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}")
ENDPOINT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}")
MODEL = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?")
GCS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.DOTALL)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
TRAFFIC_KEY = re.compile(r"[0-9]{1,10}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _name(field: str, value, pattern: re.Pattern) -> re.Match:
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a string, got {type(value).__name__}")
    match = pattern.fullmatch(value)
    if match is None:
        raise ValueError(f"{field}: {value!r} is not a valid resource name")
    return match


def _display_name(value) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        raise ValueError(f"display_name: must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _gcs(field: str, value) -> str:
    if not isinstance(value, str) or not GCS.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _strings(field: str, value) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{field}: must be a list of strings, not {type(value).__name__}")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{field}: every item must be a string")
    return items


def _accelerator(value) -> Accelerator | None:
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
        raise ValueError(f"accelerator_type: must be a name or an AcceleratorType, not {value!r}")
    return None if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    accelerator = _accelerator(accelerator_type)
    if not _is_int(accelerator_count):
        raise ValueError(f"accelerator_count: must be a whole number, not {accelerator_count!r}")
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type: must be a string, not {machine_type!r}")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            raise ValueError(f"accelerator_type: {machine_type} comes with {gpu.name}, not {accelerator}")
        allowed = {n}
    elif N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            allowed = {0}
        elif accelerator in N1_GPU_COUNTS:
            allowed = set(N1_GPU_COUNTS[accelerator])
        else:
            raise ValueError(f"accelerator_type: {accelerator.name} cannot be attached to {machine_type}")
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            raise ValueError(f"accelerator_type: {machine_type} takes no accelerator")
        allowed = {0}
    else:
        raise ValueError(f"machine_type: {machine_type!r} is not a known machine type")
    if accelerator_count not in allowed:
        raise ValueError(f"accelerator_count: {accelerator_count} not allowed; allowed: {sorted(allowed)}")
    spec = aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_count=accelerator_count)
    if accelerator is not None:
        spec.accelerator_type = accelerator
    return spec


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _replicas(value) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"replica_count: must be a whole number of at least 1, not {value!r}")
    if value > _FIELD_MAX["replica_count"]:
        raise ValueError(f"replica_count: {value} is more than the API field holds")
    return value


def _package_task(image_uri, package_uris, python_module, command, args):
    """Checks shared by tasks 2 and 4; returns the oneof field name."""
    if package_uris or python_module is not None:
        if not package_uris:
            raise ValueError("package_uris: a python_module needs package_uris")
        if python_module is None or python_module == "":
            raise ValueError("python_module: package_uris need a python_module")
        if not isinstance(python_module, str) or not MODULE.fullmatch(python_module):
            raise ValueError(f"python_module: {python_module!r} is not a dotted module name")
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            raise ValueError("command: a python package job takes no command")
    if not isinstance(image_uri, str) or not image_uri.strip():
        raise ValueError("image_uri: an image is required")


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
    _name("parent", parent, PARENT)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    _replicas(replica_count)
    _package_task(image_uri, package_uris, python_module, command, args)
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if package_uris:
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replica_count, **task)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    job = aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec)
    return aiplatform_v1.CreateCustomJobRequest(parent=parent, custom_job=job)


def _traffic_split(split) -> dict[str, int]:
    if not isinstance(split, Mapping) or not split:
        raise ValueError("traffic_split: must be a non-empty mapping")
    for key, pct in split.items():
        if not isinstance(key, str) or not TRAFFIC_KEY.fullmatch(key):
            raise ValueError(f"traffic_split: key {key!r} is not a deployed model ID")
        if not _is_int(pct) or not 0 <= pct <= 100:
            raise ValueError(f"traffic_split: {key}: {pct!r} is not a whole percentage")
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
    where = _name("endpoint", endpoint, ENDPOINT)["location"]
    if _name("model", model, MODEL)["location"] != where:
        raise ValueError(f"model: must be in the endpoint's location {where}")
    _display_name(display_name)
    if not _is_int(min_replica_count) or min_replica_count < 1:
        raise ValueError(f"min_replica_count: must be at least 1, not {min_replica_count!r}")
    if not _is_int(max_replica_count) or max_replica_count < min_replica_count:
        raise ValueError(f"max_replica_count: must be at least min_replica_count, not {max_replica_count!r}")
    for field, value in (("min_replica_count", min_replica_count), ("max_replica_count", max_replica_count)):
        if value > _FIELD_MAX[field]:
            raise ValueError(f"{field}: {value} is more than the API field holds")
    split = _traffic_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    resources = aiplatform_v1.DedicatedResources(machine_spec=machine, min_replica_count=min_replica_count,
                                                 max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name, dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: must be a mapping, not {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        raise ValueError("worker_pool_specs: at least one worker pool is needed")
    for pool in spec.worker_pool_specs:
        m = pool.machine_spec
        machine_spec(machine_type=m.machine_type, accelerator_type=Accelerator(m.accelerator_type),
                     accelerator_count=m.accelerator_count)
        _replicas(pool.replica_count)
        if "python_package_spec" in pool:
            p = pool.python_package_spec
            _package_task(p.executor_image_uri, list(p.package_uris), p.python_module or None, [], list(p.args))
        elif "container_spec" in pool:
            c = pool.container_spec
            _package_task(c.image_uri, [], None, list(c.command), list(c.args))
        else:
            raise ValueError("image_uri: a worker pool needs a container_spec or python_package_spec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
