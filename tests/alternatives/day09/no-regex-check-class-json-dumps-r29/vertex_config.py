"""Vertex AI configs checked offline: a Validator class, hand-written parsers, no regular expressions."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

LOWER = frozenset(string.ascii_lowercase)
DIGITS = frozenset(string.digits)
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
IDENT_START = frozenset(string.ascii_letters + "_")
IDENT_CHARS = IDENT_START | DIGITS


class Invalid(ValueError):
    def __init__(self, field: str, why: str):
        super().__init__(f"{field}: {why}")


def _is_number(text: str) -> bool:
    return bool(text) and set(text) <= DIGITS


def _is_project(text: str) -> bool:
    if _is_number(text):
        return True
    return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
            and set(text) <= LOWER | DIGITS | {"-"})


def _is_location(text: str) -> bool:
    head = text.rstrip(string.digits)
    if head == text or not head:
        return False
    words = head.split("-")
    return all(word and set(word) <= LOWER for word in words)


def _is_id(text: str) -> bool:
    return 1 <= len(text) <= 63 and text[0] in LOWER | DIGITS and set(text) <= ID_CHARS


def _is_gcs(text: str) -> bool:
    if not text.startswith("gs://"):
        return False
    bucket, _, path = text[5:].partition("/")
    if "\n" in path:
        return False
    return (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS
            and bucket[0] in LOWER | DIGITS and bucket[-1] in LOWER | DIGITS)


def _is_module(text: str) -> bool:
    return all(part and part[0] in IDENT_START and set(part) <= IDENT_CHARS for part in text.split("."))


def _machine_number(text: str) -> bool:
    return _is_number(text) and text[0] != "0"


@dataclass(frozen=True)
class Machine:
    """One row of the table: which GPUs fit, and in which counts."""

    name: str

    def kind(self) -> str:
        if self.name in FIXED_GPU_MACHINES:
            return "fixed"
        parts = self.name.split("-")
        if len(parts) == 3 and parts[1] in ("standard", "highmem", "highcpu") and _machine_number(parts[2]):
            if parts[0] == "n1":
                return "n1"
            if parts[0] in ("e2", "n2", "n2d", "c2"):
                return "cpu"
        raise Invalid("machine_type", f"{self.name!r} is not in the machine table")

    def allowed_counts(self, gpu: Accelerator | None) -> set[int]:
        kind = self.kind()
        if kind == "fixed":
            fixed_gpu, n = FIXED_GPU_MACHINES[self.name]
            if gpu is not fixed_gpu:
                raise Invalid("accelerator_type", f"{self.name} needs {fixed_gpu.name}")
            return {n}
        if gpu is None:
            return {0}
        if kind == "cpu" or gpu not in N1_GPU_COUNTS:
            raise Invalid("accelerator_type", f"{gpu.name} does not fit {self.name}")
        return set(N1_GPU_COUNTS[gpu])


class Check:
    """Field checks shared by every function."""

    @staticmethod
    def whole(field: str, value: Any, low: int, high: int) -> int:
        if type(value) is not int:
            raise Invalid(field, f"{value!r} is not an int")
        if value < low or value > high:
            raise Invalid(field, f"{value} is outside {low}..{high}")
        return value

    @staticmethod
    def text(field: str, value: Any, ok) -> str:
        if not isinstance(value, str) or not ok(value):
            raise Invalid(field, f"{value!r} is malformed")
        return value

    @staticmethod
    def display_name(value: Any) -> str:
        if isinstance(value, str) and 0 < len(value) <= 128 and not value.isspace():
            return value
        raise Invalid("display_name", f"{value!r} is not 1 to 128 characters")

    @staticmethod
    def str_list(field: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise Invalid(field, f"expected a list of strings, got {type(value).__name__}")
        items = tuple(value)
        for item in items:
            if not isinstance(item, str):
                raise Invalid(field, f"{item!r} is not a string")
        return items

    @staticmethod
    def image(value: Any) -> str:
        if isinstance(value, str) and value != "":
            return value
        raise Invalid("image_uri", "an image is required")

    @staticmethod
    def package(uris: Sequence[str], module: Any) -> None:
        if len(uris) == 0:
            raise Invalid("package_uris", "a python_module needs packages")
        if module is None:
            raise Invalid("python_module", "packages need a module")
        Check.text("python_module", module, _is_module)
        for uri in uris:
            Check.text("package_uris", uri, _is_gcs)


def _gpu(value: Any) -> Accelerator | None:
    if isinstance(value, Accelerator):
        member = value
    elif value is None:
        return None
    elif isinstance(value, str) and value in Accelerator.__members__:
        member = Accelerator.__members__[value]
    else:
        raise Invalid("accelerator_type", f"{value!r} is not an AcceleratorType")
    return None if member is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def machine_spec(*, machine_type, accelerator_type=None, accelerator_count=0):
    if not isinstance(machine_type, str):
        raise Invalid("machine_type", "must be a string")
    gpu = _gpu(accelerator_type)
    if type(accelerator_count) is not int:
        raise Invalid("accelerator_count", f"{accelerator_count!r} is not an int")
    if gpu is None and accelerator_count:
        raise Invalid("accelerator_count", "no accelerator, so the count must be 0")
    if accelerator_count not in Machine(machine_type).allowed_counts(gpu):
        raise Invalid("accelerator_count", f"{accelerator_count} is not allowed here")
    fields = {"machine_type": machine_type}
    if gpu is not None:
        fields.update(accelerator_type=gpu, accelerator_count=accelerator_count)
    return aiplatform_v1.MachineSpec(**fields)


def _parent_parts(text: Any, field: str, suffix: str | None) -> tuple[str, ...]:
    if not isinstance(text, str):
        raise Invalid(field, "must be a string")
    parts = text.split("/")
    size = 4 if suffix is None else 6
    if (len(parts) != size or parts[0] != "projects" or parts[2] != "locations"
            or not _is_project(parts[1]) or not _is_location(parts[3])):
        raise Invalid(field, f"{text!r} is not a resource name of the right form")
    if suffix is not None and parts[4] != suffix:
        raise Invalid(field, f"{text!r} is not a {suffix} name")
    return tuple(parts)


def custom_job_request(*, parent, display_name, machine_type, image_uri, accelerator_type=None,
                       accelerator_count=0, replica_count=1, command=(), args=(), package_uris=(),
                       python_module=None, base_output_directory=None):
    _parent_parts(parent, "parent", None)
    Check.display_name(display_name)
    command = Check.str_list("command", command)
    args = Check.str_list("args", args)
    package_uris = Check.str_list("package_uris", package_uris)
    Check.whole("replica_count", replica_count, 1, 2**63 - 1)
    Check.image(image_uri)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replica_count)
    if package_uris or python_module is not None:
        Check.package(package_uris, python_module)
        if command:
            raise Invalid("command", "a Python package job has no command")
        pool.python_package_spec = aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=list(package_uris), python_module=python_module,
            args=list(args))
    else:
        pool.container_spec = aiplatform_v1.ContainerSpec(image_uri=image_uri, command=list(command),
                                                          args=list(args))
    job_spec = aiplatform_v1.CustomJobSpec(worker_pool_specs=[pool])
    if base_output_directory is not None:
        Check.text("base_output_directory", base_output_directory, _is_gcs)
        job_spec.base_output_directory.output_uri_prefix = base_output_directory
    return aiplatform_v1.CreateCustomJobRequest(
        parent=parent, custom_job=aiplatform_v1.CustomJob(display_name=display_name, job_spec=job_spec))


def _named(field: str, text: Any, kind: str, versioned: bool) -> str:
    if not isinstance(text, str):
        raise Invalid(field, "must be a string")
    parts = text.split("/")
    if len(parts) != 6:
        raise Invalid(field, f"{text!r} has the wrong number of segments")
    _parent_parts("/".join(parts[:4]), field, None)
    if parts[4] != kind:
        raise Invalid(field, f"{text!r} is not a {kind} name")
    ident = parts[5]
    if versioned and "@" in ident:
        ident, version = ident.split("@", 1)
        if not _is_id(version):
            raise Invalid(field, f"version {version!r} is not an ID")
    if not _is_id(ident):
        raise Invalid(field, f"{ident!r} is not an ID")
    return parts[3]


def deploy_model_request(*, endpoint, model, display_name, machine_type, min_replica_count,
                         max_replica_count, traffic_split, accelerator_type=None, accelerator_count=0):
    endpoint_location = _named("endpoint", endpoint, "endpoints", versioned=False)
    model_location = _named("model", model, "models", versioned=True)
    if endpoint_location != model_location:
        raise Invalid("model", f"in {model_location}, but the endpoint is in {endpoint_location}")
    Check.display_name(display_name)
    low = Check.whole("min_replica_count", min_replica_count, 1, 2**31 - 1)
    Check.whole("max_replica_count", max_replica_count, low, 2**31 - 1)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise Invalid("traffic_split", "must be a non-empty mapping")
    split: dict[str, int] = {}
    for key, share in traffic_split.items():
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and _is_number(key)):
            raise Invalid("traffic_split", f"{key!r} is not a deployed model ID")
        if type(share) is not int or not 0 <= share <= 100:
            raise Invalid("traffic_split", f"{share!r} is not a whole percentage")
        split[key] = share
    if sum(split.values()) != 100:
        raise Invalid("traffic_split", f"percentages add up to {sum(split.values())}, not 100")
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint)
    request.deployed_model.model = model
    request.deployed_model.display_name = display_name
    request.deployed_model.dedicated_resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine, min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    for key, share in split.items():
        request.traffic_split[key] = share
    return request


def custom_job_spec_from_gcloud(config):
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping, not {type(config).__name__}")
    data = {key: value for key, value in config.items()}
    pools = data.get("workerPoolSpecs")
    if isinstance(pools, Mapping):
        data["workerPoolSpecs"] = [dict(pools)]
    try:
        payload = json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the config holds a value JSON cannot carry: {exc}") from exc
    try:
        spec = aiplatform_v1.CustomJobSpec.from_json(payload)
    except json_format.ParseError as exc:
        raise ValueError(f"the config does not parse: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        if "machine_spec" not in pool:
            raise Invalid("machine_type", "a pool without machineSpec has no machine")
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        Check.whole("replica_count", pool.replica_count, 1, 2**63 - 1)
        if "container_spec" in pool:
            Check.image(pool.container_spec.image_uri)
        elif "python_package_spec" in pool:
            package = pool.python_package_spec
            Check.image(package.executor_image_uri)
            Check.package(tuple(package.package_uris), package.python_module)
        else:
            raise Invalid("image_uri", "a pool needs a containerSpec or a pythonPackageSpec")
    if "base_output_directory" in spec:
        Check.text("base_output_directory", spec.base_output_directory.output_uri_prefix, _is_gcs)
    return spec
