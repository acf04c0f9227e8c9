"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

Why: `google.cloud.aiplatform_v1` objects reject unknown fields and wrong types, but they
happily carry a T4 on an e2 machine, `gs:/bucket`, min replicas above max or a traffic
split of 90/5. The API would refuse those minutes later, after a submit, a queue and a
bill; checking them here turns each into an immediate ValueError that names the field.
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

# --- Names and URIs ----------------------------------------------------------------------

_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"[a-z]+(?:-[a-z]+)*[0-9]+"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT = re.compile(rf"projects/{_PROJECT}/locations/(?P<location>{_LOCATION})")
ENDPOINT = re.compile(rf"{PARENT.pattern}/endpoints/{_ID}")
MODEL = re.compile(rf"{PARENT.pattern}/models/{_ID}(?:@{_ID})?")
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.DOTALL)
DEPLOYED_MODEL_ID = re.compile(r"[0-9]{1,10}")
MAX_DISPLAY_NAME = 128


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type: expected a string like 'n1-standard-4', got {machine_type!r}")
    accelerator = _accelerator(accelerator_type)
    if isinstance(accelerator_count, bool) or not isinstance(accelerator_count, int):
        raise ValueError(f"accelerator_count: expected a whole number, got {accelerator_count!r}")
    if accelerator is None and accelerator_count != 0:
        raise ValueError(f"accelerator_count: {accelerator_count} given but no accelerator_type")

    if machine_type in FIXED_GPU_MACHINES:
        gpu, count = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            raise ValueError(f"accelerator_type: {machine_type} comes with {gpu.name}, "
                             f"not {_label(accelerator)}")
        allowed: tuple[int, ...] = (count,)
    elif N1_MACHINE.fullmatch(machine_type):
        if accelerator is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if accelerator not in N1_GPU_COUNTS:
            raise ValueError(f"accelerator_type: {accelerator.name} cannot be attached to "
                             f"{machine_type}; N1 takes {', '.join(a.name for a in N1_GPU_COUNTS)}")
        allowed = N1_GPU_COUNTS[accelerator]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if accelerator is not None:
            raise ValueError(f"accelerator_type: {machine_type} takes no accelerator, "
                             f"got {accelerator.name}")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        raise ValueError(f"machine_type: {machine_type!r} is not a known machine type")

    if accelerator_count not in allowed:
        raise ValueError(f"accelerator_count: {machine_type} with {accelerator.name} takes "
                         f"{' or '.join(map(str, allowed))}, got {accelerator_count}")
    return aiplatform_v1.MachineSpec(
        machine_type=machine_type, accelerator_type=accelerator, accelerator_count=accelerator_count
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
    """One worker pool running a custom container, or a Python package on a prebuilt image."""
    _check_resource_name(parent, "parent")
    _check_display_name(display_name)
    if not isinstance(image_uri, str):
        raise ValueError(f"image_uri: expected a string, got {image_uri!r}")
    if python_module is not None and not isinstance(python_module, str):
        raise ValueError(f"python_module: expected a dotted module name, got {python_module!r}")
    if base_output_directory is not None:
        _check_gcs_uri(base_output_directory, "base_output_directory")
    command, args, package_uris = (
        _strings(command, "command"), _strings(args, "args"), _strings(package_uris, "package_uris")
    )
    if package_uris or python_module is not None:
        if command:
            raise ValueError("command: a Python package job runs its python_module; pass flags in args")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris,
            python_module=python_module or "", args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(
            image_uri=image_uri, command=command, args=args)}
    _check_count(replica_count, "replica_count")
    pool = aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replica_count,
        **task,
    )
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    _check_job_spec(spec)
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
    """Deploy `model` to `endpoint` on dedicated machines, with a checked traffic split."""
    endpoint_location = _check_resource_name(endpoint, "endpoint", ENDPOINT)
    if _check_resource_name(model, "model", MODEL) != endpoint_location:
        raise ValueError(f"model: {model} is not in the endpoint's location {endpoint_location}")
    _check_display_name(display_name)
    _check_count(min_replica_count, "min_replica_count")
    _check_count(max_replica_count, "max_replica_count")
    if max_replica_count < min_replica_count:
        raise ValueError(f"max_replica_count: {max_replica_count} is below "
                         f"min_replica_count {min_replica_count}")
    _check_traffic_split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count,
        max_replica_count=max_replica_count,
    )
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model, display_name=display_name, dedicated_resources=resources),
        traffic_split=dict(traffic_split),
    )


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec.

    gcloud accepts `workerPoolSpecs` written as a single mapping; the REST API and
    `json_format.ParseDict` want a list, so one mapping becomes a one-pool list.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config: expected a mapping (a CustomJobSpec), got {type(config).__name__}")
    normalised = dict(config)
    if isinstance(normalised.get("workerPoolSpecs"), Mapping):
        normalised["workerPoolSpecs"] = [normalised["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(normalised, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    _check_job_spec(spec)
    return spec


# --- checks shared by the builders and the gcloud path -------------------------------------


def _check_job_spec(spec: aiplatform_v1.CustomJobSpec) -> None:
    if not spec.worker_pool_specs:
        raise ValueError("worker_pool_specs: a job needs at least one worker pool")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _check_count(pool.replica_count, "replica_count")
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            if not package.package_uris:
                raise ValueError("package_uris: a Python package job needs at least one gs:// package")
            for uri in package.package_uris:
                _check_gcs_uri(uri, "package_uris")
            if not all(part.isidentifier() for part in package.python_module.split(".")):
                raise ValueError(f"python_module: {package.python_module!r} is not a dotted "
                                 f"module name like 'trainer.task'")
            image = package.executor_image_uri
        else:
            image = pool.container_spec.image_uri
        if not image.strip():
            raise ValueError("image_uri: a worker pool needs a container image")
    if "base_output_directory" in spec:
        _check_gcs_uri(spec.base_output_directory.output_uri_prefix, "base_output_directory")


def _accelerator(value: str | Accelerator | None) -> Accelerator | None:
    if value is None:
        return None
    try:
        accelerator = Accelerator[value] if isinstance(value, str) else Accelerator(value)
    except (KeyError, ValueError):
        raise ValueError(f"accelerator_type: {value!r} is not an AcceleratorType") from None
    return None if accelerator == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else accelerator


def _label(accelerator: Accelerator | None) -> str:
    return "no accelerator" if accelerator is None else accelerator.name


def _check_resource_name(name: str, field: str, pattern: re.Pattern[str] = PARENT) -> str:
    """Checks a resource name and returns its location, which Vertex AI is scoped to."""
    match = pattern.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"{field}: {name!r} does not match {_shape(pattern)}")
    return match["location"]


def _shape(pattern: re.Pattern[str]) -> str:
    suffix = {ENDPOINT: "/endpoints/ENDPOINT_ID", MODEL: "/models/MODEL_ID"}.get(pattern, "")
    return "projects/PROJECT/locations/LOCATION" + suffix


def _check_display_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_DISPLAY_NAME:
        raise ValueError(f"display_name: expected 1 to {MAX_DISPLAY_NAME} characters, got {name!r}")


def _check_gcs_uri(uri: str, field: str) -> None:
    if not isinstance(uri, str) or not GCS_URI.fullmatch(uri):
        raise ValueError(f"{field}: {uri!r} is not a gs://BUCKET/PATH Cloud Storage URI")


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _check_count(value: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field}: expected a whole number of at least 1, got {value!r}")
    if value > _FIELD_MAX[field]:
        raise ValueError(f"{field}: {value} is more than the API field holds ({_FIELD_MAX[field]})")


def _strings(values: Sequence[str], field: str) -> list[str]:
    if (isinstance(values, str) or not isinstance(values, Sequence)
            or not all(isinstance(v, str) for v in values)):
        raise ValueError(f"{field}: expected a list of strings, got {values!r}")
    return list(values)


def _check_traffic_split(split: Mapping[str, int]) -> None:
    if not isinstance(split, Mapping) or not split:
        raise ValueError("traffic_split: give at least one deployed-model ID, '0' for this model")
    for key, percent in split.items():
        if not isinstance(key, str) or not DEPLOYED_MODEL_ID.fullmatch(key):
            raise ValueError(f"traffic_split: key {key!r} is not a deployed-model ID "
                             f"(1 to 10 digits, '0' for the model being deployed)")
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError(f"traffic_split: {key!r} has {percent!r}; percentages are "
                             f"whole numbers from 0 to 100")
    if sum(split.values()) != 100:
        raise ValueError(f"traffic_split: percentages add up to {sum(split.values())}, not 100")
