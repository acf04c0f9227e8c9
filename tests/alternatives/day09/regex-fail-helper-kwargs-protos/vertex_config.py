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

PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)"
LOCATION = r"(?P<location>[a-z]+(?:-[a-z]+)*[0-9]+)"
ID = r"[a-z0-9][a-z0-9_-]{0,62}"
PARENT = rf"projects/{PROJECT}/locations/{LOCATION}"
ENDPOINT_RE = re.compile(rf"{PARENT}/endpoints/{ID}")
MODEL_RE = re.compile(rf"{PARENT}/models/{ID}(?:@{ID})?")
PARENT_RE = re.compile(PARENT)
GCS_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](?:/.*)?", re.DOTALL)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SPLIT_KEY = re.compile(r"[0-9]{1,10}")


def _fail(field, why):
    raise ValueError(f"{field}: {why}")


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _int(value, field):
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(field, f"must be an int, got {value!r}")
    if value > _FIELD_MAX.get(field, value):
        _fail(field, f"{value} is more than the API field holds")
    return value


def _accelerator(value):
    if value is None:
        return None
    if isinstance(value, Accelerator):
        acc = value
    elif isinstance(value, str):
        try:
            acc = Accelerator[value]
        except KeyError:
            _fail("accelerator_type", f"unknown accelerator {value!r}")
    else:
        _fail("accelerator_type", f"unknown accelerator {value!r}")
    return None if acc == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else acc


def machine_spec(*, machine_type, accelerator_type=None, accelerator_count=0):
    acc = _accelerator(accelerator_type)
    _int(accelerator_count, "accelerator_count")
    if not isinstance(machine_type, str):
        _fail("machine_type", "must be a string")
    if acc is None and accelerator_count != 0:
        _fail("accelerator_count", "no accelerator means a count of 0")
    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        if acc != gpu:
            _fail("accelerator_type", f"{machine_type} needs {gpu.name}")
        allowed = (n,)
    elif N1_MACHINE.fullmatch(machine_type):
        if acc is None:
            return aiplatform_v1.MachineSpec(machine_type=machine_type)
        if acc not in N1_GPU_COUNTS:
            _fail("accelerator_type", f"{acc.name} does not attach to N1")
        allowed = N1_GPU_COUNTS[acc]
    elif CPU_ONLY_MACHINE.fullmatch(machine_type):
        if acc is not None:
            _fail("accelerator_type", f"{machine_type} takes no accelerator")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    else:
        _fail("machine_type", f"unknown machine {machine_type!r}")
    if accelerator_count not in allowed:
        _fail("accelerator_count", f"{accelerator_count} not in {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=acc,
                                     accelerator_count=accelerator_count)


def _name(value, pattern, field):
    m = pattern.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        _fail(field, f"malformed resource name {value!r}")
    return m


def _display(value):
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        _fail("display_name", "1 to 128 characters, not only whitespace")


def _strings(value, field):
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(field, "must be a list of strings")
    for item in value:
        if not isinstance(item, str):
            _fail(field, f"item {item!r} is not a string")
    return list(value)


def _gcs(value, field):
    if not isinstance(value, str) or not GCS_RE.fullmatch(value):
        _fail(field, f"not a gs:// URI: {value!r}")


def _pool_checks(*, replica_count, image_uri, package_uris, python_module, command):
    _int(replica_count, "replica_count")
    if replica_count < 1:
        _fail("replica_count", "at least 1")
    if not isinstance(image_uri, str) or not image_uri:
        _fail("image_uri", "an image is required")
    if package_uris or python_module is not None:
        if not package_uris:
            _fail("package_uris", "a python_module needs package_uris")
        if not python_module:
            _fail("python_module", "package_uris need a python_module")
        if not isinstance(python_module, str) or not MODULE_RE.fullmatch(python_module):
            _fail("python_module", f"not a dotted module name: {python_module!r}")
        for uri in package_uris:
            _gcs(uri, "package_uris")
        if command:
            _fail("command", "a python package takes no command")
        return True
    return False


def custom_job_request(*, parent, display_name, machine_type, image_uri, accelerator_type=None,
                       accelerator_count=0, replica_count=1, command=(), args=(), package_uris=(),
                       python_module=None, base_output_directory=None):
    _name(parent, PARENT_RE, "parent")
    _display(display_name)
    command = _strings(command, "command")
    args = _strings(args, "args")
    package_uris = _strings(package_uris, "package_uris")
    is_package = _pool_checks(replica_count=replica_count, image_uri=image_uri, package_uris=package_uris,
                              python_module=python_module, command=command)
    if base_output_directory is not None:
        _gcs(base_output_directory, "base_output_directory")
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    if is_package:
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


def deploy_model_request(*, endpoint, model, display_name, machine_type, min_replica_count, max_replica_count,
                         traffic_split, accelerator_type=None, accelerator_count=0):
    e = _name(endpoint, ENDPOINT_RE, "endpoint")
    m = _name(model, MODEL_RE, "model")
    if e["location"] != m["location"]:
        _fail("model", "model and endpoint must be in the same location")
    _display(display_name)
    _int(min_replica_count, "min_replica_count")
    if min_replica_count < 1:
        _fail("min_replica_count", "at least 1")
    _int(max_replica_count, "max_replica_count")
    if max_replica_count < min_replica_count:
        _fail("max_replica_count", "at least min_replica_count")
    if not isinstance(traffic_split, Mapping) or not traffic_split:
        _fail("traffic_split", "a non-empty mapping")
    for key, pct in traffic_split.items():
        if not isinstance(key, str) or not SPLIT_KEY.fullmatch(key):
            _fail("traffic_split", f"bad key {key!r}")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            _fail("traffic_split", f"bad percentage {pct!r}")
    total = sum(traffic_split.values())
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model=aiplatform_v1.DeployedModel(
            model=model, display_name=display_name,
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=spec, min_replica_count=min_replica_count, max_replica_count=max_replica_count)),
        traffic_split=dict(traffic_split))


def custom_job_spec_from_gcloud(config):
    if not isinstance(config, Mapping):
        raise ValueError("config: not a mapping")
    data = dict(config)
    if isinstance(data.get("workerPoolSpecs"), Mapping):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if not spec.worker_pool_specs:
        _fail("worker_pool_specs", "at least one pool")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        machine_spec(machine_type=ms.machine_type, accelerator_type=Accelerator(ms.accelerator_type),
                     accelerator_count=ms.accelerator_count)
        if "python_package_spec" in pool:
            p = pool.python_package_spec
            _pool_checks(replica_count=pool.replica_count, image_uri=p.executor_image_uri,
                         package_uris=list(p.package_uris), python_module=p.python_module, command=[])
            if not p.package_uris:
                _fail("package_uris", "needed")
            if not p.python_module:
                _fail("python_module", "needed")
        else:
            _pool_checks(replica_count=pool.replica_count, image_uri=pool.container_spec.image_uri,
                         package_uris=[], python_module=None, command=list(pool.container_spec.command))
    if "base_output_directory" in spec:
        _gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
