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



import string

LOWER = frozenset(string.ascii_lowercase)
DIGITS = frozenset(string.digits)
LETTERS = frozenset(string.ascii_letters)


def _digits(text: str) -> bool:
    return text != "" and all(c in DIGITS for c in text)


class Invalid(ValueError):
    """A ValueError that starts with the field at fault."""

    def __init__(self, field: str, why: str):
        super().__init__(f"{field}: {why}")
        self.field = field


class Rules:
    """Pure predicates over plain values: no regular expressions, so no backtracking."""

    @staticmethod
    def project(text: str) -> bool:
        if _digits(text):
            return True
        return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
                and all(c in LOWER or c in DIGITS or c == "-" for c in text))

    @staticmethod
    def location(text: str) -> bool:
        words = text.split("-")
        *head, last = words
        stem = last.rstrip(string.digits)
        if stem == last or not _digits(last[len(stem):]):
            return False
        return all(w != "" and all(c in LOWER for c in w) for w in [*head, stem])

    @staticmethod
    def resource_id(text: str) -> bool:
        return (1 <= len(text) <= 63 and (text[0] in LOWER or text[0] in DIGITS)
                and all(c in LOWER or c in DIGITS or c in "_-" for c in text))

    @staticmethod
    def bucket(text: str) -> bool:
        edge = LOWER | DIGITS
        return (3 <= len(text) <= 63 and text[0] in edge and text[-1] in edge
                and all(c in edge or c in "._-" for c in text))

    @staticmethod
    def gcs(text: str) -> bool:
        if not text.startswith("gs://"):
            return False
        bucket, _, _ = text[len("gs://"):].partition("/")
        return Rules.bucket(bucket)

    @staticmethod
    def module(text: str) -> bool:
        def identifier(part: str) -> bool:
            return (part != "" and (part[0] in LETTERS or part[0] == "_")
                    and all(c in LETTERS or c in DIGITS or c == "_" for c in part))
        return all(identifier(part) for part in text.split("."))

    @staticmethod
    def machine_size(text: str) -> bool:
        return _digits(text) and text[0] != "0"


def _string(field: str, value: Any) -> str:
    if type(value) is not str:
        raise Invalid(field, f"must be a string, got {type(value).__name__}")
    return value


def _resource(field: str, value: Any, collection: str | None = None, versioned: bool = False) -> str:
    """Checks a resource name segment by segment and returns its location."""
    text = _string(field, value)
    parts = text.split("/")
    expected = 6 if collection else 4
    if len(parts) != expected or parts[0] != "projects" or parts[2] != "locations":
        raise Invalid(field, f"{text!r} is not projects/PROJECT/locations/LOCATION"
                             + (f"/{collection}/ID" if collection else ""))
    if not Rules.project(parts[1]):
        raise Invalid(field, f"{parts[1]!r} is not a project ID or number")
    if not Rules.location(parts[3]):
        raise Invalid(field, f"{parts[3]!r} is not a region")
    if collection:
        if parts[4] != collection:
            raise Invalid(field, f"expected /{collection}/, got /{parts[4]}/")
        ident, at, version = parts[5].partition("@")
        if at and not versioned:
            raise Invalid(field, "no @VERSION here")
        if not Rules.resource_id(ident) or (at and not Rules.resource_id(version)):
            raise Invalid(field, f"{parts[5]!r} is not an ID")
    return parts[3]


def _whole(field: str, value: Any, low: int, high: int) -> int:
    if type(value) is not int:
        raise Invalid(field, f"must be an int, got {value!r}")
    if not low <= value <= high:
        raise Invalid(field, f"must be between {low} and {high}, got {value}")
    return value


