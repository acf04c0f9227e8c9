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


_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
PARENT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT_RE = re.compile(rf"{PARENT_RE.pattern}/endpoints/{_ID}", re.ASCII)
MODEL_RE = re.compile(rf"{PARENT_RE.pattern}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}", re.ASCII)


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _count(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(field, f"must be an int, got {value!r}")
    return value


def _name(field: str, value: Any, pattern: re.Pattern) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {value!r}")
    match = pattern.fullmatch(value)
    if match is None:
        _fail(field, f"{value!r} is not a valid {field} name")
    return match


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or value.isspace():
        _fail("display_name", f"must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or GCS_RE.fullmatch(value) is None:
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _str_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"item {item!r} is not a string")
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
        _fail("machine_type", f"must be a string, got {machine_type!r}")
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
            allowed = (0,)
        elif accelerator in N1_GPU_COUNTS:
            allowed = N1_GPU_COUNTS[accelerator]
        else:
            _fail("accelerator_type", f"{accelerator.name} does not attach to {machine_type}")
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        allowed = (0,)
    else:
        _fail("machine_type", f"{machine_type!r} is not in the allowlist")
    if count not in allowed:
        _fail("accelerator_count", f"{count} not allowed, expected one of {allowed}")
    return aiplatform_v1.MachineSpec(
        machine_type=machine_type,
        accelerator_type=accelerator or Accelerator.ACCELERATOR_TYPE_UNSPECIFIED,
        accelerator_count=count,
    )


def _package_checks(package_uris: list[str], python_module: Any) -> None:
    if not package_uris:
        _fail("package_uris", "a python_module needs package_uris")
    if python_module is None:
        _fail("python_module", "package_uris need a python_module")
    if not isinstance(python_module, str) or MODULE_RE.fullmatch(python_module) is None:
        _fail("python_module", f"{python_module!r} is not a dotted module name")
    for uri in package_uris:
        _gcs("package_uris", uri)


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        _fail("image_uri", f"an image is required, got {value!r}")
    return value


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _replicas(value: Any, field: str = "replica_count") -> int:
    if _count(field, value) < 1:
        _fail(field, f"must be at least 1, got {value}")
    if value > _FIELD_MAX[field]:
        _fail(field, f"{value} is more than the API field holds")
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
    """One worker pool running a custom container, or a Python package on a prebuilt image."""
    _name("parent", parent, PARENT_RE)
    _display_name(display_name)
    command_list = _str_list("command", command)
    args_list = _str_list("args", args)
    uris = _str_list("package_uris", package_uris)
    _replicas(replica_count)
    image = _image(image_uri)
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if uris or python_module is not None:
        _package_checks(uris, python_module)
        if command_list:
            _fail("command", "a python package job takes no command")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image, package_uris=uris, python_module=python_module, args=args_list)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(
            image_uri=image, command=command_list, args=args_list)}
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replica_count, **task)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        _fail("traffic_split", f"must be a mapping, got {split!r}")
    if not split:
        _fail("traffic_split", "is empty")
    result = {}
    for key, pct in split.items():
        if not isinstance(key, str) or SPLIT_KEY_RE.fullmatch(key) is None:
            _fail("traffic_split", f"key {key!r} is not a deployed model ID")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage")
        result[key] = pct
    total = sum(result.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
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
    """Deploy `model` to `endpoint` on dedicated machines, with a checked traffic split."""
    endpoint_match = _name("endpoint", endpoint, ENDPOINT_RE)
    model_match = _name("model", model, MODEL_RE)
    if model_match["location"] != endpoint_match["location"]:
        _fail("model", f"is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _display_name(display_name)
    low = _replicas(min_replica_count, "min_replica_count")
    high = _count("max_replica_count", max_replica_count)
    if high > _FIELD_MAX["max_replica_count"]:
        _fail("max_replica_count", f"{high} is more than the API field holds")
    if high < low:
        _fail("max_replica_count", f"{high} is below min_replica_count {low}")
    split = _traffic_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    deployed = aiplatform_v1.DeployedModel(
        model=model, display_name=display_name,
        dedicated_resources=aiplatform_v1.DedicatedResources(
            machine_spec=machine, min_replica_count=low, max_replica_count=high))
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config: must be a mapping, got {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except (json_format.ParseError, TypeError, AttributeError) as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "the config has no worker pools")
    for pool in spec.worker_pool_specs:
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        _replicas(pool.replica_count)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _package_checks(list(package.package_uris), package.python_module)
            _image(package.executor_image_uri)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            _fail("image_uri", "the pool has neither containerSpec nor pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
