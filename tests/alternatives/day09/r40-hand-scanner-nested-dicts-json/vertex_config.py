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

import json
import re  # noqa: F401  (unused: this answer parses by hand)
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
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_ALNUM = _LOWER | _DIGITS


class _Rules:
    """Hand-written, regex-free checks: every one is a single left-to-right pass (no backtracking)."""

    @staticmethod
    def number(text: str) -> bool:
        return bool(text) and set(text) <= _DIGITS

    @staticmethod
    def positive_number(text: str) -> bool:
        return _Rules.number(text) and text[0] != "0"

    @staticmethod
    def project(text: str) -> bool:
        if _Rules.number(text):
            return True
        return (6 <= len(text) <= 30 and text[0] in _LOWER and text[-1] in _ALNUM
                and set(text) <= _ALNUM | {"-"})

    @staticmethod
    def location(text: str) -> str | None:
        words = text.split("-")
        if len(words) < 2:
            return None
        last = words[-1]
        letters = last.rstrip("0123456789")
        digits = last[len(letters):]
        if not digits:
            return None
        for word in [*words[:-1], letters]:
            if not word or not set(word) <= _LOWER:
                return None
        return text

    @staticmethod
    def resource_id(text: str) -> bool:
        return 1 <= len(text) <= 63 and text[0] in _ALNUM and set(text) <= _ALNUM | {"_", "-"}

    @staticmethod
    def located(field: str, value: Any, kind: str | None) -> str:
        """Parse projects/P/locations/L[/kind/ID]; return the location."""
        if not isinstance(value, str):
            raise ValueError(f"{field} must be a string, not {type(value).__name__}")
        parts = value.split("/")
        size = 4 if kind is None else 6
        if len(parts) != size or parts[0] != "projects" or parts[2] != "locations":
            raise ValueError(f"{field} {value!r} does not have the form projects/*/locations/*"
                             + ("" if kind is None else f"/{kind}/*"))
        if not _Rules.project(parts[1]):
            raise ValueError(f"{field} has a bad project {parts[1]!r}")
        location = _Rules.location(parts[3])
        if location is None:
            raise ValueError(f"{field} has a bad location {parts[3]!r}")
        if kind is not None:
            if parts[4] != kind:
                raise ValueError(f"{field} {value!r} is not a {kind} name")
            ids = parts[5].split("@") if kind == "models" else [parts[5]]
            if len(ids) > 2 or not all(_Rules.resource_id(i) for i in ids):
                raise ValueError(f"{field} has a bad ID {parts[5]!r}")
        return location

    @staticmethod
    def gcs(field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.startswith("gs://"):
            raise ValueError(f"{field} {value!r} is not a gs:// URI")
        bucket, _, _ = value[5:].partition("/")
        ok = (3 <= len(bucket) <= 63 and bucket[0] in _ALNUM and bucket[-1] in _ALNUM
              and set(bucket) <= _ALNUM | {".", "_", "-"})
        if not ok:
            raise ValueError(f"{field} {value!r} has no valid bucket")
        return value

    @staticmethod
    def module(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"python_module must be a string, not {type(value).__name__}")
        for part in value.split("."):
            if not part or part[0] in _DIGITS or not set(part) <= _ALNUM | _UPPER | {"_"}:
                raise ValueError(f"python_module {value!r} is not a dotted module name")
        return value

    @staticmethod
    def whole(field: str, value: Any, low: int, high: int) -> int:
        if type(value) is not int:  # bool, float, Decimal, str, None, ...
            raise ValueError(f"{field} must be an int, not {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"{field} {value} is outside {low}..{high}")
        return value

    @staticmethod
    def strings(field: str, value: Any) -> list[str]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ValueError(f"{field} must be a list of strings, not {type(value).__name__}")
        if not all(type(item) is str for item in value):
            raise ValueError(f"{field} holds an item that is not a string")
        return list(value)

    @staticmethod
    def display_name(value: Any) -> str:
        if not isinstance(value, str) or not 0 < len(value) <= 128 or value.isspace():
            raise ValueError(f"display_name {value!r} must be a string of 1 to 128 characters, not all blank")
        return value

    @staticmethod
    def image(value: Any) -> str:
        if not isinstance(value, str) or value == "":
            raise ValueError("image_uri is required")
        return value


def _machine_kind(machine_type: str) -> str | None:
    """'fixed', 'n1', 'cpu' or None, by splitting the name instead of matching a pattern."""
    if machine_type in FIXED_GPU_MACHINES:
        return "fixed"
    parts = machine_type.split("-")
    if len(parts) != 3 or parts[1] not in ("standard", "highmem", "highcpu") or not _Rules.positive_number(parts[2]):
        return None
    if parts[0] == "n1":
        return "n1"
    if parts[0] in ("e2", "n2", "n2d", "c2"):
        return "cpu"
    return None


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if not isinstance(machine_type, str):
        raise ValueError(f"machine_type must be a string, not {type(machine_type).__name__}")
    if accelerator_type is None or isinstance(accelerator_type, Accelerator):
        gpu = accelerator_type
    elif isinstance(accelerator_type, str) and accelerator_type in Accelerator.__members__:
        gpu = Accelerator.__members__[accelerator_type]
    else:
        raise ValueError(f"accelerator_type {accelerator_type!r} is not an AcceleratorType name or member")
    if gpu == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED:
        gpu = None
    count = _Rules.whole("accelerator_count", accelerator_count, -(2**31), 2**31 - 1)
    kind = _machine_kind(machine_type)
    if kind is None:
        raise ValueError(f"machine_type {machine_type!r} is not in the allowlist")
    if gpu is None:
        if count != 0:
            raise ValueError(f"accelerator_count must be 0 without an accelerator, not {count}")
        if kind == "fixed":
            raise ValueError(f"accelerator_type: {machine_type} needs its "
                             f"{FIXED_GPU_MACHINES[machine_type][0].name}")
        return aiplatform_v1.MachineSpec(machine_type=machine_type)
    if kind == "cpu":
        raise ValueError(f"accelerator_type: {machine_type} takes no GPU")
    if kind == "fixed":
        fixed_gpu, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != fixed_gpu:
            raise ValueError(f"accelerator_type must be {fixed_gpu.name} on {machine_type}")
        allowed: tuple[int, ...] = (n,)
    else:
        if gpu not in N1_GPU_COUNTS:
            raise ValueError(f"accelerator_type {gpu.name} cannot be attached to {machine_type}")
        allowed = N1_GPU_COUNTS[gpu]
    if count not in allowed:
        raise ValueError(f"accelerator_count {count} is not one of {allowed}")
    return aiplatform_v1.MachineSpec({"machine_type": machine_type, "accelerator_type": gpu,
                                      "accelerator_count": count})


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
    _Rules.located("parent", parent, None)
    _Rules.display_name(display_name)
    lists = {name: _Rules.strings(name, value)
             for name, value in (("command", command), ("args", args), ("package_uris", package_uris))}
    pool: dict[str, Any] = {
        "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                     accelerator_count=accelerator_count),
        "replica_count": _Rules.whole("replica_count", replica_count, 1, 2**63 - 1),
    }
    _Rules.image(image_uri)
    if lists["package_uris"] or python_module is not None:
        if not lists["package_uris"]:
            raise ValueError("package_uris are required with python_module")
        if python_module is None:
            raise ValueError("python_module is required with package_uris")
        _Rules.module(python_module)
        for uri in lists["package_uris"]:
            _Rules.gcs("package_uris", uri)
        if lists["command"]:
            raise ValueError("command is not allowed in a Python package job")
        pool["python_package_spec"] = {"executor_image_uri": image_uri, "package_uris": lists["package_uris"],
                                       "python_module": python_module, "args": lists["args"]}
    else:
        pool["container_spec"] = {"image_uri": image_uri, "command": lists["command"], "args": lists["args"]}
    job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {
            "output_uri_prefix": _Rules.gcs("base_output_directory", base_output_directory)}
    return aiplatform_v1.CreateCustomJobRequest(
        {"parent": parent, "custom_job": {"display_name": display_name, "job_spec": job_spec}})


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
    where = _Rules.located("endpoint", endpoint, "endpoints")
    if _Rules.located("model", model, "models") != where:
        raise ValueError(f"model must be in the endpoint's location {where}")
    _Rules.display_name(display_name)
    low = _Rules.whole("min_replica_count", min_replica_count, 1, 2**31 - 1)
    _Rules.whole("max_replica_count", max_replica_count, low, 2**31 - 1)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise ValueError("traffic_split must be a non-empty mapping")
    split: dict[str, int] = {}
    for key, share in traffic_split.items():
        if type(key) is not str or not 1 <= len(key) <= 10 or not _Rules.number(key):
            raise ValueError(f"traffic_split key {key!r} is not a deployed-model ID")
        if type(share) is not int or not 0 <= share <= 100:
            raise ValueError(f"traffic_split share {share!r} for {key} is not a whole percentage")
        split[key] = share
    if sum(split.values()) != 100:
        raise ValueError(f"traffic_split: percentages add up to {sum(split.values())}, not 100")
    resources = {"machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                              accelerator_count=accelerator_count),
                 "min_replica_count": min_replica_count, "max_replica_count": max_replica_count}
    return aiplatform_v1.DeployModelRequest(
        {"endpoint": endpoint, "traffic_split": split,
         "deployed_model": {"model": model, "display_name": display_name, "dedicated_resources": resources}})


def _plain(value: Any) -> Any:
    """A deep copy made of plain dicts and lists, ready for json.dumps."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping, not {type(config).__name__}")
    data = _plain(config)
    for key in ("workerPoolSpecs", "worker_pool_specs"):
        if isinstance(data.get(key), dict):
            data[key] = [data[key]]
    try:
        text = json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the config holds a value JSON cannot carry: {exc}") from exc
    try:
        spec = aiplatform_v1.CustomJobSpec.from_json(text)
    except json_format.ParseError as exc:
        raise ValueError(f"the config does not parse as a CustomJobSpec: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        raise ValueError("worker_pool_specs: the job has no worker pools")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool:
            raise ValueError("machine_type: a worker pool has no machine")
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        _Rules.whole("replica_count", pool.replica_count, 1, 2**63 - 1)
        if "container_spec" in pool:
            _Rules.image(pool.container_spec.image_uri)
        elif "python_package_spec" in pool:
            package = pool.python_package_spec
            _Rules.image(package.executor_image_uri)
            if len(package.package_uris) == 0:
                raise ValueError("package_uris: a Python package pool needs packages")
            for uri in package.package_uris:
                _Rules.gcs("package_uris", uri)
            _Rules.module(package.python_module)
        else:
            raise ValueError("image_uri: the pool has neither a containerSpec nor a pythonPackageSpec")
    if "base_output_directory" in spec:
        _Rules.gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
