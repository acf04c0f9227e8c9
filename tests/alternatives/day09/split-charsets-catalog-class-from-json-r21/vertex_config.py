"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

This version parses names by splitting on "/" and checks characters against explicit
ASCII sets instead of regular expressions, keeps the machine table as one lookup object,
and builds the request messages from nested dicts.
"""

from __future__ import annotations

import datetime
import json
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

LOWER = frozenset(string.ascii_lowercase)
DIGITS = frozenset(string.digits)
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
MODULE_FIRST = frozenset(string.ascii_letters) | {"_"}
MODULE_CHARS = MODULE_FIRST | DIGITS


class MachineCatalog:
    """Answers: which accelerators (with which counts) may this machine carry?"""

    CPU_FAMILIES = ("e2", "n2", "n2d", "c2")
    SHAPES = ("standard", "highmem", "highcpu")

    @staticmethod
    def _size_ok(text: str) -> bool:
        return bool(text) and set(text) <= DIGITS and text[0] != "0"

    def options(self, machine: str) -> tuple[bool, dict[Accelerator | None, tuple[int, ...]]]:
        """(accelerator required?, {accelerator or None: allowed counts}); KeyError if unknown."""
        if machine in FIXED_GPU_MACHINES:
            gpu, n = FIXED_GPU_MACHINES[machine]
            return True, {gpu: (n,)}
        parts = machine.split("-")
        if len(parts) == 3 and parts[1] in self.SHAPES and self._size_ok(parts[2]):
            if parts[0] == "n1":
                return False, {None: (0,), **N1_GPU_COUNTS}
            if parts[0] in self.CPU_FAMILIES:
                return False, {None: (0,)}
        raise KeyError(machine)


CATALOG = MachineCatalog()


def _fail(field: str, why: str) -> ValueError:
    return ValueError(f"{field}: {why}")


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if type(value) is not int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise _fail(field, f"must be an int, not {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise _fail(field, f"{value} is outside {low}..{high}")
    return int(value)


def _as_accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in Accelerator.__members__:
            raise _fail("accelerator_type", f"{value!r} is not an AcceleratorType name")
        value = Accelerator.__members__[value]
    elif not isinstance(value, Accelerator):
        raise _fail("accelerator_type", f"{value!r} is neither a name nor an AcceleratorType")
    return None if value is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else Accelerator(value)


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    gpu = _as_accelerator(accelerator_type)
    if isinstance(accelerator_count, bool) or not isinstance(accelerator_count, int):
        raise _fail("accelerator_count", f"must be an int, got {accelerator_count!r}")
    if not isinstance(machine_type, str):
        raise _fail("machine_type", f"must be a string, got {machine_type!r}")
    try:
        required, options = CATALOG.options(machine_type)
    except KeyError:
        raise _fail("machine_type", f"{machine_type!r} is not in the machine table") from None
    if gpu is None and accelerator_count != 0:
        raise _fail("accelerator_count", "a count needs an accelerator_type")
    if gpu not in options:
        needed = "needs its own GPU" if required else "cannot take that accelerator"
        raise _fail("accelerator_type", f"{machine_type} {needed}")
    if accelerator_count not in options[gpu]:
        raise _fail("accelerator_count", f"{accelerator_count} not in {options[gpu]}")
    fields: dict[str, Any] = {"machine_type": machine_type}
    if gpu is not None:
        fields.update(accelerator_type=gpu, accelerator_count=accelerator_count)
    return aiplatform_v1.MachineSpec(fields)


# --- resource names, parsed by segments -----------------------------------------------------

def _is_project(text: str) -> bool:
    if text and set(text) <= DIGITS:
        return True
    return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
            and set(text) <= LOWER | DIGITS | {"-"})


def _is_location(text: str) -> bool:
    words = text.split("-")
    if not all(words) or not all(set(w) <= LOWER for w in words[:-1]):
        return False
    last = words[-1]
    letters = last.rstrip(string.digits)
    return letters != last and bool(letters) and set(letters) <= LOWER


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and text[0] in LOWER | DIGITS and set(text) <= ID_CHARS


def _location_of(name: Any, field: str, kind: str | None) -> str:
    """The location of projects/P/locations/L[/kind/ID]; ValueError naming field otherwise."""
    if not isinstance(name, str):
        raise _fail(field, f"must be a string, got {name!r}")
    parts = name.split("/")
    ok = len(parts) == (6 if kind else 4) and parts[0] == "projects" and parts[2] == "locations"
    ok = ok and _is_project(parts[1]) and _is_location(parts[3])
    if ok and kind:
        ident = parts[5]
        if kind == "models" and "@" in ident:
            ident, version = ident.split("@", 1)
            ok = _is_id(version)
        ok = ok and parts[4] == kind and _is_id(ident)
    if not ok:
        raise _fail(field, f"{name!r} is not a valid resource name")
    return parts[3]


def _is_gcs(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith("gs://"):
        return False
    bucket = value[5:].split("/", 1)[0]
    path = value[5 + len(bucket):]
    return (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS and bucket[0] not in "._-"
            and bucket[-1] not in "._-" and "\n" not in path)


def _check_gcs(value: Any, field: str) -> None:
    if not _is_gcs(value):
        raise _fail(field, f"{value!r} is not gs://BUCKET[/PATH]")


def _is_module(value: Any) -> bool:
    return isinstance(value, str) and all(
        part and part[0] in MODULE_FIRST and set(part) <= MODULE_CHARS for part in value.split("."))


def _check_display_name(value: Any) -> None:
    if not isinstance(value, str) or len(value) not in range(1, 129) or value.isspace():
        raise _fail("display_name", f"{value!r} must be 1 to 128 characters and not only whitespace")


def _string_list(value: Any, field: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _fail(field, f"must be a list of strings, got {type(value).__name__}")
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        raise _fail(field, f"items must be strings, got {bad!r}")
    return list(value)


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
    _check_display_name(display_name)
    lists = {name: _string_list(value, name)
             for name, value in (("command", command), ("args", args), ("package_uris", package_uris))}
    replicas = _whole(replica_count, "replica_count", 1, 2**63 - 1)
    if not isinstance(image_uri, str) or image_uri == "":
        raise _fail("image_uri", "an image is required")
    if base_output_directory is not None:
        _check_gcs(base_output_directory, "base_output_directory")

    pool: dict[str, Any] = {
        "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                     accelerator_count=accelerator_count),
        "replica_count": replicas,
    }
    if lists["package_uris"] or python_module is not None:
        if python_module is None:
            raise _fail("python_module", "package_uris need a python_module")
        if not lists["package_uris"]:
            raise _fail("package_uris", "python_module needs package_uris")
        if not _is_module(python_module):
            raise _fail("python_module", f"{python_module!r} is not a dotted module name")
        for uri in lists["package_uris"]:
            _check_gcs(uri, "package_uris")
        if lists["command"]:
            raise _fail("command", "a Python package job takes no command")
        pool["python_package_spec"] = {"executor_image_uri": image_uri, "package_uris": lists["package_uris"],
                                       "python_module": python_module, "args": lists["args"]}
    else:
        pool["container_spec"] = {"image_uri": image_uri, "command": lists["command"], "args": lists["args"]}

    job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {"output_uri_prefix": base_output_directory}
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
    where = _location_of(endpoint, "endpoint", "endpoints")
    if _location_of(model, "model", "models") != where:
        raise _fail("model", f"the model must be in the endpoint's location {where}")
    _check_display_name(display_name)
    low = _whole(min_replica_count, "min_replica_count", 1, 2**31 - 1)
    high = _whole(max_replica_count, "max_replica_count", low, 2**31 - 1)

    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise _fail("traffic_split", "must be a non-empty mapping of deployed-model IDs to percentages")
    split: dict[str, int] = {}
    for key, share in traffic_split.items():
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and set(key) <= DIGITS):
            raise _fail("traffic_split", f"{key!r} is not a deployed model ID")
        if type(share) is bool or not isinstance(share, int) or share not in range(101):
            raise _fail("traffic_split", f"{share!r} for {key} is not a whole percentage 0..100")
        split[key] = share
    if sum(split.values()) != 100:
        raise _fail("traffic_split", f"percentages add up to {sum(split.values())}, not 100")

    return aiplatform_v1.DeployModelRequest({
        "endpoint": endpoint,
        "deployed_model": {
            "model": model,
            "display_name": display_name,
            "dedicated_resources": {
                "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                             accelerator_count=accelerator_count),
                "min_replica_count": low,
                "max_replica_count": high,
            },
        },
        "traffic_split": split,
    })


def _plain(value: Any) -> Any:
    """A JSON-ready deep copy: mappings become dicts, sequences lists, dates ISO strings."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: a gcloud config is a mapping, not {type(config).__name__}")
    data = _plain(config)
    if isinstance(data.get("workerPoolSpecs"), dict):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        spec = aiplatform_v1.CustomJobSpec.from_json(json.dumps(data))
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise ValueError(f"config: {exc}") from exc
    pools = list(spec.worker_pool_specs)
    if not pools:
        raise _fail("worker_pool_specs", "at least one worker pool is needed")
    for index, pool in enumerate(pools):
        machine_spec(machine_type=pool.machine_spec.machine_type or f"<pool {index} has no machineSpec>",
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        _whole(pool.replica_count, "replica_count", 1, 2**63 - 1)
        which = aiplatform_v1.WorkerPoolSpec.pb(pool).WhichOneof("task")
        if which == "python_package_spec":
            package = pool.python_package_spec
            if not package.executor_image_uri:
                raise _fail("image_uri", f"pool {index} has no executorImageUri")
            if not package.package_uris:
                raise _fail("package_uris", f"pool {index} has no packageUris")
            for uri in package.package_uris:
                _check_gcs(uri, "package_uris")
            if not _is_module(package.python_module):
                raise _fail("python_module", f"pool {index}: {package.python_module!r} is not a module name")
        elif which != "container_spec" or not pool.container_spec.image_uri:
            raise _fail("image_uri", f"pool {index} has no image to run")
    if "base_output_directory" in spec:
        _check_gcs(spec.base_output_directory.output_uri_prefix, "base_output_directory")
    return spec
