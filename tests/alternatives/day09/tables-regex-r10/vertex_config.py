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

_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT = re.compile(rf"{PARENT.pattern}/endpoints/{_ID}", re.ASCII)
MODEL = re.compile(rf"{PARENT.pattern}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY = re.compile(r"[0-9]{1,10}", re.ASCII)


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _count(field: str, value: Any, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(field, f"must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        _fail(field, f"must be at least {minimum}, got {value}")
    if value > _FIELD_MAX.get(field, value):
        _fail(field, f"{value} is more than the API field holds")
    return value


def _match(field: str, pattern: re.Pattern, value: Any) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {value!r}")
    found = pattern.fullmatch(value)
    if found is None:
        _fail(field, f"{value!r} is not a valid {field}")
    return found


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        _fail("display_name", f"must be 1 to 128 characters, not only whitespace: {value!r}")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"every item must be a string, got {item!r}")
    return items


def _accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        found = value
    elif isinstance(value, str):
        try:
            found = Accelerator[value]
        except KeyError:
            _fail("accelerator_type", f"unknown accelerator {value!r}")
    else:
        _fail("accelerator_type", f"must be an AcceleratorType name or member, got {value!r}")
    return None if found == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else found


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {machine_type!r}")
    gpu = _accelerator(accelerator_type)
    count = _count("accelerator_count", accelerator_count)
    if gpu is None and count != 0:
        _fail("accelerator_count", f"{count} given without an accelerator")
    if machine_type in FIXED_GPU_MACHINES:
        fixed, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != fixed:
            _fail("accelerator_type", f"{machine_type} comes with {fixed.name}, not {gpu.name if gpu else None}")
        allowed: tuple[int, ...] = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if gpu is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if gpu not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{gpu.name} does not attach to {machine_type}")
        allowed = N1_GPU_COUNTS[gpu]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if gpu is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator, got {gpu.name}")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        _fail("machine_type", f"{machine_type!r} is not a known machine type")
    if count not in allowed:
        _fail("accelerator_count", f"{count} {gpu.name} on {machine_type}; allowed: {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=gpu,
                                     accelerator_count=count)


def _package_or_container(*, image_uri, command, args, package_uris, python_module):
    if not isinstance(image_uri, str) or not image_uri:
        _fail("image_uri", f"an image is required, got {image_uri!r}")
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    if package_uris or python_module is not None:
        if not package_uris:
            _fail("package_uris", "python_module needs at least one package")
        if python_module is None:
            _fail("python_module", "package_uris need a python_module to run")
        _match("python_module", MODULE, python_module)
        if command:
            _fail("command", "a python package job takes no command")
        for uri in package_uris:
            _match("package_uris", GCS_URI, uri)
        return "python_package_spec", aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris,
            python_module=python_module, args=args)
    return "container_spec", aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)


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
    _match("parent", PARENT, parent)
    _display_name(display_name)
    _count("replica_count", replica_count, minimum=1)
    field, task = _package_or_container(image_uri=image_uri, command=command, args=args,
                                        package_uris=package_uris, python_module=python_module)
    if base_output_directory is not None:
        _match("base_output_directory", GCS_URI, base_output_directory)
    pool = aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replica_count, **{field: task})
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=spec))


def _traffic_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping) or not split:
        _fail("traffic_split", f"must be a non-empty mapping of IDs to percentages, got {split!r}")
    checked: dict[str, int] = {}
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key):
            _fail("traffic_split", f"key {key!r} is not a deployed model ID of 1 to 10 digits")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
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
    where = _match("endpoint", ENDPOINT, endpoint)["location"]
    model_where = _match("model", MODEL, model)["location"]
    if model_where != where:
        _fail("model", f"the model is in {model_where}, the endpoint in {where}")
    _display_name(display_name)
    low = _count("min_replica_count", min_replica_count, minimum=1)
    _count("max_replica_count", max_replica_count, minimum=low)
    split = _traffic_split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                           dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        _fail("config", f"must be a mapping, got {type(config).__name__}")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "the config has no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _count("replica_count", pool.replica_count, minimum=1)
        if "python_package_spec" in pool:
            pkg = pool.python_package_spec
            _package_or_container(image_uri=pkg.executor_image_uri, command=(), args=list(pkg.args),
                                  package_uris=list(pkg.package_uris), python_module=pkg.python_module)
        elif "container_spec" in pool:
            box = pool.container_spec
            _package_or_container(image_uri=box.image_uri, command=list(box.command), args=list(box.args),
                                  package_uris=(), python_module=None)
        else:
            _fail("image_uri", "the pool has neither containerSpec nor pythonPackageSpec, so no image")
    if "base_output_directory" in spec:
        _match("base_output_directory", GCS_URI, spec.base_output_directory.output_uri_prefix)
    return spec
