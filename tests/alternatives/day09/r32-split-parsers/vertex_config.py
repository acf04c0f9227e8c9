"""Vertex AI configs, checked with string methods (no regular expressions) and built as proto-plus objects.

Names are taken apart with str.split and each part is checked by a small predicate; the gcloud
config goes through JSON text and proto-plus `from_json` rather than ParseDict.
"""

from __future__ import annotations

import json
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
PROJECT_CHARS = LOWER | DIGITS | {"-"}
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
LIMITS = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


class Invalid(ValueError):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")


def whole(field: str, value: Any, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(field, f"expected an int, got {value!r}")
    if low is not None and value < low:
        raise Invalid(field, f"{value} is below {low}")
    if field in LIMITS and value > LIMITS[field]:
        raise Invalid(field, f"{value} does not fit the API's field")
    return value


def is_number(text: str) -> bool:
    return text != "" and set(text) <= DIGITS


def is_project(text: str) -> bool:
    if is_number(text):
        return True
    return (6 <= len(text) <= 30 and set(text) <= PROJECT_CHARS and text[0] in LOWER and text[-1] != "-")


def is_location(text: str) -> bool:
    head = text.rstrip(string.digits)
    if head == text or not head:
        return False
    return all(word != "" and set(word) <= LOWER for word in head.split("-"))


def is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and set(text) <= ID_CHARS and text[0] in LOWER | DIGITS


def resource(field: str, value: Any, collection: str | None) -> str:
    """Check projects/P/locations/L[/collection/ID]; return the location."""
    if not isinstance(value, str):
        raise Invalid(field, f"expected a resource name, got {type(value).__name__}")
    parts = value.split("/")
    size = 4 if collection is None else 6
    ok = (len(parts) == size and parts[0] == "projects" and is_project(parts[1])
          and parts[2] == "locations" and is_location(parts[3]))
    if ok and collection is not None:
        ok = parts[4] == collection
        leaf = parts[5]
        if collection == "models" and "@" in leaf:
            leaf, version = leaf.split("@", 1)
            ok = ok and is_id(version)
        ok = ok and is_id(leaf)
    if not ok:
        raise Invalid(field, f"{value!r} is not a valid name")
    return parts[3]


def gcs(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("gs://"):
        raise Invalid(field, f"{value!r} is not a gs:// URI")
    bucket = value[len("gs://"):].split("/", 1)[0]
    if not (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS
            and bucket[0] in LOWER | DIGITS and bucket[-1] in LOWER | DIGITS):
        raise Invalid(field, f"{bucket!r} is not a bucket name")
    return value


def display(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 128 or value.isspace() or value == "":
        raise Invalid("display_name", "must be a string of 1 to 128 characters, not only whitespace")
    return value


def string_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise Invalid(field, "expected a list of strings")
    if not all(isinstance(item, str) for item in value):
        raise Invalid(field, "every item must be a string")
    return [*value]


def module(value: Any) -> str:
    ok = isinstance(value, str) and value.isascii() and all(part.isidentifier() for part in value.split("."))
    if not ok:
        raise Invalid("python_module", f"{value!r} is not a dotted module name")
    return value


def image(value: Any) -> str:
    if not isinstance(value, str) or value == "":
        raise Invalid("image_uri", "an image URI is required")
    return value


def to_accelerator(value: Any) -> Accelerator:
    if value is None:
        return Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if isinstance(value, Accelerator):
        return value
    if isinstance(value, str) and value in Accelerator.__members__:
        return Accelerator.__members__[value]
    raise Invalid("accelerator_type", f"{value!r} is not an AcceleratorType")


def allowed_counts(machine_type: Any, gpu: Accelerator) -> tuple[int, ...]:
    none = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    if not isinstance(machine_type, str):
        raise Invalid("machine_type", "expected a string")
    if machine_type in FIXED_GPU_MACHINES:
        fixed, n = FIXED_GPU_MACHINES[machine_type]
        if gpu is not fixed:
            raise Invalid("accelerator_type", f"{machine_type} needs {fixed.name}")
        return (n,)
    family, _, rest = machine_type.partition("-")
    shape, _, size = rest.partition("-")
    if shape not in SHAPES or not is_number(size) or size.startswith("0") or family not in CPU_FAMILIES | {"n1"}:
        raise Invalid("machine_type", f"{machine_type!r} is not in the table")
    if gpu is none:
        return (0,)
    if family == "n1" and gpu in N1_GPU_COUNTS:
        return N1_GPU_COUNTS[gpu]
    raise Invalid("accelerator_type", f"{gpu.name} does not fit {machine_type}")


def machine_spec(*, machine_type, accelerator_type=None, accelerator_count=0) -> aiplatform_v1.MachineSpec:
    gpu = to_accelerator(accelerator_type)
    count = whole("accelerator_count", accelerator_count)
    if gpu is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED and count != 0 and machine_type not in FIXED_GPU_MACHINES:
        allowed_counts(machine_type, gpu)  # an unknown machine is reported first
        raise Invalid("accelerator_count", "a count without an accelerator")
    if count not in allowed_counts(machine_type, gpu):
        raise Invalid("accelerator_count", f"{count} is not allowed for {machine_type}")
    spec = aiplatform_v1.MachineSpec()
    spec.machine_type = machine_type
    spec.accelerator_type = gpu
    spec.accelerator_count = count
    return spec


def custom_job_request(*, parent, display_name, machine_type, image_uri, accelerator_type=None,
                       accelerator_count=0, replica_count=1, command=(), args=(), package_uris=(),
                       python_module=None, base_output_directory=None) -> aiplatform_v1.CreateCustomJobRequest:
    resource("parent", parent, None)
    display(display_name)
    command, args, package_uris = (string_list(f, v) for f, v in
                                   (("command", command), ("args", args), ("package_uris", package_uris)))
    whole("replica_count", replica_count, 1)
    image(image_uri)
    pool = aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replica_count)
    wants_package = bool(package_uris) or python_module is not None
    if wants_package:
        if python_module is None:
            raise Invalid("python_module", "package_uris need a python_module")
        if not package_uris:
            raise Invalid("package_uris", "a python_module needs package_uris")
        module(python_module)
        [gcs("package_uris", uri) for uri in package_uris]
        if command:
            raise Invalid("command", "a Python package job takes no command")
        pool.python_package_spec = aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)
    else:
        pool.container_spec = aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)
    fields: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        fields["base_output_directory"] = {"output_uri_prefix": gcs("base_output_directory", base_output_directory)}
    job = aiplatform_v1.CustomJob(display_name=display_name, job_spec=aiplatform_v1.CustomJobSpec(**fields))
    return aiplatform_v1.CreateCustomJobRequest(parent=parent, custom_job=job)