def _name_list(field: str, value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise Invalid(field, f"must be a list of strings, got {type(value).__name__}")
    for item in value:
        if type(item) is not str:
            raise Invalid(field, f"item {item!r} is not a string")
    return list(value)


def _gcs(field: str, value: Any) -> str:
    if not Rules.gcs(_string(field, value)):
        raise Invalid(field, f"{value!r} is not a gs://BUCKET[/PATH] URI")
    return value


def _resolve_accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        found = value
    elif type(value) is str and value in Accelerator.__members__:
        found = Accelerator.__members__[value]
    else:
        raise Invalid("accelerator_type", f"{value!r} is not an AcceleratorType")
    return found if found != Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else None


def _allowed_counts(machine: str, gpu: Accelerator | None) -> tuple[int, ...]:
    """The accelerator counts the table allows for this machine and GPU (raises for a bad pair)."""
    if machine in FIXED_GPU_MACHINES:
        fixed_gpu, n = FIXED_GPU_MACHINES[machine]
        if gpu != fixed_gpu:
            raise Invalid("accelerator_type", f"{machine} needs {fixed_gpu.name}")
        return (n,)
    pieces = machine.split("-")
    if len(pieces) == 3 and pieces[1] in ("standard", "highmem", "highcpu") and Rules.machine_size(pieces[2]):
        if pieces[0] == "n1":
            if gpu is None:
                return (0,)
            if gpu not in N1_GPU_COUNTS:
                raise Invalid("accelerator_type", f"{gpu.name} does not attach to N1 machines")
            return N1_GPU_COUNTS[gpu]
        if pieces[0] in ("e2", "n2", "n2d", "c2"):
            if gpu is not None:
                raise Invalid("accelerator_type", f"{machine} takes no accelerator")
            return (0,)
    raise Invalid("machine_type", f"{machine!r} is not in the machine table")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    gpu = _resolve_accelerator(accelerator_type)
    if type(accelerator_count) is not int:
        raise Invalid("accelerator_count", f"must be an int, got {accelerator_count!r}")
    if gpu is None and accelerator_count != 0:
        raise Invalid("accelerator_count", "no accelerator, so the count must be 0")
    allowed = _allowed_counts(_string("machine_type", machine_type), gpu)
    if accelerator_count not in allowed:
        raise Invalid("accelerator_count", f"allowed: {allowed}, got {accelerator_count}")
    fields: dict[str, Any] = {"machine_type": machine_type}
    if gpu is not None:
        fields.update(accelerator_type=gpu, accelerator_count=accelerator_count)
    return aiplatform_v1.MachineSpec(**fields)


class _PoolChecker:
    """The task-2 rules for one worker pool, shared by the keyword API and the gcloud config."""

    def __init__(self, *, image_uri, replica_count, package_uris, python_module, is_package):
        self.image_uri = image_uri
        self.replica_count = replica_count
        self.package_uris = package_uris
        self.python_module = python_module
        self.is_package = is_package

    def check(self) -> None:
        _whole("replica_count", self.replica_count, 1, 2**63 - 1)
        if self.is_package:
            if not self.package_uris:
                raise Invalid("package_uris", "a Python package job needs package_uris")
            if self.python_module is None:
                raise Invalid("python_module", "a Python package job needs python_module")
            if not Rules.module(_string("python_module", self.python_module)):
                raise Invalid("python_module", f"{self.python_module!r} is not a dotted module name")
            for uri in self.package_uris:
                _gcs("package_uris", uri)
        if type(self.image_uri) is not str or self.image_uri == "":
            raise Invalid("image_uri", "an image is required")


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
    _resource("parent", parent)
    name = _string("display_name", display_name)
    if not 0 < len(name) <= 128 or name.isspace():
        raise Invalid("display_name", "must be 1 to 128 characters and not only whitespace")
    command, args, package_uris = (_name_list(f, v) for f, v in
                                   (("command", command), ("args", args), ("package_uris", package_uris)))
    is_package = len(package_uris) > 0 or python_module is not None
    if is_package and len(command) > 0:
        raise Invalid("command", "a Python package job takes no command")
    _PoolChecker(image_uri=image_uri, replica_count=replica_count, package_uris=package_uris,
                 python_module=python_module, is_package=is_package).check()
    job_spec = aiplatform_v1.CustomJobSpec()
    if base_output_directory is not None:
        job_spec.base_output_directory.output_uri_prefix = _gcs("base_output_directory", base_output_directory)
    pool = aiplatform_v1.WorkerPoolSpec()
    pool.machine_spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                     accelerator_count=accelerator_count)
    pool.replica_count = replica_count
    if is_package:
        pool.python_package_spec = aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)
    else:
        pool.container_spec = aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)
    job_spec.worker_pool_specs.append(pool)
    request = aiplatform_v1.CreateCustomJobRequest()
    request.parent = parent
    request.custom_job.display_name = display_name
    request.custom_job.job_spec = job_spec
    return request


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
    endpoint_location = _resource("endpoint", endpoint, "endpoints")
    model_location = _resource("model", model, "models", versioned=True)
    if model_location != endpoint_location:
        raise Invalid("model", f"the model is in {model_location}, the endpoint in {endpoint_location}")
    name = _string("display_name", display_name)
    if not name or len(name) > 128 or name.isspace():
        raise Invalid("display_name", "must be 1 to 128 characters and not only whitespace")
    low = _whole("min_replica_count", min_replica_count, 1, 2**31 - 1)
    _whole("max_replica_count", max_replica_count, low, 2**31 - 1)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        raise Invalid("traffic_split", "must be a non-empty mapping of deployed-model IDs to percentages")
    shares = list(traffic_split.items())
    bad_keys = [k for k, _ in shares if type(k) is not str or not _digits(k) or len(k) > 10]
    if bad_keys:
        raise Invalid("traffic_split", f"keys {bad_keys!r} are not deployed-model IDs of 1 to 10 digits")
    bad_values = [v for _, v in shares if type(v) is not int or v not in range(101)]
    if bad_values:
        raise Invalid("traffic_split", f"shares {bad_values!r} are not whole percentages")
    total = sum(v for _, v in shares)
    if total != 100:
        raise Invalid("traffic_split", f"percentages add up to {total}, not 100")
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint)
    request.deployed_model.model = model
    request.deployed_model.display_name = display_name
    request.deployed_model.dedicated_resources.machine_spec = spec
    request.deployed_model.dedicated_resources.min_replica_count = min_replica_count
    request.deployed_model.dedicated_resources.max_replica_count = max_replica_count
    for key, share in shares:
        request.traffic_split[key] = share
    return request


