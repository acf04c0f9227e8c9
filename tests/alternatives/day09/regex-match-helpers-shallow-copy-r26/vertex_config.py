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



INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}", re.ASCII)
ENDPOINT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}", re.ASCII)
MODEL_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?", re.ASCII)
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.ASCII | re.DOTALL)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}", re.ASCII)


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _count(field: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(field, f"must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        _fail(field, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        _fail(field, f"must be at most {maximum}, got {value}")
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
    accelerator = _accelerator(accelerator_type)
    count = _count("accelerator_count", accelerator_count)
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {machine_type!r}")
    if accelerator is None and count != 0:
        _fail("accelerator_count", "an accelerator count needs an accelerator_type")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if accelerator != gpu:
            _fail("accelerator_type", f"{machine_type} comes with {gpu.name}")
        allowed = {n}
    elif N1_MACHINE.fullmatch(machine_type) and machine_type.isascii():
        if accelerator is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if accelerator not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{accelerator.name} does not attach to {machine_type}")
        allowed = set(N1_GPU_COUNTS[accelerator])
    elif CPU_ONLY_MACHINE.fullmatch(machine_type) and machine_type.isascii():
        if accelerator is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        _fail("machine_type", f"{machine_type!r} is not a known machine type")
    if count not in allowed:
        _fail("accelerator_count", f"{machine_type} with {accelerator.name} allows {sorted(allowed)}, not {count}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=accelerator,
                                     accelerator_count=count)


def _match(field: str, pattern: re.Pattern, value: Any) -> re.Match:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {value!r}")
    m = pattern.fullmatch(value)
    if m is None:
        _fail(field, f"{value!r} is malformed")
    return m


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        _fail("display_name", f"must be 1 to 128 characters, not only whitespace, got {value!r}")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {value!r}")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        _fail(field, f"every item must be a string, got {items!r}")
    return items


def _gcs(field: str, value: Any) -> str:
    _match(field, GCS_RE, value)
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or not value:
        _fail("image_uri", f"an image is required, got {value!r}")
    return value


def _module(value: Any) -> str:
    _match("python_module", MODULE_RE, value)
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
    _match("parent", PARENT_RE, parent)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    is_package = bool(package_uris) or python_module is not None
    if is_package:
        if not package_uris:
            _fail("package_uris", "python_module needs package_uris")
        if python_module is None:
            _fail("python_module", "package_uris need a python_module")
        _module(python_module)
        if command:
            _fail("command", "a Python package job takes no command")
        for uri in package_uris:
            _gcs("package_uris", uri)
    _count("replica_count", replica_count, minimum=1, maximum=INT64_MAX)
    _image(image_uri)
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if is_package:
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)}
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
        _fail("traffic_split", "must not be empty")
    out = {}
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY_RE.fullmatch(key):
            _fail("traffic_split", f"key {key!r} is not a deployed-model ID")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            _fail("traffic_split", f"share {pct!r} for {key} is not a whole percentage")
        out[key] = pct
    total = sum(out.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    return out


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
    e = _match("endpoint", ENDPOINT_RE, endpoint)
    m = _match("model", MODEL_RE, model)
    if e["location"] != m["location"]:
        _fail("model", f"model is in {m['location']}, the endpoint in {e['location']}")
    _display_name(display_name)
    _count("min_replica_count", min_replica_count, minimum=1, maximum=INT32_MAX)
    _count("max_replica_count", max_replica_count, minimum=min_replica_count, maximum=INT32_MAX)
    split = _traffic_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    resources = aiplatform_v1.DedicatedResources(machine_spec=machine, min_replica_count=min_replica_count,
                                                 max_replica_count=max_replica_count)
    deployed = aiplatform_v1.DeployedModel(model=model, display_name=display_name, dedicated_resources=resources)
    return aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: a gcloud config must be a mapping, got {type(config).__name__}")
    data = dict(config)
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [dict(pools)]
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
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            if not package.package_uris:
                _fail("package_uris", "a Python package pool needs package_uris")
            for uri in package.package_uris:
                _gcs("package_uris", uri)
            if not package.python_module:
                _fail("python_module", "a Python package pool needs a python_module")
            _module(package.python_module)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            _fail("image_uri", "the pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
