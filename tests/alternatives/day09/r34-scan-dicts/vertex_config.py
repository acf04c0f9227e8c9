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

import numbers
import string

_LOWER = frozenset(string.ascii_lowercase)
_DIGITS = frozenset(string.digits)
_LIMITS = {"accelerator_count": 2**31 - 1, "replica_count": 2**63 - 1,
           "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


class _Rules:
    """Small validators that scan strings character by character (no regular expressions)."""

    @staticmethod
    def bad(field: str, why: str) -> ValueError:
        return ValueError(f"{why} [{field}]")

    @classmethod
    def count(cls, field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise cls.bad(field, f"expected a whole number, got {value!r}")
        value = int(value)
        if value > _LIMITS[field]:
            raise cls.bad(field, f"{value} does not fit the field")
        return value

    @staticmethod
    def is_project(text: str) -> bool:
        if text and set(text) <= _DIGITS:
            return True
        return (6 <= len(text) <= 30 and text[0] in _LOWER and text[-1] != "-"
                and set(text) <= _LOWER | _DIGITS | {"-"})

    @staticmethod
    def is_location(text: str) -> bool:
        head = text.rstrip(string.digits)
        if head == text or not head:
            return False
        words = head.split("-")
        return all(w and set(w) <= _LOWER for w in words)

    @staticmethod
    def is_id(text: str) -> bool:
        return (1 <= len(text) <= 63 and text[0] in _LOWER | _DIGITS
                and set(text) <= _LOWER | _DIGITS | {"_", "-"})

    @classmethod
    def resource(cls, field: str, value: Any, kind: str | None) -> str:
        """Return the location of projects/P/locations/L[/kind/ID[@V]]."""
        parts = value.split("/") if isinstance(value, str) else []
        size = 4 if kind is None else 6
        ok = (len(parts) == size and parts[0] == "projects" and parts[2] == "locations"
              and cls.is_project(parts[1]) and cls.is_location(parts[3]))
        if ok and kind is not None:
            ident = parts[5]
            if kind == "models" and "@" in ident:
                ident, version = ident.split("@", 1)
                ok = cls.is_id(version)
            ok = ok and parts[4] == kind and cls.is_id(ident)
        if not ok:
            raise cls.bad(field, f"{value!r} is not a valid resource name")
        return parts[3]

    @classmethod
    def gcs(cls, field: str, value: Any) -> str:
        if isinstance(value, str) and value.startswith("gs://"):
            bucket = value[5:].split("/", 1)[0]
            edge = _LOWER | _DIGITS
            if (3 <= len(bucket) <= 63 and bucket[0] in edge and bucket[-1] in edge
                    and set(bucket) <= edge | {".", "_", "-"}):
                return value
        raise cls.bad(field, f"{value!r} is not a gs:// URI")

    @classmethod
    def strings(cls, field: str, value: Any) -> list[str]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise cls.bad(field, "expected a list of strings")
        if not all(isinstance(item, str) for item in value):
            raise cls.bad(field, "every item must be a string")
        return list(value)

    @classmethod
    def display_name(cls, value: Any) -> str:
        if isinstance(value, str) and len(value) <= 128 and not value.isspace() and value:
            return value
        raise cls.bad("display_name", f"{value!r} is not 1 to 128 characters of text")

    @classmethod
    def module(cls, value: Any) -> str:
        ok = isinstance(value, str) and value.isascii() and all(
            part.isidentifier() for part in value.split("."))
        if not ok:
            raise cls.bad("python_module", f"{value!r} is not a dotted module name")
        return value


def _gpu(value: Any) -> Accelerator:
    if value is None:
        return Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if isinstance(value, Accelerator):
        return value
    if isinstance(value, str) and value in Accelerator.__members__:
        return Accelerator.__members__[value]
    raise _Rules.bad("accelerator_type", f"{value!r} is not an AcceleratorType")


def _machine_kind(machine_type: Any) -> str:
    if not isinstance(machine_type, str):
        return "unknown"
    if machine_type in FIXED_GPU_MACHINES:
        return "fixed"
    family, _, rest = machine_type.partition("-")
    shape, _, size = rest.partition("-")
    size_ok = size.isascii() and size.isdigit() and size[0] != "0"
    if shape not in ("standard", "highmem", "highcpu") or not size_ok:
        return "unknown"
    if family == "n1":
        return "n1"
    if family in ("e2", "n2", "n2d", "c2"):
        return "cpu"
    return "unknown"


def _machine_dict(machine_type: Any, accelerator_type: Any, accelerator_count: Any) -> dict[str, Any]:
    gpu = _gpu(accelerator_type)
    count = _Rules.count("accelerator_count", accelerator_count)
    none = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    kind = _machine_kind(machine_type)
    if kind == "unknown":
        raise _Rules.bad("machine_type", f"{machine_type!r} is not in the machine table")
    if kind == "fixed":
        allowed_gpus = {FIXED_GPU_MACHINES[machine_type][0]: (FIXED_GPU_MACHINES[machine_type][1],)}
    elif kind == "n1":
        allowed_gpus = {none: (0,), **N1_GPU_COUNTS}
    else:
        allowed_gpus = {none: (0,)}
    if gpu == none and count != 0:
        raise _Rules.bad("accelerator_count", "a count without an accelerator")
    if gpu not in allowed_gpus:
        raise _Rules.bad("accelerator_type", f"{gpu.name} does not fit {machine_type}")
    if count not in allowed_gpus[gpu]:
        raise _Rules.bad("accelerator_count", f"{count} x {gpu.name} does not fit {machine_type}")
    return {"machine_type": machine_type, "accelerator_type": gpu, "accelerator_count": count}


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    return aiplatform_v1.MachineSpec(_machine_dict(machine_type, accelerator_type, accelerator_count))


def _pool_dict(machine: dict[str, Any], replicas: Any, image: Any, command: list[str], args: list[str],
               packages: list[str], module: Any) -> dict[str, Any]:
    replicas = _Rules.count("replica_count", replicas)
    if replicas < 1:
        raise _Rules.bad("replica_count", "at least one replica is needed")
    if not (isinstance(image, str) and image):
        raise _Rules.bad("image_uri", "no image given")
    pool: dict[str, Any] = {"machine_spec": machine, "replica_count": replicas}
    if not packages and module is None:
        pool["container_spec"] = {"image_uri": image, "command": command, "args": args}
        return pool
    if module is None:
        raise _Rules.bad("python_module", "packages given without a module to run")
    if not packages:
        raise _Rules.bad("package_uris", "a module given without packages")
    _Rules.module(module)
    for uri in packages:
        _Rules.gcs("package_uris", uri)
    if command:
        raise _Rules.bad("command", "a Python package pool takes no command")
    pool["python_package_spec"] = {"executor_image_uri": image, "package_uris": packages,
                                   "python_module": module, "args": args}
    return pool


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
    _Rules.resource("parent", parent, None)
    job: dict[str, Any] = {"display_name": _Rules.display_name(display_name)}
    pool = _pool_dict(_machine_dict(machine_type, accelerator_type, accelerator_count), replica_count, image_uri,
                      _Rules.strings("command", command), _Rules.strings("args", args),
                      _Rules.strings("package_uris", package_uris), python_module)
    job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {
            "output_uri_prefix": _Rules.gcs("base_output_directory", base_output_directory)}
    job["job_spec"] = job_spec
    return aiplatform_v1.CreateCustomJobRequest({"parent": parent, "custom_job": job})


def _split(traffic_split: Any) -> dict[str, int]:
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise _Rules.bad("traffic_split", "expected a non-empty mapping")
    copy: dict[str, int] = {}
    for key, share in traffic_split.items():
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and key.isascii() and key.isdigit()):
            raise _Rules.bad("traffic_split", f"{key!r} is not a deployed model ID")
        if isinstance(share, bool) or not isinstance(share, int) or share < 0 or share > 100:
            raise _Rules.bad("traffic_split", f"{share!r} is not a percentage")
        copy[key] = share
    total = sum(copy.values())
    if total != 100:
        raise _Rules.bad("traffic_split", f"percentages add up to {total}, not 100")
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
    """Deploy `model` to `endpoint` on dedicated machines, with a checked traffic split."""
    region = _Rules.resource("endpoint", endpoint, "endpoints")
    if _Rules.resource("model", model, "models") != region:
        raise _Rules.bad("model", f"the model is not in {region}")
    name = _Rules.display_name(display_name)
    low = _Rules.count("min_replica_count", min_replica_count)
    high = _Rules.count("max_replica_count", max_replica_count)
    if low < 1:
        raise _Rules.bad("min_replica_count", "at least one replica")
    if high < low:
        raise _Rules.bad("max_replica_count", "below min_replica_count")
    split = _split(traffic_split)
    resources = {"machine_spec": _machine_dict(machine_type, accelerator_type, accelerator_count),
                 "min_replica_count": low, "max_replica_count": high}
    return aiplatform_v1.DeployModelRequest({
        "endpoint": endpoint,
        "deployed_model": {"model": model, "display_name": name, "dedicated_resources": resources},
        "traffic_split": split,
    })


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping, got {type(config).__name__}")
    data = {**config}
    for key in ("workerPoolSpecs", "worker_pool_specs"):
        if isinstance(data.get(key), Mapping):
            data[key] = [dict(data[key])]
    try:
        parsed = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except Exception as exc:  # ParseError and the odd TypeError from unusual values
        raise ValueError(f"config does not parse: {exc}") from exc
    # Read the parsed message back as plain dicts (snake_case, enums by name, defaults filled in).
    view = json_format.MessageToDict(parsed, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    pools = view.get("worker_pool_specs") or []
    if not pools:
        raise _Rules.bad("worker_pool_specs", "no worker pools")
    for pool in pools:
        machine = pool.get("machine_spec") or {}
        if not machine.get("machine_type"):
            raise _Rules.bad("machine_type", "a pool without a machine")
        checked = _machine_dict(machine["machine_type"], machine.get("accelerator_type"),
                                int(machine.get("accelerator_count", 0)))
        replicas = int(pool.get("replica_count", 0))
        if "python_package_spec" in pool:
            p = pool["python_package_spec"]
            _pool_dict(checked, replicas, p.get("executor_image_uri", ""), [], [], p.get("package_uris", []),
                       p.get("python_module", ""))
        elif "container_spec" in pool:
            c = pool["container_spec"]
            _pool_dict(checked, replicas, c.get("image_uri", ""), [], [], [], None)
        else:
            raise _Rules.bad("image_uri", "the pool runs neither a container nor a package")
    if parsed.HasField("base_output_directory"):
        _Rules.gcs("base_output_directory", parsed.base_output_directory.output_uri_prefix)
    return aiplatform_v1.CustomJobSpec.wrap(parsed)
