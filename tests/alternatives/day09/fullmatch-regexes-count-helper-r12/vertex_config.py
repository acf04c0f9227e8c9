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


_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT = re.compile(rf"{PARENT.pattern}/endpoints/{_ID}", re.ASCII)
MODEL = re.compile(rf"{PARENT.pattern}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY = re.compile(r"[0-9]{1,10}", re.ASCII)


def _fail(field: str, why: str) -> ValueError:
    return ValueError(f"{field}: {why}")


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _count(field: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise _fail(field, f"must be at least {minimum}, got {value}")
    if value > _FIELD_MAX.get(field, value):
        raise _fail(field, f"{value} is more than the API field holds")
    return value


def _name(field: str, value: Any, pattern: re.Pattern) -> re.Match:
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(field, f"{value!r} is not of the form {pattern.pattern}")
    return match


def _gcs(field: str, value: Any) -> str:
    _name(field, value, GCS)
    return value


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or value.isspace():
        raise _fail("display_name", f"must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(field, f"must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise _fail(field, f"every item must be a string, got {item!r}")
    return items


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail("image_uri", "an image is required")
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
            raise _fail("accelerator_type", f"unknown accelerator {value!r}") from None
    else:
        raise _fail("accelerator_type", f"must be an AcceleratorType name or member, got {value!r}")
    return None if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    accelerator = _accelerator(accelerator_type)
    count = _count("accelerator_count", accelerator_count)
    if not isinstance(machine_type, str):
        raise _fail("machine_type", f"must be a string, got {machine_type!r}")
    if accelerator is None and count != 0:
        raise _fail("accelerator_count", "must be 0 without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            raise _fail("accelerator_type", f"{machine_type} comes with {gpu.name}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if accelerator not in N1_GPU_COUNTS:
            raise _fail("accelerator_type", f"{accelerator.name} cannot be attached to {machine_type}")
        allowed = N1_GPU_COUNTS[accelerator]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            raise _fail("accelerator_type", f"{machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        raise _fail("machine_type", f"unknown machine type {machine_type!r}")
    if count not in allowed:
        raise _fail("accelerator_count", f"{machine_type} with {accelerator.name} allows {allowed}, not {count}")
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
    _name("parent", parent, PARENT)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    _count("replica_count", replica_count, 1)
    image_uri = _image(image_uri)
    if package_uris or python_module is not None:
        if not package_uris:
            raise _fail("package_uris", "a python_module needs package_uris")
        if python_module is None:
            raise _fail("python_module", "package_uris need a python_module")
        _name("python_module", python_module, MODULE)
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            raise _fail("command", "a Python package job takes no command")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replica_count, **task)])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(
            output_uri_prefix=_gcs("base_output_directory", base_output_directory))
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping) or not split:
        raise _fail("traffic_split", "must be a non-empty mapping of deployed-model IDs to percentages")
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key):
            raise _fail("traffic_split", f"key {key!r} is not a deployed-model ID of 1 to 10 digits")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage from 0 to 100")
    total = sum(split.values())
    if total != 100:
        raise _fail("traffic_split", f"percentages add up to {total}, not 100")
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
    """Deploy `model` to `endpoint` on dedicated machines, with a checked traffic split."""
    endpoint_match = _name("endpoint", endpoint, ENDPOINT)
    model_match = _name("model", model, MODEL)
    if model_match["location"] != endpoint_match["location"]:
        raise _fail("model", f"is in {model_match['location']}, the endpoint in {endpoint_match['location']}")
    _display_name(display_name)
    _count("min_replica_count", min_replica_count, 1)
    _count("max_replica_count", max_replica_count, min_replica_count)
    split = _traffic_split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                                   dedicated_resources=resources),
        traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping, got {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"the config does not parse as a CustomJobSpec: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        raise _fail("worker_pool_specs", "the config has no worker pools")
    for pool in spec.worker_pool_specs:
        m = pool.machine_spec
        machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                     accelerator_count=m.accelerator_count)
        _count("replica_count", pool.replica_count, 1)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            if not package.package_uris:
                raise _fail("package_uris", "a Python package pool needs package_uris")
            for uri in package.package_uris:
                _gcs("package_uris", uri)
            if not package.python_module:
                raise _fail("python_module", "a Python package pool needs a python_module")
            _name("python_module", package.python_module, MODULE)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            raise _fail("image_uri", "the pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
