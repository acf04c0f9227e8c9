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
from google.protobuf import json_format  # noqa: F401  (task 4)

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
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}")
ENDPOINT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}")
MODEL = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?")
GCS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.DOTALL)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY = re.compile(r"[0-9]{1,10}")


def _fail(field: str, why: str):
    raise ValueError(f"{field}: {why}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _count(field: str, value, minimum: int) -> int:
    if not _is_int(value):
        _fail(field, f"must be an int, not {value!r}")
    if value < minimum:
        _fail(field, f"must be at least {minimum}, not {value}")
    if value > _FIELD_MAX.get(field, value):
        _fail(field, f"{value} is more than the API field holds")
    return value


def _name(field: str, value, pattern: re.Pattern):
    if not isinstance(value, str):
        _fail(field, f"must be a string, not {value!r}")
    found = pattern.fullmatch(value)
    if not found:
        _fail(field, f"{value!r} is not a valid {field} name")
    return found


def _display_name(value) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        _fail("display_name", f"must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _gcs(field: str, value) -> str:
    if not isinstance(value, str) or not GCS.fullmatch(value):
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _strings(field: str, value) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, not {value!r}")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        _fail(field, f"every item must be a string: {items!r}")
    return items


def _image(value) -> str:
    if not isinstance(value, str) or not value:
        _fail("image_uri", f"an image is required, not {value!r}")
    return value


def _module(value) -> str:
    if not isinstance(value, str) or not MODULE.fullmatch(value):
        _fail("python_module", f"{value!r} is not a dotted module name such as trainer.task")
    return value


def _accelerator(value):
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
        _fail("accelerator_type", f"must be an AcceleratorType name or member, not {value!r}")
    return None if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    accelerator = _accelerator(accelerator_type)
    if not _is_int(accelerator_count):
        _fail("accelerator_count", f"must be an int, not {accelerator_count!r}")
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, not {machine_type!r}")
    if accelerator is None and accelerator_count != 0:
        _fail("accelerator_count", "a count without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            _fail("accelerator_type", f"{machine_type} comes with {gpu.name}")
        allowed = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            allowed = (0,)
        elif accelerator not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{accelerator.name} does not fit {machine_type}")
        else:
            allowed = N1_GPU_COUNTS[accelerator]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        allowed = (0,)
    else:
        _fail("machine_type", f"{machine_type!r} is not in the table")
    if accelerator_count not in allowed:
        _fail("accelerator_count", f"{accelerator_count} not in {allowed}")
    return aiplatform_v1.MachineSpec(
        machine_type=machine_type,
        accelerator_type=accelerator or Accelerator.ACCELERATOR_TYPE_UNSPECIFIED,
        accelerator_count=accelerator_count,
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
    _name("parent", parent, PARENT)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    _count("replica_count", replica_count, 1)
    _image(image_uri)
    pool = aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replica_count,
    )
    if package_uris or python_module is not None:
        if not package_uris:
            _fail("package_uris", "python_module needs package_uris")
        if python_module is None:
            _fail("python_module", "package_uris needs python_module")
        for uri in package_uris:
            _gcs("package_uris", uri)
        _module(python_module)
        if command:
            _fail("command", "a Python package job takes no command")
        pool.python_package_spec = aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)
    else:
        pool.container_spec = aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(
            output_uri_prefix=_gcs("base_output_directory", base_output_directory))
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _traffic_split(split) -> dict[str, int]:
    if not isinstance(split, Mapping) or not split:
        _fail("traffic_split", f"must be a non-empty mapping, not {split!r}")
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key):
            _fail("traffic_split", f"key {key!r} is not a deployed-model ID")
        if not _is_int(pct) or not 0 <= pct <= 100:
            _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage")
    total = sum(split.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
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
        _fail("model", f"must be in the endpoint's location {where}")
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
    if not isinstance(config, Mapping):
        _fail("config", f"must be a mapping, not {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "at least one worker pool is required")
    for pool in spec.worker_pool_specs:
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=Accelerator(pool.machine_spec.accelerator_type),
                     accelerator_count=pool.machine_spec.accelerator_count)
        _count("replica_count", pool.replica_count, 1)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            if not package.package_uris:
                _fail("package_uris", "a Python package pool needs package_uris")
            for uri in package.package_uris:
                _gcs("package_uris", uri)
            _module(package.python_module)
        else:
            _image(pool.container_spec.image_uri)
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
