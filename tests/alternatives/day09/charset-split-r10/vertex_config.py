"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

Style: no regular expressions. Names are split on "/" and each part is checked against
explicit ASCII character sets; requests are built from nested dicts (proto-plus turns
them into messages), and checks are collected in a small `Invalid` exception.
"""

from __future__ import annotations

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
N1_GPU_COUNTS: dict[Accelerator, tuple[int, ...]] = {
    Accelerator.NVIDIA_TESLA_T4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P100: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_V100: (1, 2, 4, 8),
}
SHAPES = {"standard", "highmem", "highcpu"}
CPU_FAMILIES = {"e2", "n2", "n2d", "c2"}

DIGITS = frozenset("0123456789")
LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
IDENT_START = LOWER | {c.upper() for c in LOWER} | {"_"}
IDENT_CHARS = IDENT_START | DIGITS


class Invalid(ValueError):
    def __init__(self, field: str, why: str):
        super().__init__(f"{field}: {why}")


def _is_number(text: str) -> bool:
    return bool(text) and set(text) <= DIGITS


def _positive(text: str) -> bool:
    return _is_number(text) and text[0] != "0"


def _is_project(text: str) -> bool:
    if _is_number(text):
        return True
    return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
            and set(text) <= LOWER | DIGITS | {"-"})


def _is_location(text: str) -> bool:
    words = text.split("-")
    if any(not w for w in words):
        return False
    *front, last = words
    stem = last.rstrip("0123456789")
    return (all(set(w) <= LOWER for w in front) and stem != "" and set(stem) <= LOWER
            and len(stem) < len(last))


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and set(text) <= ID_CHARS and text[0] in LOWER | DIGITS


def _resource(field: str, value: Any, collection: str | None, versioned: bool = False) -> str:
    """Check a projects/P/locations/L[/collection/ID] name and return its location."""
    if not isinstance(value, str):
        raise Invalid(field, f"must be a string, got {value!r}")
    parts = value.split("/")
    want = 4 if collection is None else 6
    ok = (len(parts) == want and parts[0] == "projects" and parts[2] == "locations"
          and _is_project(parts[1]) and _is_location(parts[3]))
    if ok and collection is not None:
        ident = parts[5]
        if versioned and "@" in ident:
            ident, version = ident.split("@", 1)
            ok = _is_id(version)
        ok = ok and parts[4] == collection and _is_id(ident)
    if not ok:
        raise Invalid(field, f"{value!r} is not projects/PROJECT/locations/LOCATION"
                      + ("" if collection is None else f"/{collection}/ID"))
    return parts[3]


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("gs://"):
        raise Invalid(field, f"must be a gs:// URI, got {value!r}")
    bucket = value[5:].split("/", 1)[0]
    if not (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS
            and bucket[0] in LOWER | DIGITS and bucket[-1] in LOWER | DIGITS):
        raise Invalid(field, f"{bucket!r} is not a Cloud Storage bucket name")
    return value


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _whole(field: str, value: Any, minimum: int | None = None) -> int:
    if type(value) is not int:
        raise Invalid(field, f"must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise Invalid(field, f"must be at least {minimum}, got {value}")
    if value > _FIELD_MAX.get(field, value):
        raise Invalid(field, f"{value} is more than the API field holds")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or len(value) not in range(1, 129) or value.isspace():
        raise Invalid("display_name", f"must be 1 to 128 characters, not blank: {value!r}")
    return value


def _string_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise Invalid(field, f"must be a list or tuple of strings, got {type(value).__name__}")
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        raise Invalid(field, f"items must be strings, got {bad[0]!r}")
    return list(value)


def _module(value: Any) -> str:
    if not isinstance(value, str) or not all(
            part and part[0] in IDENT_START and set(part) <= IDENT_CHARS for part in value.split(".")):
        raise Invalid("python_module", f"must be a dotted module name such as trainer.task, got {value!r}")
    return value


def _gpu(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        gpu = value
    elif isinstance(value, str) and value in Accelerator.__members__:
        gpu = Accelerator[value]
    else:
        raise Invalid("accelerator_type", f"{value!r} is not an AcceleratorType name")
    return gpu if gpu != Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else None


def _kind(machine: str) -> str:
    """'fixed', 'n1', 'cpu' or 'unknown'."""
    if machine in FIXED_GPU_MACHINES:
        return "fixed"
    parts = machine.split("-")
    if len(parts) == 3 and parts[1] in SHAPES and _positive(parts[2]):
        if parts[0] == "n1":
            return "n1"
        if parts[0] in CPU_FAMILIES:
            return "cpu"
    return "unknown"


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together."""
    if not isinstance(machine_type, str):
        raise Invalid("machine_type", f"must be a string, got {machine_type!r}")
    gpu = _gpu(accelerator_type)
    count = _whole("accelerator_count", accelerator_count)
    kind = _kind(machine_type)
    if kind == "unknown":
        raise Invalid("machine_type", f"{machine_type!r} is not in the allowlist")
    if kind == "fixed":
        want, n = FIXED_GPU_MACHINES[machine_type]
        if gpu is not want:
            raise Invalid("accelerator_type", f"{machine_type} needs {want.name}")
        allowed = {n}
    elif gpu is None:
        allowed = {0}
    elif kind == "n1" and gpu in N1_GPU_COUNTS:
        allowed = set(N1_GPU_COUNTS[gpu])
    else:
        raise Invalid("accelerator_type", f"{gpu.name} does not fit {machine_type}")
    if count not in allowed:
        raise Invalid("accelerator_count", f"{count} is not one of {sorted(allowed)}")
    return aiplatform_v1.MachineSpec(
        machine_type=machine_type,
        accelerator_type=gpu or Accelerator.ACCELERATOR_TYPE_UNSPECIFIED,
        accelerator_count=count)


