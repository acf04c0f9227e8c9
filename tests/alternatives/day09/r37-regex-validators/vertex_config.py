"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

Style: module-level compiled regular expressions (re.ASCII, fullmatch) and small
validator functions that raise ValueError naming the field; messages built with the
proto-plus constructors from the inside out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
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
PARENT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}", re.ASCII)
MODEL_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}", re.ASCII)


def _fail(field: str, problem: str) -> None:
    raise ValueError(f"{field}: {problem}")


def _check_count(field: str, value: Any, *, minimum: int, maximum: int) -> int:
    if type(value) is bool or not isinstance(value, int):
        _fail(field, f"must be an int, got {type(value).__name__} {value!r}")
    if value < minimum or value > maximum:
        _fail(field, f"{value} is outside {minimum}..{maximum}")
    return value


def _check_name(field: str, value: Any, pattern: re.Pattern[str]) -> re.Match[str]:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {type(value).__name__}")
    match = pattern.fullmatch(value)
    if match is None:
        _fail(field, f"{value!r} is not a valid {field}")
    return match


def _check_gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or not GCS_RE.fullmatch(value):
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _check_display_name(value: Any) -> str:
    if not isinstance(value, str):
        _fail("display_name", f"must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 128 or value.isspace():
        _fail("display_name", "must be 1 to 128 characters and not only whitespace")
    return value


def _check_str_list(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"item {item!r} is not a string")
    return items


def _check_module(value: Any) -> str:
    if not isinstance(value, str) or not MODULE_RE.fullmatch(value):
        _fail("python_module", f"{value!r} is not a dotted Python module name")
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
    gpu = _accelerator(accelerator_type)
    count = _check_count("accelerator_count", accelerator_count, minimum=0, maximum=INT32_MAX)
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {type(machine_type).__name__}")
    if gpu is None and count != 0:
        _fail("accelerator_count", f"{count} accelerators but no accelerator_type")
    if machine_type in FIXED_GPU_MACHINES:
        fixed_gpu, fixed_count = FIXED_GPU_MACHINES[machine_type]
        if gpu != fixed_gpu:
            _fail("accelerator_type", f"{machine_type} comes with {fixed_gpu.name}")
        allowed: tuple[int, ...] = (fixed_count,)
    elif N1_MACHINE.fullmatch(machine_type):
        if gpu is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if gpu not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{gpu.name} cannot be attached to {machine_type}")
        allowed = N1_GPU_COUNTS[gpu]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if gpu is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        _fail("machine_type", f"{machine_type!r} is not in the allowlist")
    if count not in allowed:
        _fail("accelerator_count", f"{count} x {gpu.name} on {machine_type}; allowed: {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=gpu, accelerator_count=count)


def _check_package_task(package_uris: list[str], python_module: Any, image_uri: Any) -> None:
    if not package_uris:
        _fail("package_uris", "a python_module needs package_uris")
    if python_module is None:
        _fail("python_module", "package_uris need a python_module")
    for uri in package_uris:
        _check_gcs("package_uris", uri)
    _check_module(python_module)
    _check_image(image_uri)


def _check_image(image_uri: Any) -> str:
    if not isinstance(image_uri, str) or not image_uri:
        _fail("image_uri", "an image is required")
    return image_uri


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
    _check_name("parent", parent, PARENT_RE)
    _check_display_name(display_name)
    command_list = _check_str_list("command", command)
    args_list = _check_str_list("args", args)
    package_list = _check_str_list("package_uris", package_uris)
    replicas = _check_count("replica_count", replica_count, minimum=1, maximum=INT64_MAX)
    if base_output_directory is not None:
        _check_gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if package_list or python_module is not None:
        _check_package_task(package_list, python_module, image_uri)
        if command_list:
            _fail("command", "a Python package job takes no command")
        pool = aiplatform_v1.WorkerPoolSpec(
            machine_spec=machine, replica_count=replicas,
            python_package_spec=aiplatform_v1.PythonPackageSpec(
                executor_image_uri=image_uri, package_uris=package_list,
                python_module=python_module, args=args_list))
    else:
        _check_image(image_uri)
        pool = aiplatform_v1.WorkerPoolSpec(
            machine_spec=machine, replica_count=replicas,
            container_spec=aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command_list, args=args_list))
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _check_traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        _fail("traffic_split", "must be a mapping of deployed model IDs to percentages")
    if not split:
        _fail("traffic_split", "is empty")
    copied: dict[str, int] = {}
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY_RE.fullmatch(key):
            _fail("traffic_split", f"key {key!r} is not a deployed model ID of 1 to 10 digits")
        if type(pct) is bool or not isinstance(pct, int) or not 0 <= pct <= 100:
            _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage from 0 to 100")
        copied[key] = pct
    total = sum(copied.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    return copied


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
    endpoint_match = _check_name("endpoint", endpoint, ENDPOINT_RE)
    model_match = _check_name("model", model, MODEL_RE)
    if endpoint_match["location"] != model_match["location"]:
        _fail("model", f"is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _check_display_name(display_name)
    low = _check_count("min_replica_count", min_replica_count, minimum=1, maximum=INT32_MAX)
    high = _check_count("max_replica_count", max_replica_count, minimum=1, maximum=INT32_MAX)
    if high < low:
        _fail("max_replica_count", f"{high} is below min_replica_count {low}")
    split = _check_traffic_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model, display_name=display_name,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=machine, min_replica_count=low, max_replica_count=high)),
        traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        _fail("config", f"must be a mapping, got {type(config).__name__}")
    data = dict(config)
    for key in ("workerPoolSpecs", "worker_pool_specs"):
        if isinstance(data.get(key), Mapping):
            data[key] = [data[key]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "the config has no worker pools")
    for pool in spec.worker_pool_specs:
        machine = pool.machine_spec
        machine_spec(machine_type=machine.machine_type, accelerator_type=machine.accelerator_type,
                     accelerator_count=machine.accelerator_count)
        _check_count("replica_count", pool.replica_count, minimum=1, maximum=INT64_MAX)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _check_package_task(list(package.package_uris), package.python_module or None,
                                package.executor_image_uri)
        elif "container_spec" in pool:
            _check_image(pool.container_spec.image_uri)
        else:
            _fail("image_uri", "the pool runs neither a container nor a Python package")
    if "base_output_directory" in spec:
        _check_gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
