"""Vertex AI configs checked offline, without regular expressions: names are split and
each part is checked character by character; requests are built from nested dicts."""

from __future__ import annotations

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
N1_GPU_COUNTS: dict[Accelerator, tuple[int, ...]] = {
    Accelerator.NVIDIA_TESLA_T4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P4: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_P100: (1, 2, 4),
    Accelerator.NVIDIA_TESLA_V100: (1, 2, 4, 8),
}
CPU_FAMILIES = frozenset({"e2", "n2", "n2d", "c2"})
SHAPES = frozenset({"standard", "highmem", "highcpu"})

LOWER = frozenset(string.ascii_lowercase)
DIGITS = frozenset(string.digits)
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
IDENT_START = frozenset(string.ascii_letters) | {"_"}
IDENT_CHARS = IDENT_START | DIGITS


class Invalid(ValueError):
    def __init__(self, field: str, why: str):
        super().__init__(f"{field}: {why}")


def is_whole(value: Any) -> bool:
    return type(value) is int


def positive_ascii_number(text: str) -> bool:
    return bool(text) and set(text) <= DIGITS and text[0] != "0"


def machine_kind(machine_type: str) -> str | None:
    """'fixed', 'n1', 'cpu' or None for a machine outside the allowlist."""
    if machine_type in FIXED_GPU_MACHINES:
        return "fixed"
    parts = machine_type.split("-")
    if len(parts) != 3 or parts[1] not in SHAPES or not positive_ascii_number(parts[2]):
        return None
    if parts[0] == "n1":
        return "n1"
    return "cpu" if parts[0] in CPU_FAMILIES else None


def to_accelerator(value: Any) -> Accelerator:
    if value is None:
        return Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if isinstance(value, Accelerator):
        return value
    if isinstance(value, str) and value in Accelerator.__members__:
        return Accelerator.__members__[value]
    raise Invalid("accelerator_type", f"{value!r} is not an AcceleratorType name or member")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    gpu = to_accelerator(accelerator_type)
    none = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if not is_whole(accelerator_count):
        raise Invalid("accelerator_count", f"must be an int, got {accelerator_count!r}")
    kind = machine_kind(machine_type) if isinstance(machine_type, str) else None
    if kind is None:
        raise Invalid("machine_type", f"{machine_type!r} is not an allowed machine")
    if kind == "fixed":
        expected_gpu, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != expected_gpu:
            raise Invalid("accelerator_type", f"{machine_type} needs {expected_gpu.name}")
        counts = (n,)
    elif kind == "n1" and gpu != none:
        if gpu not in N1_GPU_COUNTS:
            raise Invalid("accelerator_type", f"{gpu.name} does not fit {machine_type}")
        counts = N1_GPU_COUNTS[gpu]
    elif kind == "cpu" and gpu != none:
        raise Invalid("accelerator_type", f"{machine_type} takes no GPU")
    else:
        counts = (0,)
    if accelerator_count not in counts:
        raise Invalid("accelerator_count", f"{accelerator_count} is not one of {counts}")
    return aiplatform_v1.MachineSpec({"machine_type": machine_type, "accelerator_type": gpu,
                                      "accelerator_count": accelerator_count})


# ---- names -----------------------------------------------------------------------------

def project_ok(text: str) -> bool:
    if text and set(text) <= DIGITS:
        return True
    return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
            and set(text) <= LOWER | DIGITS | {"-"})


def location_ok(text: str) -> bool:
    body = text.rstrip(string.digits)
    if body == text or not body or set(text[len(body):]) - DIGITS:
        return False
    return all(word and set(word) <= LOWER for word in body.split("-"))


def id_ok(text: str) -> bool:
    return 1 <= len(text) <= 63 and set(text) <= ID_CHARS and text[0] not in "_-"


def parse_name(field: str, value: Any, collection: str | None, versioned: bool = False) -> str:
    """Check a resource name; return its location."""
    if not isinstance(value, str):
        raise Invalid(field, f"must be a str, got {type(value).__name__}")
    parts = value.split("/")
    size = 4 if collection is None else 6
    ok = (len(parts) == size and parts[0] == "projects" and parts[2] == "locations"
          and project_ok(parts[1]) and location_ok(parts[3]))
    if ok and collection is not None:
        tail = parts[5]
        if versioned and "@" in tail:
            head, _, version = tail.partition("@")
            ok = parts[4] == collection and id_ok(head) and id_ok(version)
        else:
            ok = parts[4] == collection and id_ok(tail)
    if not ok:
        raise Invalid(field, f"{value!r} is not a valid {field} name")
    return parts[3]


def check_gcs(field: str, value: Any) -> str:
    if isinstance(value, str) and value.startswith("gs://"):
        bucket = value[5:].split("/", 1)[0]
        if (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS
                and bucket[0] in LOWER | DIGITS and bucket[-1] in LOWER | DIGITS):
            return value
    raise Invalid(field, f"{value!r} is not a gs:// URI")


def check_module(value: Any) -> str:
    if isinstance(value, str) and value:
        if all(part and part[0] in IDENT_START and set(part) <= IDENT_CHARS for part in value.split(".")):
            return value
    raise Invalid("python_module", f"{value!r} is not a dotted module name")