def _runner(image_uri, command, args, package_uris, python_module) -> dict:
    """The oneof half of a worker pool, as a dict: {"container_spec": {...}} or package."""
    if not isinstance(image_uri, str) or image_uri == "":
        raise Invalid("image_uri", "an image is required")
    command, args, package_uris = (_string_list("command", command), _string_list("args", args),
                                   _string_list("package_uris", package_uris))
    if not package_uris and python_module is None:
        return {"container_spec": {"image_uri": image_uri, "command": command, "args": args}}
    if python_module is None:
        raise Invalid("python_module", "package_uris given without python_module")
    if not package_uris:
        raise Invalid("package_uris", "python_module given without package_uris")
    _module(python_module)
    if command:
        raise Invalid("command", "a Python package job runs python_module, it takes no command")
    for uri in package_uris:
        _gcs("package_uris", uri)
    return {"python_package_spec": {"executor_image_uri": image_uri, "package_uris": package_uris,
                                    "python_module": python_module, "args": args}}


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
    _resource("parent", parent, None)
    _name(display_name)
    _whole("replica_count", replica_count, minimum=1)
    pool = {"machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                         accelerator_count=accelerator_count),
            "replica_count": replica_count,
            **_runner(image_uri, command, args, package_uris, python_module)}
    job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {
            "output_uri_prefix": _gcs("base_output_directory", base_output_directory)}
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job={"display_name": display_name, "job_spec": job_spec})


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
    here = _resource("endpoint", endpoint, "endpoints")
    there = _resource("model", model, "models", versioned=True)
    if here != there:
        raise Invalid("model", f"model in {there} cannot serve from an endpoint in {here}")
    _name(display_name)
    lo = _whole("min_replica_count", min_replica_count, minimum=1)
    _whole("max_replica_count", max_replica_count, minimum=lo)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise Invalid("traffic_split", "must be a non-empty mapping")
    split = {}
    for key, share in traffic_split.items():
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and _is_number(key)):
            raise Invalid("traffic_split", f"{key!r} is not a deployed model ID")
        if type(share) is not int or not 0 <= share <= 100:
            raise Invalid("traffic_split", f"{share!r} for {key} is not a percentage from 0 to 100")
        split[key] = share
    if sum(split.values()) != 100:
        raise Invalid("traffic_split", f"percentages add up to {sum(split.values())}, not 100")
    resources = {"machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                              accelerator_count=accelerator_count),
                 "min_replica_count": min_replica_count, "max_replica_count": max_replica_count}
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint, traffic_split=split,
        deployed_model={"model": model, "display_name": display_name, "dedicated_resources": resources})


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise Invalid("config", "the config must be a mapping (is the file empty?)")
    pools = config.get("workerPoolSpecs")
    data = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else dict(config)
    try:
        raw = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except json_format.ParseError as exc:
        raise Invalid("config", str(exc)) from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(raw)
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        m = pool.machine_spec
        machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                     accelerator_count=m.accelerator_count)
        _whole("replica_count", pool.replica_count, minimum=1)
        which = type(pool).pb(pool).WhichOneof("task")
        if which == "python_package_spec":
            p = pool.python_package_spec
            _runner(p.executor_image_uri, [], list(p.args), list(p.package_uris), p.python_module)
        elif which == "container_spec":
            c = pool.container_spec
            _runner(c.image_uri, list(c.command), list(c.args), [], None)
        else:
            raise Invalid("image_uri", "the pool names no image (no containerSpec or pythonPackageSpec)")
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