def checked_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping) or len(split) == 0:
        raise Invalid("traffic_split", "expected a non-empty mapping")
    copy: dict[str, int] = {}
    for key, pct in split.items():
        if not (isinstance(key, str) and is_number(key) and len(key) <= 10):
            raise Invalid("traffic_split", f"{key!r} is not a deployed-model ID")
        if isinstance(pct, bool) or not isinstance(pct, int) or pct < 0 or pct > 100:
            raise Invalid("traffic_split", f"{pct!r} is not a whole percentage")
        copy[key] = pct
    if sum(copy.values()) != 100:
        raise Invalid("traffic_split", f"percentages add up to {sum(copy.values())}, not 100")
    return copy


def deploy_model_request(*, endpoint, model, display_name, machine_type, min_replica_count,
                         max_replica_count, traffic_split, accelerator_type=None,
                         accelerator_count=0) -> aiplatform_v1.DeployModelRequest:
    where = resource("endpoint", endpoint, "endpoints")
    if resource("model", model, "models") != where:
        raise Invalid("model", f"the model must be in the endpoint's location {where}")
    display(display_name)
    low = whole("min_replica_count", min_replica_count, 1)
    whole("max_replica_count", max_replica_count, low)
    split = checked_split(traffic_split)
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint)
    request.deployed_model = aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                                         dedicated_resources=resources)
    for key, pct in split.items():
        request.traffic_split[key] = pct
    return request


def check_pool(pool: aiplatform_v1.WorkerPoolSpec) -> None:
    machine_spec(machine_type=pool.machine_spec.machine_type, accelerator_type=pool.machine_spec.accelerator_type,
                 accelerator_count=pool.machine_spec.accelerator_count)
    whole("replica_count", pool.replica_count, 1)
    kind = type(pool).pb(pool).WhichOneof("task")
    if kind == "python_package_spec":
        package = pool.python_package_spec
        image(package.executor_image_uri)
        if len(package.package_uris) == 0:
            raise Invalid("package_uris", "no packages")
        for uri in package.package_uris:
            gcs("package_uris", uri)
        module(package.python_module)
    elif kind == "container_spec":
        image(pool.container_spec.image_uri)
    else:
        raise Invalid("image_uri", "the pool runs neither a container nor a Python package")


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping, not {type(config).__name__}")
    pools = config.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        pools = [dict(pools)]
    data = {**config, "workerPoolSpecs": pools} if "workerPoolSpecs" in config else {**config}
    try:
        text = json.dumps(data, default=str)
        spec = aiplatform_v1.CustomJobSpec.from_json(text)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise ValueError(f"the config does not parse: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        check_pool(pool)
    if "base_output_directory" in spec:
        gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
