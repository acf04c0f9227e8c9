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



INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
_LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}")
ENDPOINT_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/endpoints/{_ID}")
MODEL_RE = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/{_ID}(?:@{_ID})?")
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.DOTALL)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY_RE = re.compile(r"[0-9]{1,10}")


def _fail(field, msg):
    raise ValueError(f"{field}: {msg}")


def _count(field, value, *, minimum=None, maximum=INT32_MAX):
    if type(value) is not int:
        _fail(field, f"must be an int, got {type(value).__name__} {value!r}")
    if value > maximum or value < -maximum - 1:
        _fail(field, f"{value} is out of range")
    if minimum is not None and value < minimum:
        _fail(field, f"must be at least {minimum}, got {value}")
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
        _fail("accelerator_type", f"must be an AcceleratorType name or member, got {value!r}")
    if member == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED:
        return None
    return member


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    gpu = _accelerator(accelerator_type)
    count = _count("accelerator_count", accelerator_count)
    if not isinstance(machine_type, str):
        _fail("machine_type", f"must be a string, got {machine_type!r}")
    if machine_type in FIXED_GPU_MACHINES:
        want, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != want:
            _fail("accelerator_type", f"{machine_type} comes with {want.name}, got {gpu}")
        allowed = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if gpu is None:
            allowed = (0,)
        elif gpu in N1_GPU_COUNTS:
            allowed = N1_GPU_COUNTS[gpu]
        else:
            _fail("accelerator_type", f"{gpu.name} does not fit {machine_type}")
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if gpu is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        allowed = (0,)
    else:
        _fail("machine_type", f"unknown machine type {machine_type!r}")
    if count not in allowed:
        _fail("accelerator_count", f"{count} not allowed, expected one of {allowed}")
    spec = aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_count=count)
    spec.accelerator_type = gpu if gpu is not None else Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    return spec


def _name(field, value, pattern):
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {value!r}")
    m = pattern.fullmatch(value)
    if m is None:
        _fail(field, f"malformed resource name {value!r}")
    return m


def _display_name(value):
    if not isinstance(value, str):
        _fail("display_name", f"must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 128:
        _fail("display_name", f"must be 1 to 128 characters, got {len(value)}")
    if value.isspace():
        _fail("display_name", "must not be only whitespace")
    return value


def _gcs(field, value):
    if not isinstance(value, str) or not GCS_RE.fullmatch(value):
        _fail(field, f"not a gs:// URI: {value!r}")
    return value


def _strings(field, value):
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        _fail(field, f"must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            _fail(field, f"items must be strings, got {item!r}")
    return items


def _module(value):
    if not isinstance(value, str) or not MODULE_RE.fullmatch(value):
        _fail("python_module", f"not a dotted module name: {value!r}")
    return value


def _image(value):
    if not isinstance(value, str) or not value:
        _fail("image_uri", "an image is required")
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
    _name("parent", parent, PARENT_RE)
    _display_name(display_name)
    command = _strings("command", command)
    args = _strings("args", args)
    package_uris = _strings("package_uris", package_uris)
    _count("replica_count", replica_count, minimum=1, maximum=INT64_MAX)
    _image(image_uri)
    is_package = bool(package_uris) or python_module is not None
    if is_package:
        if not package_uris:
            _fail("package_uris", "a python_module needs package_uris")
        if python_module is None:
            _fail("python_module", "package_uris need a python_module")
        _module(python_module)
        for uri in package_uris:
            _gcs("package_uris", uri)
        if command:
            _fail("command", "a Python package job takes no command")
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if is_package:
        task = {"python_package_spec": aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris,
            python_module=python_module, args=args)}
    else:
        task = {"container_spec": aiplatform_v1.ContainerSpec(
            image_uri=image_uri, command=command, args=args)}
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replica_count, **task)
    spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        spec.base_output_directory = aiplatform_v1.GcsDestination(output_uri_prefix=base_output_directory)
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
    e = _name("endpoint", endpoint, ENDPOINT_RE)
    m = _name("model", model, MODEL_RE)
    if e["location"] != m["location"]:
        _fail("model", f"model is in {m['location']}, endpoint in {e['location']}")
    _display_name(display_name)
    _count("min_replica_count", min_replica_count, minimum=1)
    _count("max_replica_count", max_replica_count)
    if max_replica_count < min_replica_count:
        _fail("max_replica_count", f"{max_replica_count} is below min_replica_count {min_replica_count}")
    if not isinstance(traffic_split, Mapping):
        _fail("traffic_split", "must be a mapping")
    split = dict(traffic_split.items())
    if not split:
        _fail("traffic_split", "must not be empty")
    for key, pct in split.items():
        if not isinstance(key, str) or not SPLIT_KEY_RE.fullmatch(key):
            _fail("traffic_split", f"bad deployed model id {key!r}")
        if type(pct) is not int or not 0 <= pct <= 100:
            _fail("traffic_split", f"bad percentage {pct!r} for {key!r}")
    total = sum(split.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model,
            display_name=display_name,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=machine,
                min_replica_count=min_replica_count,
                max_replica_count=max_replica_count,
            ),
        ),
        traffic_split=split,
    )


def _plain(value):
    """A deep copy made of dicts and lists, so the caller's objects are never touched."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: must be a mapping, got {type(config).__name__}")
    data = _plain(config)
    if isinstance(data.get("workerPoolSpecs"), dict):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except Exception as exc:  # ParseError, and anything else the parser trips on
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "a job needs at least one worker pool")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool or not pool.machine_spec.machine_type:
            _fail("machine_type", "every pool needs a machine type")
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        _count("replica_count", pool.replica_count, minimum=1, maximum=INT64_MAX)
        if "python_package_spec" in pool:
            pkg = pool.python_package_spec
            _image(pkg.executor_image_uri)
            if not pkg.package_uris:
                _fail("package_uris", "a Python package pool needs package_uris")
            for uri in pkg.package_uris:
                _gcs("package_uris", uri)
            _module(pkg.python_module)
        elif "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        else:
            _fail("image_uri", "a pool needs a containerSpec or a pythonPackageSpec")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