def check_display_name(value: Any) -> str:
    if isinstance(value, str) and 1 <= len(value) <= 128 and value.strip():
        return value
    raise Invalid("display_name", "must be a string of 1 to 128 characters, not only whitespace")


def check_strings(field: str, value: Any) -> list[str]:
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return items
    raise Invalid(field, "must be a list of strings")


def check_count(field: str, value: Any, low: int, bits: int) -> int:
    if is_whole(value) and low <= value < 2 ** (bits - 1):
        return value
    raise Invalid(field, f"{value!r} must be an int from {low} to {2 ** (bits - 1) - 1}")


def check_image(value: Any) -> str:
    if isinstance(value, str) and value != "":
        return value
    raise Invalid("image_uri", "an image is required")


def check_package(uris: list[str], module: Any) -> None:
    if not uris:
        raise Invalid("package_uris", "python_module needs package_uris")
    if module is None:
        raise Invalid("python_module", "package_uris need a python_module")
    for uri in uris:
        check_gcs("package_uris", uri)
    check_module(module)


# ---- requests --------------------------------------------------------------------------

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
    parse_name("parent", parent, None)
    check_display_name(display_name)
    lists = {name: check_strings(name, value)
             for name, value in (("command", command), ("args", args), ("package_uris", package_uris))}
    image = check_image(image_uri)
    replicas = check_count("replica_count", replica_count, 1, 64)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    pool: dict[str, Any] = {"machine_spec": machine, "replica_count": replicas}
    if lists["package_uris"] or python_module is not None:
        check_package(lists["package_uris"], python_module)
        if lists["command"]:
            raise Invalid("command", "a Python package job takes no command")
        pool["python_package_spec"] = {"executor_image_uri": image, "package_uris": lists["package_uris"],
                                       "python_module": python_module, "args": lists["args"]}
    else:
        pool["container_spec"] = {"image_uri": image, "command": lists["command"], "args": lists["args"]}
    job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        job_spec["base_output_directory"] = {
            "output_uri_prefix": check_gcs("base_output_directory", base_output_directory)}
    return aiplatform_v1.CreateCustomJobRequest(
        {"parent": parent, "custom_job": {"display_name": display_name, "job_spec": job_spec}})


def check_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping) or len(split) == 0:
        raise Invalid("traffic_split", "must be a non-empty mapping")
    items = list(split.items())
    for key, pct in items:
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and set(key) <= DIGITS):
            raise Invalid("traffic_split", f"{key!r} is not a deployed-model ID")
        if not (is_whole(pct) and 0 <= pct <= 100):
            raise Invalid("traffic_split", f"{pct!r} is not a whole percentage")
    total = sum(pct for _, pct in items)
    if total != 100:
        raise Invalid("traffic_split", f"percentages add up to {total}, not 100")
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
    endpoint_location = parse_name("endpoint", endpoint, "endpoints")
    model_location = parse_name("model", model, "models", versioned=True)
    if model_location != endpoint_location:
        raise Invalid("model", f"the model is in {model_location}, the endpoint in {endpoint_location}")
    check_display_name(display_name)
    low = check_count("min_replica_count", min_replica_count, 1, 32)
    high = check_count("max_replica_count", max_replica_count, low, 32)
    split = check_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest({
        "endpoint": endpoint,
        "deployed_model": {"model": model, "display_name": display_name,
                           "dedicated_resources": {"machine_spec": machine, "min_replica_count": low,
                                                   "max_replica_count": high}},
        "traffic_split": split,
    })


def plain(value: Any) -> Any:
    """A deep copy with every Mapping turned into a dict and every list into a new list."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"a gcloud config must be a mapping, not {type(config).__name__}")
    data = plain(config)
    if isinstance(data.get("workerPoolSpecs"), dict):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    raw = aiplatform_v1.CustomJobSpec.pb()()
    try:
        json_format.ParseDict(data, raw)
    except json_format.ParseError as exc:
        raise ValueError(f"the config does not parse as a CustomJobSpec: {exc}") from exc
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"the config holds a value of the wrong type: {exc}") from exc
    if not raw.worker_pool_specs:
        raise Invalid("worker_pool_specs", "the job has no worker pools")
    for pool in raw.worker_pool_specs:
        if not pool.HasField("machine_spec"):
            raise Invalid("machine_type", "a pool without machineSpec has no machine type")
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=Accelerator(pool.machine_spec.accelerator_type),
                     accelerator_count=pool.machine_spec.accelerator_count)
        check_count("replica_count", pool.replica_count, 1, 64)
        kind = pool.WhichOneof("task")
        if kind == "python_package_spec":
            package = pool.python_package_spec
            check_image(package.executor_image_uri)
            check_package(list(package.package_uris), package.python_module if package.python_module else None)
        elif kind == "container_spec":
            check_image(pool.container_spec.image_uri)
        else:
            raise Invalid("image_uri", "a pool with neither containerSpec nor pythonPackageSpec has no image")
    if raw.HasField("base_output_directory"):
        check_gcs("base_output_directory", raw.base_output_directory.output_uri_prefix)
    return aiplatform_v1.CustomJobSpec.wrap(raw)
