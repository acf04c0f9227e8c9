"""Vertex AI configs checked with plain string parsing (no regular expressions)."""

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

LOWER = frozenset(string.ascii_lowercase)
DIGITS = frozenset(string.digits)
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
IDENT_START = frozenset(string.ascii_letters + "_")
IDENT_CHARS = IDENT_START | DIGITS
SHAPES = ("standard", "highmem", "highcpu")


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{message} (field: {field})")
        self.field = field


def _positive_decimal(text: str) -> bool:
    return bool(text) and set(text) <= DIGITS and text[0] != "0"


def _machine_family(machine_type: str) -> str:
    """'fixed', 'n1', 'cpu' or 'unknown' (parsed by splitting, not by regex)."""
    if machine_type in FIXED_GPU_MACHINES:
        return "fixed"
    parts = machine_type.split("-")
    if len(parts) != 3 or parts[1] not in SHAPES or not _positive_decimal(parts[2]):
        return "unknown"
    if parts[0] == "n1":
        return "n1"
    if parts[0] in ("e2", "n2", "n2d", "c2"):
        return "cpu"
    return "unknown"


def _whole(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"expected an int, got {value!r}")
    if value < low or value > high:
        raise FieldError(field, f"{value} is outside {low}..{high}")
    return value


def _is_project(text: str) -> bool:
    if text and set(text) <= DIGITS:
        return True
    return (
        6 <= len(text) <= 30
        and text[0] in LOWER
        and text[-1] != "-"
        and set(text) <= (LOWER | DIGITS | {"-"})
    )


def _is_location(text: str) -> bool:
    body = text.rstrip(string.digits)
    if body == text or not body:
        return False
    words = body.split("-")
    return all(word and set(word) <= LOWER for word in words)


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and set(text) <= ID_CHARS and text[0] not in "_-"


def _resource(field: str, value: Any, collection: str | None) -> str:
    """Return the location of a parsed resource name, or raise naming the field."""
    if not isinstance(value, str):
        raise FieldError(field, f"expected a string, got {type(value).__name__}")
    parts = value.split("/")
    expected = 4 if collection is None else 6
    ok = (
        len(parts) == expected
        and parts[0] == "projects"
        and parts[2] == "locations"
        and _is_project(parts[1])
        and _is_location(parts[3])
    )
    if ok and collection is not None:
        ok = parts[4] == collection
        last = parts[5]
        if collection == "models" and "@" in last:
            model_id, _, version = last.partition("@")
            ok = ok and _is_id(model_id) and _is_id(version)
        else:
            ok = ok and _is_id(last)
    if not ok:
        raise FieldError(field, f"{value!r} is not a valid name")
    return parts[3]


def _display_name(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError("display_name", f"expected a string, got {type(value).__name__}")
    if len(value) == 0 or len(value) > 128 or value.isspace():
        raise FieldError("display_name", "must be 1 to 128 characters, not only whitespace")
    return value


def _gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("gs://"):
        raise FieldError(field, f"{value!r} is not a gs:// URI")
    bucket = value[len("gs://"):].split("/", 1)[0]
    if not (
        3 <= len(bucket) <= 63
        and set(bucket) <= BUCKET_CHARS
        and bucket[0] in (LOWER | DIGITS)
        and bucket[-1] in (LOWER | DIGITS)
    ):
        raise FieldError(field, f"{value!r} has no valid bucket")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        raise FieldError(field, f"expected a list of strings, got {type(value).__name__}")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise FieldError(field, f"item {item!r} is not a string")
        out.append(item)
    return out


def _module(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError("python_module", f"expected a string, got {type(value).__name__}")
    for part in value.split("."):
        if not part or part[0] not in IDENT_START or not set(part) <= IDENT_CHARS:
            raise FieldError("python_module", f"{value!r} is not a dotted module name")
    return value


def _to_accelerator(value: Any) -> Accelerator:
    if value is None:
        return Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if isinstance(value, Accelerator):
        return value
    if isinstance(value, str):
        try:
            return Accelerator.__members__[value]
        except KeyError:
            raise FieldError("accelerator_type", f"unknown accelerator {value!r}") from None
    raise FieldError("accelerator_type", f"expected a name or AcceleratorType, got {value!r}")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    if not isinstance(machine_type, str):
        raise FieldError("machine_type", f"expected a string, got {machine_type!r}")
    gpu = _to_accelerator(accelerator_type)
    count = _whole("accelerator_count", accelerator_count, 0, 2**31 - 1)
    none = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    family = _machine_family(machine_type)
    if family == "unknown":
        raise FieldError("machine_type", f"{machine_type!r} is not in the table")
    if family == "fixed":
        wanted, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != wanted:
            raise FieldError("accelerator_type", f"{machine_type} needs {wanted.name}")
        counts: Sequence[int] = [n]
    elif family == "n1" and gpu != none:
        if gpu not in N1_GPU_COUNTS:
            raise FieldError("accelerator_type", f"{gpu.name} does not fit {machine_type}")
        counts = N1_GPU_COUNTS[gpu]
    else:
        if gpu != none:
            raise FieldError("accelerator_type", f"{machine_type} takes no GPU")
        counts = [0]
    if count not in counts:
        raise FieldError("accelerator_count", f"{count} is not one of {list(counts)}")
    spec = aiplatform_v1.MachineSpec()
    spec.machine_type = machine_type
    spec.accelerator_type = gpu
    spec.accelerator_count = count
    return spec


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
    _resource("parent", parent, None)
    _display_name(display_name)
    cmd = _strings("command", command)
    arg_list = _strings("args", args)
    packages = _strings("package_uris", package_uris)
    replicas = _whole("replica_count", replica_count, 1, 2**63 - 1)
    if not isinstance(image_uri, str) or image_uri == "":
        raise FieldError("image_uri", "an image URI is required")
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=accelerator_count,
    )
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replicas)
    if packages or python_module is not None:
        if python_module is None:
            raise FieldError("python_module", "package_uris need a python_module")
        _module(python_module)
        if not packages:
            raise FieldError("package_uris", "python_module needs package_uris")
        for uri in packages:
            _gcs("package_uris", uri)
        if cmd:
            raise FieldError("command", "a Python package pool takes no command")
        pool.python_package_spec = aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri,
            package_uris=packages,
            python_module=python_module,
            args=arg_list,
        )
    else:
        pool.container_spec = aiplatform_v1.ContainerSpec(
            image_uri=image_uri, command=cmd, args=arg_list
        )
    job_spec = aiplatform_v1.CustomJobSpec()
    job_spec.worker_pool_specs.append(pool)
    if base_output_directory is not None:
        job_spec.base_output_directory.output_uri_prefix = base_output_directory
    job = aiplatform_v1.CustomJob(display_name=display_name, job_spec=job_spec)
    return aiplatform_v1.CreateCustomJobRequest(parent=parent, custom_job=job)


