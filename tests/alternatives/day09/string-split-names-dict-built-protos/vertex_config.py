"""Style B: string splitting instead of regexes, a dispatch of kinds, proto built from dicts."""
from __future__ import annotations

import re
import string
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

LOWER = set(string.ascii_lowercase)
DIGITS = set(string.digits)


class Invalid(ValueError):
    def __init__(self, field: str, why: str):
        super().__init__(f"invalid {field} ({why})")


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _is_int(v) -> bool:
    return type(v) is int


def _count_set(machine: str, acc):
    """(kind, allowed counts or None) for a machine; raises on the pairing."""
    fixed = FIXED_GPU_MACHINES.get(machine)
    if fixed:
        gpu, n = fixed
        if acc is not gpu and acc != gpu:
            raise Invalid("accelerator_type", f"{machine} comes with {gpu.name}")
        return {n}
    if N1_MACHINE.fullmatch(machine):
        if acc is None:
            return {0}
        if acc not in N1_GPU_COUNTS:
            raise Invalid("accelerator_type", f"{acc.name} cannot attach to {machine}")
        return set(N1_GPU_COUNTS[acc])
    if CPU_ONLY_MACHINE.fullmatch(machine):
        if acc is not None:
            raise Invalid("accelerator_type", f"{machine} takes no GPU")
        return {0}
    raise Invalid("machine_type", f"{machine!r} is not in the allowlist")


def machine_spec(*, machine_type, accelerator_type=None, accelerator_count=0):
    if isinstance(accelerator_type, str):
        acc = Accelerator.__members__.get(accelerator_type)
        if acc is None:
            raise Invalid("accelerator_type", f"no accelerator called {accelerator_type!r}")
    elif accelerator_type is None or isinstance(accelerator_type, Accelerator):
        acc = accelerator_type
    else:
        raise Invalid("accelerator_type", repr(accelerator_type))
    if acc == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED:
        acc = None
    if not _is_int(accelerator_count):
        raise Invalid("accelerator_count", "must be an int")
    if acc is None and accelerator_count:
        raise Invalid("accelerator_count", "a count without an accelerator")
    allowed = _count_set(machine_type if isinstance(machine_type, str) else "", acc)
    if accelerator_count not in allowed:
        raise Invalid("accelerator_count", f"{accelerator_count} is not one of {sorted(allowed)}")
    fields: dict[str, Any] = {"machine_type": machine_type}
    if acc is not None:
        fields.update(accelerator_type=acc, accelerator_count=accelerator_count)
    return aiplatform_v1.MachineSpec(fields)


# --- names by splitting -----------------------------------------------------------------
def _project_ok(p: str) -> bool:
    if p and p.isascii() and p.isdigit():
        return True
    return (6 <= len(p) <= 30 and p[0] in LOWER and p[-1] != "-"
            and set(p) <= LOWER | DIGITS | {"-"})


def _location_ok(loc: str) -> bool:
    if not loc or not loc.isascii():
        return False
    stripped = loc.rstrip(string.digits)
    if stripped == loc or not stripped:
        return False
    words = stripped.split("-")
    # the digits follow the last word directly: us-central1 -> ["us", "central"]
    return all(w and set(w) <= LOWER for w in words)


def _id_ok(i: str) -> bool:
    return (1 <= len(i) <= 63 and i[0] in LOWER | DIGITS
            and set(i) <= LOWER | DIGITS | {"_", "-"})


def _location_of(name, kind: str | None, field: str) -> str:
    parts = name.split("/") if isinstance(name, str) else []
    want = 4 if kind is None else 6
    if (len(parts) != want or parts[0] != "projects" or parts[2] != "locations"
            or not _project_ok(parts[1]) or not _location_ok(parts[3])):
        raise Invalid(field, f"expected projects/PROJECT/locations/LOCATION..., got {name!r}")
    if kind is not None:
        if parts[4] != kind:
            raise Invalid(field, f"expected .../{kind}/ID, got {name!r}")
        last = parts[5]
        if kind == "models" and "@" in last:
            last, version = last.split("@", 1)
            if not _id_ok(version):
                raise Invalid(field, f"bad version in {name!r}")
        if not _id_ok(last):
            raise Invalid(field, f"bad ID in {name!r}")
    return parts[3]


def _bucket_ok(b: str) -> bool:
    return (3 <= len(b) <= 63 and b[0] in LOWER | DIGITS and b[-1] in LOWER | DIGITS
            and set(b) <= LOWER | DIGITS | {".", "_", "-"})


def _check_gcs(uri, field):
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise Invalid(field, f"{uri!r} is not a gs:// URI")
    bucket = uri[len("gs://"):].partition("/")[0]
    if not _bucket_ok(bucket):
        raise Invalid(field, f"bad bucket in {uri!r}")


def _check_display(name):
    if not isinstance(name, str) or len(name) > 128 or name.strip() == "":
        raise Invalid("display_name", "1 to 128 characters, not blank")


def _as_list(value, field):
    if isinstance(value, str) or not isinstance(value, Sequence):  # any sequence, not only list or tuple
        raise Invalid(field, "must be a list of strings, not one string")
    if any(not isinstance(v, str) for v in value):
        raise Invalid(field, "every item must be a string")
    return list(value)


