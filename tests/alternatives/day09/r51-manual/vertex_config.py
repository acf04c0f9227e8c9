"""Vertex AI configs, checked by hand-written parsers (no regular expressions at all)."""

from __future__ import annotations

import json
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

N1_MACHINE = re.compile(r"n1-(standard|highmem|highcpu)-[1-9][0-9]*")  # kept from the stub, unused
N1_GPU_COUNTS: dict[Accelerator, tuple[int, ...]] = {
    Accelerator.NVIDIA_TESLA_T4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P100: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_V100: (1, 2, 4, 8),
}
CPU_ONLY_MACHINE = re.compile(r"(e2|n2|n2d|c2)-(standard|highmem|highcpu)-[1-9][0-9]*")  # unused

CPU_FAMILIES = {"e2", "n2", "n2d", "c2"}
SHAPES = {"standard", "highmem", "highcpu"}
LOWER = set("abcdefghijklmnopqrstuvwxyz")
DIGITS = set("0123456789")
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}


class Invalid(ValueError):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")


def _digits(text: str) -> bool:
    return bool(text) and set(text) <= DIGITS


def _whole(text: str) -> bool:
    """ASCII digits, no leading zero, not empty."""
    return _digits(text) and text[0] != "0"


def _count(value: Any, field: str, low: int, high: int) -> int:
    if type(value) is not int:
        raise Invalid(field, f"must be an int, got {value!r}")
    if value < low or value > high:
        raise Invalid(field, f"{value} is outside {low}..{high}")
    return value


# ---- names ------------------------------------------------------------------------------

def _is_project(text: str) -> bool:
    if _digits(text):
        return True
    return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
            and set(text) <= LOWER | DIGITS | {"-"})


def _is_location(text: str) -> bool:
    words = text.rstrip("0123456789")
    if words == text:
        return False
    parts = words.split("-")
    return all(part and set(part) <= LOWER for part in parts)


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and set(text) <= ID_CHARS and text[0] not in "_-"


def _location_of(name: Any, field: str, kind: str | None) -> str:
    """Check projects/P/locations/L[/kind/ID] and return L."""
    if not isinstance(name, str):
        raise Invalid(field, f"must be a string, got {type(name).__name__}")
    parts = name.split("/")
    size = 4 if kind is None else 6
    if (len(parts) != size or parts[0] != "projects" or parts[2] != "locations"
            or not _is_project(parts[1]) or not _is_location(parts[3])):
        raise Invalid(field, f"{name!r} is not projects/PROJECT/locations/LOCATION{'/' + kind + '/ID' if kind else ''}")
    if kind is not None:
        if parts[4] != kind:
            raise Invalid(field, f"{name!r} is not a {kind} name")
        last = parts[5]
        if kind == "models" and "@" in last:
            model_id, version = last.split("@", 1)
            ok = _is_id(model_id) and _is_id(version)
        else:
            ok = _is_id(last)
        if not ok:
            raise Invalid(field, f"{last!r} is not a valid ID")
    return parts[3]


