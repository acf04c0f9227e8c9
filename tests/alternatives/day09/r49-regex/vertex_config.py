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
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}")
ENDPOINT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}")
MODEL = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?")
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.DOTALL)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY = re.compile(r"[0-9]{1,10}")


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _check_count(field: str, value: Any, *, minimum: int, maximum: int) -> int:
    if type(value) is not int and not (isinstance(value, int) and not isinstance(value, bool)):
        _fail(field, f"must be an int, got {type(value).__name__} {value!r}")
    if isinstance(value, bool):
        _fail(field, f"must be an int, got bool {value!r}")
    if value < minimum:
        _fail(field, f"must be at least {minimum}, got {value}")
    if value > maximum:
        _fail(field, f"{value} is too large (at most {maximum})")
    return int(value)


def _check_name(field: str, value: Any, pattern: re.Pattern) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {type(value).__name__}")
    match = pattern.fullmatch(value)
    if match is None:
        _fail(field, f"{value!r} is not a valid resource name")
    return match


def _check_display_name(value: Any) -> str:
    if not isinstance(value, str):
        _fail("display_name", f"must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 128:
        _fail("display_name", f"must be 1 to 128 characters, got {len(value)}")
    if not value.strip():
        _fail("display_name", "must not be only whitespace")
    return value


def _check_gcs_uri(field: str, value: Any) -> str:
    if not isinstance(value, str):
        _fail(field, f"must be a gs:// URI string, got {type(value).__name__}")
    if GCS_URI.fullmatch(value) is None:
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _check_str_list(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"every item must be a string, got {type(item).__name__}")
    return items


def _check_module(field: str, value: Any) -> str:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {type(value).__name__}")
    if MODULE.fullmatch(value) is None:
        _fail(field, f"{value!r} is not a dotted module name")
    return value


def _accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        acc = value
    elif isinstance(value, str):
        if value not in Accelerator.__members__:
            _fail("accelerator_type", f"unknown accelerator {value!r}")
        acc = Accelerator[value]
    else:
        _fail("accelerator_type", f"must be an AcceleratorType name or member, got {value!r}")
    if acc == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED:
        return None
    return acc


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {type(machine_type).__name__}")
    acc = _accelerator(accelerator_type)
    count = _check_count("accelerator_count", accelerator_count, minimum=0, maximum=INT32_MAX)

    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if acc != gpu:
            _fail("accelerator_type", f"{machine_type} comes with {gpu.name}, got {acc.name if acc else None}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if acc is None:
            allowed = (0,)
        elif acc in N1_GPU_COUNTS:
            allowed = N1_GPU_COUNTS[acc]
        else:
            _fail("accelerator_type", f"{acc.name} does not attach to {machine_type}")
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if acc is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator, got {acc.name}")
        allowed = (0,)
    else:
        _fail("machine_type", f"{machine_type!r} is not a supported machine type")

    if count not in allowed:
        _fail("accelerator_count", f"{count} not allowed here; allowed: {allowed}")
    if acc is None:
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    return aiplatform_v1.MachineSpec(
        machine_type=machine_type, accelerator_type=acc, accelerator_count=count
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
    _check_name("parent", parent, PARENT)
    _check_display_name(display_name)
    command_list = _check_str_list("command", command)
    args_list = _check_str_list("args", args)
    package_list = _check_str_list("package_uris", package_uris)
    if python_module is not None and not isinstance(python_module, str):
        _fail("python_module", f"must be a string, got {type(python_module).__name__}")
    is_package = bool(package_list) or python_module is not None
    if is_package:
        if not package_list:
            _fail("package_uris", "python_module needs package_uris")
        if python_module is None:
            _fail("python_module", "package_uris need a python_module")
        _check_module("python_module", python_module)
        for uri in package_list:
            _check_gcs_uri("package_uris", uri)
        if command_list:
            _fail("command", "a Python package job takes no command")
    count = _check_count("replica_count", replica_count, minimum=1, maximum=INT64_MAX)
    if not isinstance(image_uri, str) or not image_uri:
        _fail("image_uri", "an image is required")
    if base_output_directory is not None:
        _check_gcs_uri("base_output_directory", base_output_directory)
    machine = machine_spec(
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=accelerator_count,
    )

    if is_package:
        pool = aiplatform_v1.WorkerPoolSpec(
            machine_spec=machine,
            replica_count=count,
            python_package_spec=aiplatform_v1.PythonPackageSpec(
                executor_image_uri=image_uri,
                package_uris=package_list,
                python_module=python_module,
                args=args_list,
            ),
        )
    else:
        pool = aiplatform_v1.WorkerPoolSpec(
            machine_spec=machine,
            replica_count=count,
            container_spec=aiplatform_v1.ContainerSpec(
                image_uri=image_uri, command=command_list, args=args_list
            ),
        )
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(
            output_uri_prefix=base_output_directory
        )
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent,
        custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec),
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
    endpoint_match = _check_name("endpoint", endpoint, ENDPOINT)
    model_match = _check_name("model", model, MODEL)
    if endpoint_match["location"] != model_match["location"]:
        _fail("model", f"is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _check_display_name(display_name)
    low = _check_count("min_replica_count", min_replica_count, minimum=1, maximum=INT32_MAX)
    high = _check_count("max_replica_count", max_replica_count, minimum=1, maximum=INT32_MAX)
    if high < low:
        _fail("max_replica_count", f"{high} is below min_replica_count {low}")

    if not isinstance(traffic_split, Mapping):
        _fail("traffic_split", f"must be a mapping, got {type(traffic_split).__name__}")
    split = dict(traffic_split.items())
    if not split:
        _fail("traffic_split", "must not be empty")
    for key, pct in split.items():
        if not isinstance(key, str) or SPLIT_KEY.fullmatch(key) is None:
            _fail("traffic_split", f"key {key!r} is not a deployed-model ID of 1 to 10 digits")
        if not isinstance(pct, int) or isinstance(pct, bool):
            _fail("traffic_split", f"percentage for {key!r} must be an int, got {pct!r}")
        if not 0 <= pct <= 100:
            _fail("traffic_split", f"percentage for {key!r} must be 0 to 100, got {pct}")
    total = sum(split.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")

    machine = machine_spec(
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=accelerator_count,
    )
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model,
            display_name=display_name,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=machine,
                min_replica_count=low,
                max_replica_count=high,
            ),
        ),
        traffic_split={k: int(v) for k, v in split.items()},
    )


def _plain(value: Any) -> Any:
    """A deep copy of YAML-like data in plain dicts and lists (the caller's stays untouched)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        _fail("config", f"must be a mapping, got {type(config).__name__}")
    data = _plain(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "a job needs at least one worker pool")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool or not pool.machine_spec.machine_type:
            _fail("machine_type", "every worker pool needs a machine type")
        ms = pool.machine_spec
        machine_spec(
            machine_type=ms.machine_type,
            accelerator_type=ms.accelerator_type,
            accelerator_count=int(ms.accelerator_count),
        )
        if pool.replica_count < 1:
            _fail("replica_count", f"must be at least 1, got {pool.replica_count}")
        if "python_package_spec" in pool:
            pkg = pool.python_package_spec
            if not pkg.executor_image_uri:
                _fail("image_uri", "a Python package pool needs an executor image")
            if not pkg.package_uris:
                _fail("package_uris", "a Python package pool needs package_uris")
            for uri in pkg.package_uris:
                _check_gcs_uri("package_uris", uri)
            if not pkg.python_module:
                _fail("python_module", "a Python package pool needs a python_module")
            _check_module("python_module", pkg.python_module)
        elif "container_spec" in pool:
            if not pool.container_spec.image_uri:
                _fail("image_uri", "a container pool needs an image")
        else:
            _fail("image_uri", "a pool needs a containerSpec or a pythonPackageSpec")
    if "base_output_directory" in spec:
        _check_gcs_uri("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