def _check_module(mod):
    ok = isinstance(mod, str) and mod != "" and all(
        part.isidentifier() and part.isascii() for part in mod.split("."))
    if not ok:
        raise Invalid("python_module", f"{mod!r} is not a dotted module name")


def _check_pool(replicas, image, packages, module, command):
    if not _is_int(replicas) or replicas < 1:
        raise Invalid("replica_count", f"{replicas!r} is not an int >= 1")
    if replicas > _FIELD_MAX["replica_count"]:
        raise Invalid("replica_count", f"{replicas} is more than the API field holds")
    if not isinstance(image, str) or not image:
        raise Invalid("image_uri", "no image given")
    if not packages and module is None:
        return "container_spec"
    if not module:
        raise Invalid("python_module", "package_uris without python_module")
    if not packages:
        raise Invalid("package_uris", "python_module without package_uris")
    _check_module(module)
    for uri in packages:
        _check_gcs(uri, "package_uris")
    if command:
        raise Invalid("command", "a python package takes no command")
    return "python_package_spec"


def custom_job_request(*, parent, display_name, machine_type, image_uri, accelerator_type=None,
                       accelerator_count=0, replica_count=1, command=(), args=(), package_uris=(),
                       python_module=None, base_output_directory=None):
    _location_of(parent, None, "parent")
    _check_display(display_name)
    command, args, package_uris = (_as_list(v, f) for v, f in
                                   ((command, "command"), (args, "args"), (package_uris, "package_uris")))
    kind = _check_pool(replica_count, image_uri, package_uris, python_module, command)
    if base_output_directory is not None:
        _check_gcs(base_output_directory, "base_output_directory")
    pool: dict[str, Any] = {
        "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                     accelerator_count=accelerator_count),
        "replica_count": replica_count,
    }
    if kind == "container_spec":
        pool[kind] = {"image_uri": image_uri, "command": command, "args": args}
    else:
        pool[kind] = {"executor_image_uri": image_uri, "package_uris": package_uris,
                      "python_module": python_module, "args": args}
    job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {"output_uri_prefix": base_output_directory}
    return aiplatform_v1.CreateCustomJobRequest(
        {"parent": parent, "custom_job": {"display_name": display_name, "job_spec": job_spec}})


def deploy_model_request(*, endpoint, model, display_name, machine_type, min_replica_count, max_replica_count,
                         traffic_split, accelerator_type=None, accelerator_count=0):
    where = _location_of(endpoint, "endpoints", "endpoint")
    if _location_of(model, "models", "model") != where:
        raise Invalid("model", "the model must be in the endpoint's location")
    _check_display(display_name)
    if not _is_int(min_replica_count) or min_replica_count < 1:
        raise Invalid("min_replica_count", "an int of at least 1")
    if not _is_int(max_replica_count) or max_replica_count < min_replica_count:
        raise Invalid("max_replica_count", "an int of at least min_replica_count")
    for field, value in (("min_replica_count", min_replica_count), ("max_replica_count", max_replica_count)):
        if value > _FIELD_MAX[field]:
            raise Invalid(field, f"{value} is more than the API field holds")
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise Invalid("traffic_split", "a non-empty mapping of IDs to percentages")
    keys_ok = all(isinstance(k, str) and 1 <= len(k) <= 10 and k.isascii() and k.isdigit()
                  for k in traffic_split)
    values_ok = all(_is_int(v) and 0 <= v <= 100 for v in traffic_split.values())
    if not (keys_ok and values_ok):
        raise Invalid("traffic_split", "keys are deployed-model IDs, values whole percentages 0..100")
    if sum(traffic_split.values()) != 100:
        raise Invalid("traffic_split", f"percentages add up to {sum(traffic_split.values())}, not 100")
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint)
    request.deployed_model = aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                                         dedicated_resources=resources)
    for k, v in traffic_split.items():
        request.traffic_split[k] = v
    return request


def _deep_copy(value):
    """A deep copy in which every mapping, read-only ones too, becomes a plain dict."""
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def custom_job_spec_from_gcloud(config):
    if not isinstance(config, Mapping):
        raise Invalid("config", "the config must be a mapping")
    data = _deep_copy(config)
    pools = data.get("workerPoolSpecs", data.get("worker_pool_specs"))
    if isinstance(pools, Mapping):
        data["workerPoolSpecs" if "workerPoolSpecs" in data else "worker_pool_specs"] = [pools]
    message = aiplatform_v1.CustomJobSpec.pb()()
    try:
        json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise ValueError(f"config does not parse: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        m = pool.machine_spec
        machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                     accelerator_count=m.accelerator_count)
        if "python_package_spec" in pool:
            p = pool.python_package_spec
            if not p.python_module:
                raise Invalid("python_module", "missing")
            if not p.package_uris:
                raise Invalid("package_uris", "missing")
            _check_pool(pool.replica_count, p.executor_image_uri, list(p.package_uris), p.python_module, [])
        else:
            c = pool.container_spec
            _check_pool(pool.replica_count, c.image_uri, [], None, list(c.command))
    if "base_output_directory" in spec:
        _check_gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
