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
from google.protobuf import json_format

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


_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_ID_CHARS = _LOWER | _DIGITS | {"_", "-"}
_BUCKET_CHARS = _LOWER | _DIGITS | {".", "_", "-"}
_IDENT_START = _LOWER | {c.upper() for c in _LOWER} | {"_"}
_IDENT_CHARS = _IDENT_START | _DIGITS

# Highest value each protobuf count field can carry.
_FIELD_LIMITS = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


class _Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{message} (field: {field})")


def _is_project(text: str) -> bool:
    if text and set(text) <= _DIGITS:
        return True
    return (6 <= len(text) <= 30 and set(text) <= _LOWER | _DIGITS | {"-"}
            and text[0] in _LOWER and not text.endswith("-"))


def _is_location(text: str) -> bool:
    words = text.split("-")
    *front, last = words
    if any(not w or not set(w) <= _LOWER for w in front):
        return False
    letters = last.rstrip("0123456789")
    digits = last[len(letters):]
    return bool(letters) and bool(digits) and set(letters) <= _LOWER


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and set(text) <= _ID_CHARS and text[0] in _LOWER | _DIGITS


def _resource(field: str, value: Any, collection: str | None, versioned: bool = False) -> str:
    """Return the location of a projects/P/locations/L[/collection/ID[@V]] name."""
    if type(value) is not str:
        raise _Invalid(field, f"a resource name must be a string, not {value!r}")
    parts = value.split("/")
    size = 4 if collection is None else 6
    ok = len(parts) == size and parts[0] == "projects" and parts[2] == "locations"
    ok = ok and _is_project(parts[1]) and _is_location(parts[3])
    if ok and collection is not None:
        ident = parts[5]
        if versioned and "@" in ident:
            ident, version = ident.split("@", 1)
            ok = _is_id(version)
        ok = ok and parts[4] == collection and _is_id(ident)
    if not ok:
        raise _Invalid(field, f"{value!r} is not a valid name")
    return parts[3]


def _gcs(field: str, value: Any) -> str:
    if type(value) is not str or not value.startswith("gs://"):
        raise _Invalid(field, f"{value!r} is not a Cloud Storage URI")
    bucket = value[5:].partition("/")[0]
    if not (3 <= len(bucket) <= 63 and set(bucket) <= _BUCKET_CHARS
            and bucket[0] in _LOWER | _DIGITS and bucket[-1] in _LOWER | _DIGITS):
        raise _Invalid(field, f"{value!r} has no valid bucket")
    return value


def _whole(field: str, value: Any, low: int) -> int:
    if type(value) is not int:
        raise _Invalid(field, f"must be an int, not {value!r}")
    if value < low:
        raise _Invalid(field, f"must be at least {low}, got {value}")
    if value > _FIELD_LIMITS.get(field, value):
        raise _Invalid(field, f"{value} is too large")
    return value


def _text_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, Sequence)):
        raise _Invalid(field, f"must be a list of strings, not {type(value).__name__}")
    if any(type(item) is not str for item in value):
        raise _Invalid(field, "every item must be a string")
    return list(value)


def _display(value: Any) -> str:
    if type(value) is not str or len(value) > 128 or value.strip() == "":
        raise _Invalid("display_name", f"{value!r} is not 1 to 128 characters of text")
    return value


def _module(value: Any) -> str:
    if type(value) is not str or not value:
        raise _Invalid("python_module", f"{value!r} is not a module name")
    for part in value.split("."):
        if not part or part[0] not in _IDENT_START or not set(part) <= _IDENT_CHARS:
            raise _Invalid("python_module", f"{value!r} is not a dotted module name")
    return value


def _gpu(value: Any) -> Accelerator | None:
    if value is None:
        return None
    names = {member.name: member for member in Accelerator}
    if isinstance(value, Accelerator):
        member = value
    elif type(value) is str and value in names:
        member = names[value]
    elif type(value) is int and value in {m.value for m in Accelerator}:
        member = Accelerator(value)
    else:
        raise _Invalid("accelerator_type", f"{value!r} is not an AcceleratorType")
    return None if member is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def _size_ok(text: str) -> bool:
    return text.isascii() and text.isdigit() and text[0] != "0"


def _family(machine: Any) -> str:
    """'fixed', 'n1', 'cpu' or raise."""
    if type(machine) is str:
        if machine in FIXED_GPU_MACHINES:
            return "fixed"
        parts = machine.split("-")
        if len(parts) == 3 and parts[1] in ("standard", "highmem", "highcpu") and _size_ok(parts[2]):
            if parts[0] == "n1":
                return "n1"
            if parts[0] in ("e2", "n2", "n2d", "c2"):
                return "cpu"
    raise _Invalid("machine_type", f"{machine!r} is not a known machine type")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    family = _family(machine_type)
    gpu = _gpu(accelerator_type)
    if type(accelerator_count) is not int:
        raise _Invalid("accelerator_count", f"must be an int, not {accelerator_count!r}")
    counts: tuple[int, ...]
    if family == "fixed":
        fitted, n = FIXED_GPU_MACHINES[machine_type]
        if gpu is not fitted:
            raise _Invalid("accelerator_type", f"{machine_type} needs {fitted.name}")
        counts = (n,)
    elif gpu is None:
        counts = (0,)
    elif family == "n1" and gpu in N1_GPU_COUNTS:
        counts = N1_GPU_COUNTS[gpu]
    else:
        raise _Invalid("accelerator_type", f"{gpu.name} does not fit {machine_type}")
    if accelerator_count not in counts:
        raise _Invalid("accelerator_count", f"{accelerator_count} is not one of {counts}")
    body = {"machineType": machine_type}
    if gpu is not None:
        body.update(acceleratorType=gpu.name, acceleratorCount=accelerator_count)
    return aiplatform_v1.MachineSpec.wrap(json_format.ParseDict(body, aiplatform_v1.MachineSpec.pb()()))