def _plain(value: Any) -> Any:
    """A deep copy turning every mapping into a dict and every list into a list."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config: expected a mapping, got {config!r}")
    data = _plain(config)
    if isinstance(data.get("workerPoolSpecs"), dict):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    raw = aiplatform_v1.CustomJobSpec.pb()()
    try:
        json_format.ParseDict(data, raw)
    except json_format.ParseError as exc:
        raise ValueError(f"config: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(raw)
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        machine_spec(machine_type=pool.machine_spec.machine_type,
                     accelerator_type=pool.machine_spec.accelerator_type,
                     accelerator_count=pool.machine_spec.accelerator_count)
        kind = aiplatform_v1.WorkerPoolSpec.pb(pool).WhichOneof("task")
        if kind == "python_package_spec":
            package = pool.python_package_spec
            module = package.python_module if package.python_module != "" else None
            checker = _PoolChecker(image_uri=package.executor_image_uri, replica_count=pool.replica_count,
                                   package_uris=list(package.package_uris), python_module=module, is_package=True)
        else:
            image = pool.container_spec.image_uri if kind == "container_spec" else ""
            checker = _PoolChecker(image_uri=image, replica_count=pool.replica_count, package_uris=[],
                                   python_module=None, is_package=False)
        checker.check()
    if aiplatform_v1.CustomJobSpec.pb(spec).HasField("base_output_directory"):
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
