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

_PROJECT = r"(?:[a-z](?:[a-z0-9-]{4,28})[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}", re.ASCII)
MODEL = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY = re.compile(r"[0-9]{1,10}", re.ASCII)

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _count(field: str, value: Any, maximum: int) -> int:
    if type(value) is bool or not isinstance(value, int):
        _fail(field, f"must be an int, got {type(value).__name__} {value!r}")
    if value > maximum:
        _fail(field, f"{value} is too large for the API (at most {maximum})")
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
    gpu = _accelerator(accelerator_type)
    count = _count("accelerator_count", accelerator_count, INT32_MAX)
    if gpu is None and count != 0:
        _fail("accelerator_count", f"{count} accelerators but no accelerator_type")
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {machine_type!r}")
    if machine_type in FIXED_GPU_MACHINES:
        fixed_gpu, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != fixed_gpu:
            _fail("accelerator_type", f"{machine_type} comes with {fixed_gpu.name}, not {gpu}")
        allowed: tuple[int, ...] = (n,)
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
        _fail("machine_type", f"{machine_type!r} is not a known machine type")
    if count not in allowed:
        _fail("accelerator_count", f"{machine_type} with {gpu.name} takes {allowed}, not {count}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=gpu, accelerator_count=count)


def _string_list(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"items must be strings, got {item!r}")
    return items


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or not GCS.fullmatch(value):
        _fail(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        _fail("display_name", f"must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _name(field: str, pattern: re.Pattern, value: Any) -> re.Match:
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        _fail(field, f"{value!r} is not a valid {field} resource name")
    return match


def _module(value: Any) -> str:
    if not isinstance(value, str) or not MODULE.fullmatch(value):
        _fail("python_module", f"{value!r} is not a dotted module name")
    return value


def _pool(*, machine: aiplatform_v1.MachineSpec, replica_count: Any, image_uri: Any, command: list[str],
          args: list[str], package_uris: list[str], python_module: Any) -> aiplatform_v1.WorkerPoolSpec:
    replicas = _count("replica_count", replica_count, INT64_MAX)
    if replicas < 1:
        _fail("replica_count", f"must be at least 1, got {replicas}")
    if not isinstance(image_uri, str) or not image_uri:
        _fail("image_uri", "an image is required")
    if package_uris or python_module is not None:
        if not package_uris:
            _fail("package_uris", "python_module needs package_uris")
        if python_module is None:
            _fail("python_module", "package_uris need a python_module")
        _module(python_module)
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            _fail("command", "a Python package job takes no command")
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
    return aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replicas, **task)


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
    _name("parent", PARENT, parent)
    _display_name(display_name)
    command = _string_list("command", command)
    args = _string_list("args", args)
    package_uris = _string_list("package_uris", package_uris)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    pool = _pool(machine=machine, replica_count=replica_count, image_uri=image_uri, command=command, args=args,
                 package_uris=package_uris, python_module=python_module)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(
            output_uri_prefix=_gcs("base_output_directory", base_output_directory))
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


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
    where = _name("endpoint", ENDPOINT, endpoint)
    if _name("model", MODEL, model)["location"] != where["location"]:
        _fail("model", "the model must be in the endpoint's location")
    _display_name(display_name)
    low = _count("min_replica_count", min_replica_count, INT32_MAX)
    if low < 1:
        _fail("min_replica_count", f"must be at least 1, got {low}")
    high = _count("max_replica_count", max_replica_count, INT32_MAX)
    if high < low:
        _fail("max_replica_count", f"{high} is below min_replica_count {low}")
    if not isinstance(traffic_split, Mapping) or not traffic_split:
        _fail("traffic_split", "must be a non-empty mapping of deployed-model IDs to percentages")
    split = dict(traffic_split)
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key):
            _fail("traffic_split", f"key {key!r} is not a deployed-model ID")
        if type(pct) is bool or not isinstance(pct, int) or not 0 <= pct <= 100:
            _fail("traffic_split", f"{key}: {pct!r} is not a whole percentage")
    if sum(split.values()) != 100:
        _fail("traffic_split", f"percentages add up to {sum(split.values())}, not 100")
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
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        _fail("config", f"must be a mapping, got {type(config).__name__}")
    data = dict(config)
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [pools]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except (json_format.ParseError, TypeError, AttributeError) as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "the job needs at least one worker pool")
    for pool in spec.worker_pool_specs:
        m = pool.machine_spec
        if not m.machine_type:
            _fail("machine_type", "a worker pool needs a machine_spec with a machine type")
        machine = machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                               accelerator_count=m.accelerator_count)
        if "python_package_spec" in pool:
            p = pool.python_package_spec
            _pool(machine=machine, replica_count=pool.replica_count, image_uri=p.executor_image_uri, command=[],
                  args=list(p.args), package_uris=list(p.package_uris), python_module=p.python_module or "")
            if not p.package_uris:
                _fail("package_uris", "python_module needs package_uris")
        elif "container_spec" in pool:
            c = pool.container_spec
            _pool(machine=machine, replica_count=pool.replica_count, image_uri=c.image_uri, command=list(c.command),
                  args=list(c.args), package_uris=[], python_module=None)
        else:
            _fail("image_uri", "a worker pool needs a containerSpec or a pythonPackageSpec with an image")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
