"""Vertex AI configs built as aiplatform_v1 objects, with regex-based checks in small helpers."""

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
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}", re.ASCII)
MODEL = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY = re.compile(r"[0-9]{1,10}")


def _fail(field: str, why: str) -> ValueError:
    return ValueError(f"{field}: {why}")


def _count(field: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if type(value) is not int:
        raise _fail(field, f"must be an int, not {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise _fail(field, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise _fail(field, f"must be at most {maximum}, got {value}")
    return value


def _name(field: str, value: Any, pattern: re.Pattern) -> re.Match:
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, not {type(value).__name__}")
    match = pattern.fullmatch(value)
    if match is None:
        raise _fail(field, f"{value!r} is not a valid {field}")
    return match


def _gcs(field: str, value: Any) -> str:
    _name(field, value, GCS)
    return value


def _display_name(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("display_name", f"must be a string, not {type(value).__name__}")
    if not 1 <= len(value) <= 128 or not value.strip():
        raise _fail("display_name", "must be 1 to 128 characters and not only whitespace")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _fail(field, f"must be a list of strings, not {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise _fail(field, f"item {item!r} is not a string")
    return items


def _accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        member = value
    elif isinstance(value, str):
        try:
            member = Accelerator[value]
        except KeyError:
            raise _fail("accelerator_type", f"unknown accelerator {value!r}") from None
    else:
        raise _fail("accelerator_type", f"must be a name or an AcceleratorType, not {value!r}")
    return None if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(*, machine_type: str, accelerator_type: str | Accelerator | None = None,
                 accelerator_count: int = 0) -> aiplatform_v1.MachineSpec:
    accelerator = _accelerator(accelerator_type)
    _count("accelerator_count", accelerator_count)
    if not isinstance(machine_type, str):
        raise _fail("machine_type", f"must be a string, not {type(machine_type).__name__}")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            raise _fail("accelerator_type", f"{machine_type} comes with {gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type, ) and machine_type.isascii():
        if accelerator is None:
            allowed = (0,)
        elif accelerator in N1_GPU_COUNTS:
            allowed = N1_GPU_COUNTS[accelerator]
        else:
            raise _fail("accelerator_type", f"{accelerator.name} does not attach to {machine_type}")
    elif CPU_ONLY_MACHINE.fullmatch(machine_type) and machine_type.isascii():
        if accelerator is not None:
            raise _fail("accelerator_type", f"{machine_type} takes no accelerator")
        allowed = (0,)
    else:
        raise _fail("machine_type", f"{machine_type!r} is not a known machine type")
    if accelerator_count not in allowed:
        raise _fail("accelerator_count", f"{accelerator_count} not allowed here, expected one of {allowed}")
    return aiplatform_v1.MachineSpec(
        machine_type=machine_type,
        accelerator_type=accelerator or Accelerator.ACCELERATOR_TYPE_UNSPECIFIED,
        accelerator_count=accelerator_count,
    )


def _module(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("python_module", f"must be a string, not {type(value).__name__}")
    if not MODULE.fullmatch(value) or not value.isascii():
        raise _fail("python_module", f"{value!r} is not a dotted module name")
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail("image_uri", "an image URI is required")
    return value


def custom_job_request(*, parent, display_name, machine_type, image_uri, accelerator_type=None,
                       accelerator_count=0, replica_count=1, command=(), args=(), package_uris=(),
                       python_module=None, base_output_directory=None) -> aiplatform_v1.CreateCustomJobRequest:
    _name("parent", parent, PARENT)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    _count("replica_count", replica_count, minimum=1, maximum=INT64_MAX)
    _image(image_uri)
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    if package_uris or python_module is not None:
        if not package_uris:
            raise _fail("package_uris", "python_module needs package_uris")
        if python_module is None:
            raise _fail("python_module", "package_uris need a python_module")
        _module(python_module)
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            raise _fail("command", "a Python package job takes no command")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=spec, replica_count=replica_count, **task)
    job_spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        job_spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=job_spec))


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping) or not split:
        raise _fail("traffic_split", "must be a non-empty mapping of deployed-model IDs to percentages")
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key) or not key.isascii():
            raise _fail("traffic_split", f"key {key!r} is not a deployed-model ID")
        if type(pct) is not int or not 0 <= pct <= 100:
            raise _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage")
    total = sum(split.values())
    if total != 100:
        raise _fail("traffic_split", f"percentages add up to {total}, not 100")
    return dict(split)


def deploy_model_request(*, endpoint, model, display_name, machine_type, min_replica_count,
                         max_replica_count, traffic_split, accelerator_type=None,
                         accelerator_count=0) -> aiplatform_v1.DeployModelRequest:
    endpoint_match = _name("endpoint", endpoint, ENDPOINT)
    model_match = _name("model", model, MODEL)
    if endpoint_match["location"] != model_match["location"]:
        raise _fail("model", f"model is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _display_name(display_name)
    _count("min_replica_count", min_replica_count, minimum=1, maximum=INT32_MAX)
    _count("max_replica_count", max_replica_count, minimum=min_replica_count, maximum=INT32_MAX)
    split = _traffic_split(traffic_split)
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model, display_name=display_name,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=spec, min_replica_count=min_replica_count, max_replica_count=max_replica_count)),
        traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: expected a mapping, got {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        raise _fail("worker_pool_specs", "the config has no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _count("replica_count", pool.replica_count, minimum=1)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            if not package.package_uris:
                raise _fail("package_uris", "a Python package pool needs package_uris")
            for uri in package.package_uris:
                _gcs("package_uris", uri)
            _module(package.python_module)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            raise _fail("image_uri", "the pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