def _pool_body(*, machine: aiplatform_v1.MachineSpec, replica_count: Any, image_uri: Any, command: list[str],
               args: list[str], package_uris: list[str], python_module: Any, package: bool) -> dict:
    _whole("replica_count", replica_count, 1)
    if type(image_uri) is not str or image_uri == "":
        raise _Invalid("image_uri", "an image is required")
    body: dict[str, Any] = {"machineSpec": json_format.MessageToDict(aiplatform_v1.MachineSpec.pb(machine)),
                            "replicaCount": str(replica_count)}
    if not package:
        body["containerSpec"] = {"imageUri": image_uri, "command": command, "args": args}
        return body
    if python_module is None or python_module == "":
        raise _Invalid("python_module", "a package job needs a python_module")
    if not package_uris:
        raise _Invalid("package_uris", "a package job needs package_uris")
    if command:
        raise _Invalid("command", "a package job takes no command")
    body["pythonPackageSpec"] = {"executorImageUri": image_uri,
                                 "packageUris": [_gcs("package_uris", u) for u in package_uris],
                                 "pythonModule": _module(python_module), "args": args}
    return body


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
    job: dict[str, Any] = {"displayName": _display(display_name)}
    lists = {name: _text_list(name, value)
             for name, value in (("command", command), ("args", args), ("package_uris", package_uris))}
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    package = bool(lists["package_uris"]) or python_module is not None
    pool = _pool_body(machine=machine, replica_count=replica_count, image_uri=image_uri,
                      python_module=python_module, package=package, **lists)
    spec: dict[str, Any] = {"workerPoolSpecs": [pool]}
    if base_output_directory is not None:
        spec["baseOutputDirectory"] = {"outputUriPrefix": _gcs("base_output_directory", base_output_directory)}
    job["jobSpec"] = spec
    message = json_format.ParseDict({"parent": parent, "customJob": job},
                                    aiplatform_v1.CreateCustomJobRequest.pb()())
    return aiplatform_v1.CreateCustomJobRequest.wrap(message)


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
    where = _resource("endpoint", endpoint, "endpoints")
    if _resource("model", model, "models", versioned=True) != where:
        raise _Invalid("model", f"the model must be in the endpoint's location {where}")
    _display(display_name)
    low = _whole("min_replica_count", min_replica_count, 1)
    _whole("max_replica_count", max_replica_count, low)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise _Invalid("traffic_split", "must be a non-empty mapping")
    split = dict(traffic_split.items())
    for key, share in split.items():
        if type(key) is not str or not (1 <= len(key) <= 10 and set(key) <= _DIGITS):
            raise _Invalid("traffic_split", f"{key!r} is not a deployed-model ID")
        if type(share) is not int or share not in range(101):
            raise _Invalid("traffic_split", f"{share!r} is not a percentage")
    if sum(split.values()) != 100:
        raise _Invalid("traffic_split", f"percentages add up to {sum(split.values())}, not 100")
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest(
        endpoint=endpoint,
        deployed_model={"model": model, "display_name": display_name,
                        "dedicated_resources": {"machine_spec": machine, "min_replica_count": min_replica_count,
                                                "max_replica_count": max_replica_count}},
        traffic_split=split)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping, not {type(config).__name__}")
    pools = config.get("workerPoolSpecs")
    data = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else {**config}
    message = aiplatform_v1.CustomJobSpec.pb()()
    try:
        json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise ValueError(f"the config does not parse: {exc}") from exc
    if len(message.worker_pool_specs) == 0:
        raise _Invalid("worker_pool_specs", "no worker pools")
    for raw in message.worker_pool_specs:
        if not raw.HasField("machine_spec"):
            raise _Invalid("machine_type", "a worker pool has no machineSpec")
        m = raw.machine_spec
        machine = machine_spec(machine_type=m.machine_type, accelerator_type=m.accelerator_type,
                               accelerator_count=m.accelerator_count)
        task = raw.WhichOneof("task")
        if task == "python_package_spec":
            p = raw.python_package_spec
            _pool_body(machine=machine, replica_count=raw.replica_count, image_uri=p.executor_image_uri,
                       command=[], args=list(p.args), package_uris=list(p.package_uris),
                       python_module=p.python_module, package=True)
        elif task == "container_spec":
            c = raw.container_spec
            _pool_body(machine=machine, replica_count=raw.replica_count, image_uri=c.image_uri,
                       command=list(c.command), args=list(c.args), package_uris=[], python_module=None,
                       package=False)
        else:
            raise _Invalid("image_uri", "a worker pool has neither a container nor a package")
    if message.HasField("base_output_directory"):
        _gcs("base_output_directory", message.base_output_directory.output_uri_prefix)
    return aiplatform_v1.CustomJobSpec.wrap(message)
