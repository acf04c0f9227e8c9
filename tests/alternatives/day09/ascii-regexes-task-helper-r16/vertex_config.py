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


_ASCII_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"[a-z]+(?:-[a-z]+)*[0-9]+"
PARENT = re.compile(rf"projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})", re.ASCII)
ENDPOINT = re.compile(rf"{PARENT.pattern}/endpoints/{_ASCII_ID}", re.ASCII)
MODEL = re.compile(rf"{PARENT.pattern}/models/{_ASCII_ID}(?:@{_ASCII_ID})?", re.ASCII)
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY = re.compile(r"[0-9]{1,10}", re.ASCII)

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _check_name(field: str, value: Any, pattern: re.Pattern) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"expected a resource name string, got {type(value).__name__}")
    match = pattern.fullmatch(value)
    if match is None:
        _fail(field, f"{value!r} is not a valid resource name")
    return match


def _check_count(field: str, value: Any, minimum: int, maximum: int = INT32_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(field, f"expected a whole number (int), got {value!r}")
    if value < minimum:
        _fail(field, f"must be at least {minimum}, got {value}")
    if value > maximum:
        _fail(field, f"must be at most {maximum}, got {value}")
    return value


def _check_display_name(value: Any) -> str:
    if not isinstance(value, str):
        _fail("display_name", f"expected a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 128:
        _fail("display_name", f"must be 1 to 128 characters, got {len(value)}")
    if not value.strip():
        _fail("display_name", "must not be only whitespace")
    return value


def _check_gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or GCS_URI.fullmatch(value) is None:
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _check_strings(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(field, f"expected a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"every item must be a string, got {item!r}")
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
            _fail("accelerator_type", f"unknown accelerator {value!r}")
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            member = Accelerator(value)
        except ValueError:
            _fail("accelerator_type", f"unknown accelerator {value!r}")
    else:
        _fail("accelerator_type", f"expected an AcceleratorType name or member, got {value!r}")
    return None if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    accelerator = _accelerator(accelerator_type)
    if isinstance(accelerator_count, bool) or not isinstance(accelerator_count, int):
        _fail("accelerator_count", f"expected a whole number (int), got {accelerator_count!r}")
    if not isinstance(machine_type, str):
        _fail("machine_type", f"expected a string, got {type(machine_type).__name__}")
    if accelerator is None and accelerator_count != 0:
        _fail("accelerator_count", "a count without an accelerator must be 0")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            _fail("accelerator_type", f"{machine_type} comes with {gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type) and machine_type.isascii():
        if accelerator is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if accelerator not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{accelerator.name} cannot be attached to {machine_type}")
        allowed = N1_GPU_COUNTS[accelerator]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type) and machine_type.isascii():
        if accelerator is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        _fail("machine_type", f"{machine_type!r} is not a supported machine type")
    if accelerator_count not in allowed:
        _fail("accelerator_count", f"{machine_type} with {accelerator.name} takes {allowed}, not {accelerator_count}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=accelerator,
                                     accelerator_count=accelerator_count)


def _check_task(*, image_uri: Any, command: Any, args: Any, package_uris: Any, python_module: Any,
                package: bool) -> None:
    if not isinstance(image_uri, str) or not image_uri:
        _fail("image_uri", "an image is required")
    if package:
        if not package_uris:
            _fail("package_uris", "a python_module needs package_uris")
        if python_module is None or python_module == "":
            _fail("python_module", "package_uris need a python_module")
        if not isinstance(python_module, str) or MODULE.fullmatch(python_module) is None:
            _fail("python_module", f"{python_module!r} is not a dotted module name")
        if command:
            _fail("command", "a python package job takes no command")
        for uri in package_uris:
            _check_gcs("package_uris", uri)


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
    _check_name("parent", parent, PARENT)
    _check_display_name(display_name)
    command = _check_strings("command", command)
    args = _check_strings("args", args)
    package_uris = _check_strings("package_uris", package_uris)
    package = bool(package_uris) or python_module is not None
    _check_task(image_uri=image_uri, command=command, args=args, package_uris=package_uris,
                python_module=python_module, package=package)
    _check_count("replica_count", replica_count, 1, INT64_MAX)
    if base_output_directory is not None:
        _check_gcs("base_output_directory", base_output_directory)
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    if package:
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


def _check_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        _fail("traffic_split", f"expected a mapping of IDs to percentages, got {type(split).__name__}")
    if not split:
        _fail("traffic_split", "must not be empty")
    checked = {}
    for key, pct in split.items():
        if not isinstance(key, str) or SPLIT_KEY.fullmatch(key) is None:
            _fail("traffic_split", f"key {key!r} is not a deployed-model ID")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage from 0 to 100")
        checked[key] = pct
    total = sum(checked.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    return checked


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
    endpoint_match = _check_name("endpoint", endpoint, ENDPOINT)
    model_match = _check_name("model", model, MODEL)
    if endpoint_match["location"] != model_match["location"]:
        _fail("model", f"the model is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _check_display_name(display_name)
    _check_count("min_replica_count", min_replica_count, 1)
    _check_count("max_replica_count", max_replica_count, min_replica_count)
    split = _check_split(traffic_split)
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    resources = aiplatform_v1.DedicatedResources(machine_spec=spec, min_replica_count=min_replica_count,
                                                 max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name, dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        _fail("config", f"expected a mapping, got {type(config).__name__}")
    data = dict(config)
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [pools]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "the job needs at least one worker pool")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool:
            _fail("machine_type", "a worker pool needs a machineSpec")
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        _check_count("replica_count", pool.replica_count, 1, INT64_MAX)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _check_task(image_uri=package.executor_image_uri, command=[], args=list(package.args),
                        package_uris=list(package.package_uris), python_module=package.python_module, package=True)
        elif "container_spec" in pool:
            _check_task(image_uri=pool.container_spec.image_uri, command=list(pool.container_spec.command),
                        args=list(pool.container_spec.args), package_uris=[], python_module=None, package=False)
        else:
            _fail("image_uri", "a worker pool needs a containerSpec or a pythonPackageSpec")
    if "base_output_directory" in spec:
        _check_gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
