"""Vertex AI job and deployment configs, validated offline (regex + small helpers)."""

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
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}")
ENDPOINT = re.compile(rf"{PARENT.pattern}/endpoints/{_ID}")
MODEL = re.compile(rf"{PARENT.pattern}/models/{_ID}(?:@{_ID})?")
GCS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?")
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY = re.compile(r"[0-9]{1,10}")


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _count(field: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(field, f"must be an int, got {value!r}")
    if not low <= value <= high:
        _fail(field, f"must be between {low} and {high}, got {value}")
    return value


def _matches(field: str, pattern: re.Pattern, value: Any) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {value!r}")
    match = pattern.fullmatch(value)
    if match is None:
        _fail(field, f"{value!r} is not valid")
    return match


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        _fail("display_name", f"must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {value!r}")
    if not all(isinstance(item, str) for item in value):
        _fail(field, f"every item must be a string: {value!r}")
    return list(value)


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


def machine_spec(*, machine_type, accelerator_type=None, accelerator_count=0):
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {machine_type!r}")
    gpu = _accelerator(accelerator_type)
    if not isinstance(accelerator_count, int) or isinstance(accelerator_count, bool):
        _fail("accelerator_count", f"must be an int, got {accelerator_count!r}")
    if gpu is None and accelerator_count != 0:
        _fail("accelerator_count", "must be 0 without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        fixed_gpu, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != fixed_gpu:
            _fail("accelerator_type", f"{machine_type} comes with {fixed_gpu.name}")
        allowed = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if gpu is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if gpu not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{gpu.name} does not attach to {machine_type}")
        allowed = N1_GPU_COUNTS[gpu]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if gpu is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        _fail("machine_type", f"{machine_type!r} is not a known machine type")
    if accelerator_count not in allowed:
        _fail("accelerator_count", f"{accelerator_count} not in {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=gpu,
                                     accelerator_count=accelerator_count)


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        _fail("image_uri", f"must be a non-empty string, got {value!r}")
    return value


def _package_parts(package_uris: list[str], python_module: Any) -> None:
    if not package_uris:
        _fail("package_uris", "a python_module needs package_uris")
    if python_module is None:
        _fail("python_module", "package_uris need a python_module")
    _matches("python_module", MODULE, python_module)
    for uri in package_uris:
        _matches("package_uris", GCS, uri)


def custom_job_request(*, parent, display_name, machine_type, image_uri, accelerator_type=None,
                       accelerator_count=0, replica_count=1, command=(), args=(), package_uris=(),
                       python_module=None, base_output_directory=None):
    _matches("parent", PARENT, parent)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    _count("replica_count", replica_count, 1, INT64_MAX)
    _image(image_uri)
    if base_output_directory is not None:
        _matches("base_output_directory", GCS, base_output_directory)
    is_package = bool(package_uris) or python_module is not None
    if is_package:
        _package_parts(package_uris, python_module)
        if command:
            _fail("command", "a Python package job takes no command")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
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
    if not isinstance(split, Mapping) or not split:
        _fail("traffic_split", f"must be a non-empty mapping, got {split!r}")
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key):
            _fail("traffic_split", f"key {key!r} is not a deployed model ID")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage")
    total = sum(split.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    return dict(split)


def deploy_model_request(*, endpoint, model, display_name, machine_type, min_replica_count,
                         max_replica_count, traffic_split, accelerator_type=None, accelerator_count=0):
    e = _matches("endpoint", ENDPOINT, endpoint)
    m = _matches("model", MODEL, model)
    if e["location"] != m["location"]:
        _fail("model", f"is in {m['location']}, the endpoint in {e['location']}")
    _display_name(display_name)
    _count("min_replica_count", min_replica_count, 1, INT32_MAX)
    _count("max_replica_count", max_replica_count, min_replica_count, INT32_MAX)
    split = _traffic_split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                           dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def custom_job_spec_from_gcloud(config):
    if not isinstance(config, Mapping):
        raise ValueError(f"config: must be a mapping, got {type(config).__name__}")
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
        _fail("worker_pool_specs", "a job needs at least one worker pool")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool:
            _fail("machine_type", "a worker pool needs a machine_spec")
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _count("replica_count", pool.replica_count, 1, INT64_MAX)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            _package_parts(list(package.package_uris), package.python_module)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            _fail("image_uri", "a worker pool needs a containerSpec or a pythonPackageSpec")
    if "base_output_directory" in spec:
        _matches("base_output_directory", GCS, spec.base_output_directory.output_uri_prefix)
    return spec
