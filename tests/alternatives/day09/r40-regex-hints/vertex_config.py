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
from google.protobuf import json_format

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


_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1

_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)+[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}")
ENDPOINT_RE = re.compile(rf"{PARENT_RE.pattern}/endpoints/{_ID}")
MODEL_RE = re.compile(rf"{PARENT_RE.pattern}/models/{_ID}(?:@{_ID})?")
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?")
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}")


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _count(field: str, value: Any, *, low: int | None = None, high: int = _INT64_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(field, f"must be an int, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        _fail(field, f"must be at least {low}, got {value}")
    if value > high:
        _fail(field, f"{value} is too large (at most {high})")
    return value


def _name(field: str, value: Any, pattern: re.Pattern) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {type(value).__name__}")
    match = pattern.fullmatch(value)
    if match is None:
        _fail(field, f"{value!r} is not a valid {field} name")
    return match


def _display_name(value: Any) -> str:
    if not isinstance(value, str):
        _fail("display_name", f"must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 128:
        _fail("display_name", f"must be 1 to 128 characters, got {len(value)}")
    if not value.strip():
        _fail("display_name", "must not be only whitespace")
    return value


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or GCS_RE.fullmatch(value) is None:
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _str_list(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"item {item!r} is not a string")
    return items


def _module(value: Any) -> str:
    if not isinstance(value, str) or MODULE_RE.fullmatch(value) is None:
        _fail("python_module", f"{value!r} is not a dotted module name")
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        _fail("image_uri", "an image URI is required")
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
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {type(machine_type).__name__}")
    accelerator = _accelerator(accelerator_type)
    count = _count("accelerator_count", accelerator_count)
    if accelerator is None and count != 0:
        _fail("accelerator_count", f"{count} without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            _fail("accelerator_type", f"{machine_type} comes with {gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if accelerator not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{accelerator.name} does not attach to {machine_type}")
        allowed = N1_GPU_COUNTS[accelerator]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        _fail("machine_type", f"{machine_type!r} is not in the table")
    if count not in allowed:
        _fail("accelerator_count", f"{count} x {accelerator.name} on {machine_type}; allowed {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=accelerator,
                                     accelerator_count=count)


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
    """One worker pool running a custom container, or a Python package on a prebuilt image."""
    _name("parent", parent, PARENT_RE)
    _display_name(display_name)
    command = _str_list("command", command)
    args = _str_list("args", args)
    package_uris = _str_list("package_uris", package_uris)
    is_package = bool(package_uris) or python_module is not None
    if is_package:
        if python_module is None:
            _fail("python_module", "package_uris need a python_module")
        if not package_uris:
            _fail("package_uris", "python_module needs package_uris")
        _module(python_module)
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            _fail("command", "a Python package job takes no command")
    _image(image_uri)
    replicas = _count("replica_count", replica_count, low=1)
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if is_package:
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replicas, **task)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    job = aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec)
    return aiplatform_v1.CreateCustomJobRequest(parent=parent, custom_job=job)


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        _fail("traffic_split", f"must be a mapping, got {type(split).__name__}")
    copy = dict(split)
    if not copy:
        _fail("traffic_split", "is empty")
    for key, pct in copy.items():
        if not isinstance(key, str) or SPLIT_KEY_RE.fullmatch(key) is None:
            _fail("traffic_split", f"key {key!r} is not a deployed-model ID")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage")
    total = sum(copy.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    return copy


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
    """Deploy `model` to `endpoint` on dedicated machines, with a checked traffic split."""
    endpoint_match = _name("endpoint", endpoint, ENDPOINT_RE)
    model_match = _name("model", model, MODEL_RE)
    if endpoint_match["location"] != model_match["location"]:
        _fail("model", f"is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _display_name(display_name)
    low = _count("min_replica_count", min_replica_count, low=1, high=_INT32_MAX)
    _count("max_replica_count", max_replica_count, low=low, high=_INT32_MAX)
    split = _traffic_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    resources = aiplatform_v1.DedicatedResources(machine_spec=machine, min_replica_count=min_replica_count,
                                                 max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                           dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def _check_pool(pool: aiplatform_v1.WorkerPoolSpec) -> None:
    if "machine_spec" not in pool:
        _fail("machine_type", "a worker pool has no machineSpec")
    ms = pool.machine_spec
    machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                 accelerator_count=ms.accelerator_count)
    _count("replica_count", pool.replica_count, low=1)
    if "python_package_spec" in pool:
        package = pool.python_package_spec
        _image(package.executor_image_uri)
        uris = list(package.package_uris)
        if not uris:
            _fail("package_uris", "a Python package pool needs package_uris")
        for uri in uris:
            _gcs("package_uris", uri)
        _module(package.python_module)
    elif "container_spec" in pool:
        _image(pool.container_spec.image_uri)
    else:
        _fail("image_uri", "a worker pool needs a containerSpec or a pythonPackageSpec")


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config: must be a mapping, got {type(config).__name__}")
    data = dict(config)
    for key in ("workerPoolSpecs", "worker_pool_specs"):
        if isinstance(data.get(key), Mapping):
            data[key] = [dict(data[key])]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "the job has no worker pools")
    for pool in spec.worker_pool_specs:
        _check_pool(pool)
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