def _split(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise FieldError("traffic_split", "expected a mapping of deployed-model IDs to percents")
    items = list(value.items())
    if not items:
        raise FieldError("traffic_split", "is empty")
    total = 0
    for key, pct in items:
        if not isinstance(key, str) or not 1 <= len(key) <= 10 or not set(key) <= DIGITS:
            raise FieldError("traffic_split", f"bad key {key!r}")
        if type(pct) is not int:
            raise FieldError("traffic_split", f"bad percentage {pct!r}")
        if pct < 0 or pct > 100:
            raise FieldError("traffic_split", f"percentage {pct} outside 0..100")
        total += pct
    if total != 100:
        raise FieldError("traffic_split", f"percentages add up to {total}, not 100")
    return dict(items)


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
    where = _resource("endpoint", endpoint, "endpoints")
    if _resource("model", model, "models") != where:
        raise FieldError("model", f"must be in the endpoint's location {where}")
    _display_name(display_name)
    low = _whole("min_replica_count", min_replica_count, 1, 2**31 - 1)
    high = _whole("max_replica_count", max_replica_count, low, 2**31 - 1)
    split = _split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(
            machine_type=machine_type,
            accelerator_type=accelerator_type,
            accelerator_count=accelerator_count,
        ),
        min_replica_count=low,
        max_replica_count=high,
    )
    deployed = aiplatform_v1.DeployedModel(
        model=model, display_name=display_name, dedicated_resources=resources
    )
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed)
    for key, pct in split.items():
        request.traffic_split[key] = pct
    return request


def _check_pool(pool: aiplatform_v1.WorkerPoolSpec) -> None:
    if "machine_spec" not in pool:
        raise FieldError("machine_type", "the pool has no machineSpec")
    ms = pool.machine_spec
    machine_spec(
        machine_type=ms.machine_type,
        accelerator_type=Accelerator(ms.accelerator_type) if ms.accelerator_type in
        set(Accelerator) else ms.accelerator_type,
        accelerator_count=ms.accelerator_count,
    )
    if pool.replica_count < 1:
        raise FieldError("replica_count", "a pool needs at least one replica")
    if "container_spec" in pool:
        if not pool.container_spec.image_uri:
            raise FieldError("image_uri", "the container pool has no image")
    elif "python_package_spec" in pool:
        pkg = pool.python_package_spec
        if not pkg.executor_image_uri:
            raise FieldError("image_uri", "the package pool has no executor image")
        if not pkg.package_uris:
            raise FieldError("package_uris", "the package pool has no packages")
        for uri in pkg.package_uris:
            _gcs("package_uris", uri)
        if not pkg.python_module:
            raise FieldError("python_module", "the package pool has no module")
        _module(pkg.python_module)
    else:
        raise FieldError("image_uri", "the pool has neither a container nor a package")


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping, got {type(config).__name__}")
    data = dict(config)
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [dict(pools)]
    try:
        message = json_format.ParseDict(data, aiplatform_v1.CustomJobSpec.pb()())
    except Exception as exc:  # ParseError and anything else the parser lets through
        raise ValueError(f"config does not parse as a CustomJobSpec: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(message)
    if len(spec.worker_pool_specs) == 0:
        raise FieldError("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        _check_pool(pool)
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