def _gcs(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.startswith("gs://"):
        raise Invalid(field, f"{value!r} is not a gs:// URI")
    bucket = value[5:].split("/", 1)[0]
    if not (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS
            and bucket[0] not in "._-" and bucket[-1] not in "._-"):
        raise Invalid(field, f"{bucket!r} in {value!r} is not a bucket name")
    return value


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.strip():
        raise Invalid("display_name", f"{value!r} is not a display name of 1 to 128 characters")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise Invalid(field, f"must be a list of strings, got {type(value).__name__}")
    if not all(isinstance(item, str) for item in value):
        raise Invalid(field, "every item must be a string")
    return list(value)


def _module(value: Any) -> str:
    if not isinstance(value, str) or not all(
            part.isascii() and part.isidentifier() for part in value.split(".")):
        raise Invalid("python_module", f"{value!r} is not a dotted module name")
    return value


def _image(value: Any) -> str:
    if not isinstance(value, str) or value == "":
        raise Invalid("image_uri", "an image is required")
    return value


# ---- task 1 -----------------------------------------------------------------------------

def _gpu(value: Any) -> Accelerator:
    if isinstance(value, bool):
        raise Invalid("accelerator_type", f"{value!r} is not an accelerator")
    if value is None:
        return Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    try:
        if isinstance(value, str):
            return Accelerator[value]
        if isinstance(value, int):
            return Accelerator(value)
    except (KeyError, ValueError):
        pass
    raise Invalid("accelerator_type", f"{value!r} is not an AcceleratorType")


def _allowed_counts(machine_type: Any, gpu: Accelerator) -> tuple[int, ...]:
    none = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if not isinstance(machine_type, str):
        raise Invalid("machine_type", f"must be a string, got {machine_type!r}")
    if machine_type in FIXED_GPU_MACHINES:
        wanted, count = FIXED_GPU_MACHINES[machine_type]
        if gpu != wanted:
            raise Invalid("accelerator_type", f"{machine_type} needs {wanted.name}")
        return (count,)
    pieces = machine_type.split("-")
    if len(pieces) == 3 and pieces[1] in SHAPES and _whole(pieces[2]):
        if pieces[0] == "n1":
            if gpu == none:
                return (0,)
            if gpu not in N1_GPU_COUNTS:
                raise Invalid("accelerator_type", f"{gpu.name} does not attach to N1")
            return N1_GPU_COUNTS[gpu]
        if pieces[0] in CPU_FAMILIES:
            if gpu != none:
                raise Invalid("accelerator_type", f"{machine_type} takes no GPU")
            return (0,)
    raise Invalid("machine_type", f"{machine_type!r} is not an allowed machine type")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    gpu = _gpu(accelerator_type)
    _count(accelerator_count, "accelerator_count", 0, 2**31 - 1)
    if gpu == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED and accelerator_count:
        raise Invalid("accelerator_count", "a count without an accelerator")
    allowed = _allowed_counts(machine_type, gpu)
    if accelerator_count not in allowed:
        raise Invalid("accelerator_count", f"{accelerator_count} is not one of {allowed}")
    return aiplatform_v1.MachineSpec(machine_type=machine_type, accelerator_type=gpu,
                                     accelerator_count=accelerator_count)


# ---- task 2 -----------------------------------------------------------------------------

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
    _location_of(parent, "parent", None)
    _display_name(display_name)
    fields = {"command": _strings(command, "command"), "args": _strings(args, "args"),
              "package_uris": _strings(package_uris, "package_uris")}
    _image(image_uri)
    _count(replica_count, "replica_count", 1, 2**63 - 1)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    job_spec: dict[str, Any] = {}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {"output_uri_prefix": _gcs(base_output_directory, "base_output_directory")}

    pool: dict[str, Any] = {"machine_spec": machine, "replica_count": replica_count}
    if fields["package_uris"] or python_module is not None:
        if not fields["package_uris"]:
            raise Invalid("package_uris", "python_module needs package_uris")
        if python_module is None:
            raise Invalid("python_module", "package_uris need python_module")
        _module(python_module)
        for uri in fields["package_uris"]:
            _gcs(uri, "package_uris")
        if fields["command"]:
            raise Invalid("command", "a Python package job takes no command")
        pool["python_package_spec"] = {"executor_image_uri": image_uri, "package_uris": fields["package_uris"],
                                       "python_module": python_module, "args": fields["args"]}
    else:
        pool["container_spec"] = {"image_uri": image_uri, "command": fields["command"], "args": fields["args"]}
    job_spec["worker_pool_specs"] = [pool]
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job={"display_name": display_name, "job_spec": job_spec})


# ---- task 3 -----------------------------------------------------------------------------

def _split(traffic_split: Any) -> dict[str, int]:
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise Invalid("traffic_split", "must be a non-empty mapping")
    copy = {}
    for key, value in traffic_split.items():
        if not isinstance(key, str) or not _digits(key) or len(key) > 10:
            raise Invalid("traffic_split", f"key {key!r} is not a deployed-model ID")
        if type(value) is not int or not 0 <= value <= 100:
            raise Invalid("traffic_split", f"{value!r} for {key} is not a whole percentage")
        copy[key] = value
    if sum(copy.values()) != 100:
        raise Invalid("traffic_split", f"percentages add up to {sum(copy.values())}, not 100")
    return copy


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
    where = _location_of(endpoint, "endpoint", "endpoints")
    if _location_of(model, "model", "models") != where:
        raise Invalid("model", f"the model must be in the endpoint's location {where}")
    _display_name(display_name)
    low = _count(min_replica_count, "min_replica_count", 1, 2**31 - 1)
    _count(max_replica_count, "max_replica_count", low, 2**31 - 1)
    split = _split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model={"model": model, "display_name": display_name,
                        "dedicated_resources": {"machine_spec": machine, "min_replica_count": min_replica_count,
                                                "max_replica_count": max_replica_count}},
        traffic_split=split,
    )


# ---- task 4 -----------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """json.dumps fallback: any mapping becomes a dict, anything else (a YAML date) its string."""
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping, got {type(config).__name__}")
    pools = config.get("workerPoolSpecs")
    normalised = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else dict(config)
    try:
        text = json.dumps(normalised, default=_plain)
        spec = aiplatform_v1.CustomJobSpec.from_json(text)
    except (json_format.ParseError, TypeError) as exc:
        raise ValueError(f"config: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        machine = pool.machine_spec
        machine_spec(machine_type=machine.machine_type, accelerator_type=machine.accelerator_type,
                     accelerator_count=machine.accelerator_count)
        _count(pool.replica_count, "replica_count", 1, 2**63 - 1)
        if "container_spec" in pool:
            _image(pool.container_spec.image_uri)
        elif "python_package_spec" in pool:
            package = pool.python_package_spec
            _image(package.executor_image_uri)
            _module(package.python_module)
            if not package.package_uris:
                raise Invalid("package_uris", "no packages")
            for uri in package.package_uris:
                _gcs(uri, "package_uris")
        else:
            raise Invalid("image_uri", "the pool runs neither a container nor a Python package")
    if "base_output_directory" in spec:
        _gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
