"""Vertex AI requests built offline, checked by a small rule book of string tests (no regexes)."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from typing import Any

from google.cloud import aiplatform_v1

Accelerator = aiplatform_v1.AcceleratorType

LOWER = frozenset(string.ascii_lowercase)
DIGITS = frozenset(string.digits)
ALNUM = LOWER | DIGITS

FIXED = {
    "a2-highgpu": ("NVIDIA_TESLA_A100", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
    "a2-megagpu": ("NVIDIA_TESLA_A100", {"16g": 16}),
    "a2-ultragpu": ("NVIDIA_A100_80GB", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
    "a3-highgpu": ("NVIDIA_H100_80GB", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
    "g2-standard": ("NVIDIA_L4", {"4": 1, "8": 1, "12": 1, "16": 1, "32": 1, "24": 2, "48": 4, "96": 8}),
}
N1_GPUS = {"NVIDIA_TESLA_T4": {1, 2, 4}, "NVIDIA_TESLA_P4": {1, 2, 4}, "NVIDIA_TESLA_P100": {1, 2, 4},
           "NVIDIA_TESLA_V100": {1, 2, 4, 8}}
CPU_FAMILIES = {"e2", "n2", "n2d", "c2"}
SHAPES = {"standard", "highmem", "highcpu"}


class Rules:
    """Each rule returns the checked value or raises ValueError naming its field."""

    @staticmethod
    def fail(field: str, why: str) -> None:
        raise ValueError(f"{field}: {why}")

    @classmethod
    def count(cls, field: str, value: Any, low: int, high: int) -> int:
        if type(value) is not int:
            cls.fail(field, f"must be an int, got {type(value).__name__}")
        if value < low or value > high:
            cls.fail(field, f"{value} is not between {low} and {high}")
        return value

    @staticmethod
    def whole_number(text: str) -> bool:
        return bool(text) and set(text) <= DIGITS and text[0] != "0"

    @classmethod
    def machine_kind(cls, machine: Any) -> tuple[str, Any]:
        if not isinstance(machine, str):
            cls.fail("machine_type", "must be a string")
        family, _, size = machine.rpartition("-")
        if family in FIXED and size in FIXED[family][1]:
            gpu, sizes = FIXED[family]
            return "fixed", (Accelerator[gpu], sizes[size])
        head, _, shape = family.partition("-")
        if shape in SHAPES and cls.whole_number(size):
            if head == "n1":
                return "n1", None
            if head in CPU_FAMILIES:
                return "cpu", None
        cls.fail("machine_type", f"{machine!r} is not in the allowlist")

    @classmethod
    def accelerator(cls, value: Any) -> Accelerator | None:
        if value is None:
            return None
        if isinstance(value, Accelerator):
            member = value
        elif isinstance(value, str) and value in Accelerator.__members__:
            member = Accelerator.__members__[value]
        else:
            cls.fail("accelerator_type", f"{value!r} is not an AcceleratorType")
        return None if member is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member

    @staticmethod
    def project(text: str) -> bool:
        if text and set(text) <= DIGITS:
            return True
        return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
                and set(text) <= ALNUM | {"-"})

    @staticmethod
    def location(text: str) -> bool:
        words = text.split("-")
        *first, last = words
        if any(not w or not set(w) <= LOWER for w in first):
            return False
        letters = last.rstrip(string.digits)
        return letters != last and bool(letters) and set(letters) <= LOWER

    @staticmethod
    def resource_id(text: str) -> bool:
        return 1 <= len(text) <= 63 and text[0] in ALNUM and set(text) <= ALNUM | {"_", "-"}

    @classmethod
    def resource(cls, field: str, value: Any, collection: str | None) -> str:
        """Check projects/P/locations/L[/collection/ID]; return the location."""
        if not isinstance(value, str):
            cls.fail(field, "must be a string")
        parts = value.split("/")
        size = 4 if collection is None else 6
        ok = (len(parts) == size and parts[0] == "projects" and parts[2] == "locations"
              and cls.project(parts[1]) and cls.location(parts[3]))
        if ok and collection is not None:
            ok = parts[4] == collection
            ident = parts[5]
            if ok and collection == "models" and "@" in ident:
                ident, version = ident.split("@", 1)
                ok = cls.resource_id(version)
            ok = ok and cls.resource_id(ident)
        if not ok:
            cls.fail(field, f"{value!r} is not a valid resource name")
        return parts[3]

    @classmethod
    def gcs(cls, field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.startswith("gs://"):
            cls.fail(field, f"{value!r} is not a gs:// URI")
        bucket = value[5:].partition("/")[0]
        if not (3 <= len(bucket) <= 63 and set(bucket) <= ALNUM | {".", "_", "-"}
                and bucket[0] in ALNUM and bucket[-1] in ALNUM):
            cls.fail(field, f"{value!r} has no valid bucket")
        return value

    @classmethod
    def strings(cls, field: str, value: Any) -> list[str]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            cls.fail(field, "must be a list or tuple of strings")
        if not all(isinstance(item, str) for item in value):
            cls.fail(field, "every item must be a string")
        return list(value)

    @classmethod
    def display_name(cls, value: Any) -> str:
        if not isinstance(value, str) or len(value) > 128 or not value.strip():
            cls.fail("display_name", "must be 1 to 128 characters and not only whitespace")
        return value

    @classmethod
    def module(cls, value: Any) -> str:
        ident_chars = set(string.ascii_letters) | DIGITS | {"_"}
        if not isinstance(value, str) or not all(
                part and part[0] not in DIGITS and set(part) <= ident_chars for part in value.split(".")):
            cls.fail("python_module", f"{value!r} is not a dotted module name")
        return value

    @classmethod
    def image(cls, value: Any) -> str:
        if not isinstance(value, str) or value == "":
            cls.fail("image_uri", "an image URI is required")
        return value

    @classmethod
    def package(cls, package_uris: list[str], python_module: Any) -> None:
        if not package_uris:
            cls.fail("package_uris", "a Python package job needs package_uris")
        if python_module is None:
            cls.fail("python_module", "a Python package job needs a python_module")
        cls.module(python_module)
        for uri in package_uris:
            cls.gcs("package_uris", uri)


def machine_spec(*, machine_type, accelerator_type=None, accelerator_count=0) -> aiplatform_v1.MachineSpec:
    gpu = Rules.accelerator(accelerator_type)
    Rules.count("accelerator_count", accelerator_count, -(2**31), 2**31 - 1)
    kind, fixed = Rules.machine_kind(machine_type)
    if kind == "fixed":
        wanted, n = fixed
        if gpu is not wanted:
            Rules.fail("accelerator_type", f"{machine_type} comes with {wanted.name}")
        allowed = {n}
    elif gpu is None:
        allowed = {0}
    elif kind == "n1" and gpu.name in N1_GPUS:
        allowed = N1_GPUS[gpu.name]
    else:
        Rules.fail("accelerator_type", f"{gpu.name} does not fit {machine_type}")
    if accelerator_count not in allowed:
        Rules.fail("accelerator_count", f"{accelerator_count} is not one of {sorted(allowed)}")
    spec = aiplatform_v1.MachineSpec(machine_type=machine_type)
    if gpu is not None:
        spec.accelerator_type = gpu
        spec.accelerator_count = accelerator_count
    return spec


def custom_job_request(*, parent, display_name, machine_type, image_uri, accelerator_type=None,
                       accelerator_count=0, replica_count=1, command=(), args=(), package_uris=(),
                       python_module=None, base_output_directory=None) -> aiplatform_v1.CreateCustomJobRequest:
    Rules.resource("parent", parent, None)
    Rules.display_name(display_name)
    command = Rules.strings("command", command)
    args = Rules.strings("args", args)
    package_uris = Rules.strings("package_uris", package_uris)
    Rules.image(image_uri)
    Rules.count("replica_count", replica_count, 1, 2**63 - 1)
    pool = aiplatform_v1.WorkerPoolSpec(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        replica_count=replica_count)
    if package_uris or python_module is not None:
        Rules.package(package_uris, python_module)
        if command:
            Rules.fail("command", "a Python package job takes no command")
        pool.python_package_spec = aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=package_uris, python_module=python_module, args=args)
    else:
        pool.container_spec = aiplatform_v1.ContainerSpec(image_uri=image_uri, command=command, args=args)
    job_spec = aiplatform_v1.CustomJobSpec()
    job_spec.worker_pool_specs.append(pool)
    if base_output_directory is not None:
        job_spec.base_output_directory.output_uri_prefix = Rules.gcs("base_output_directory",
                                                                     base_output_directory)
    request = aiplatform_v1.CreateCustomJobRequest()
    request.parent = parent
    request.custom_job.display_name = display_name
    request.custom_job.job_spec = job_spec
    return request


def deploy_model_request(*, endpoint, model, display_name, machine_type, min_replica_count, max_replica_count,
                         traffic_split, accelerator_type=None, accelerator_count=0) -> aiplatform_v1.DeployModelRequest:
    where = Rules.resource("endpoint", endpoint, "endpoints")
    if Rules.resource("model", model, "models") != where:
        Rules.fail("model", f"the model must be in {where}, the endpoint's location")
    Rules.display_name(display_name)
    Rules.count("min_replica_count", min_replica_count, 1, 2**31 - 1)
    Rules.count("max_replica_count", max_replica_count, min_replica_count, 2**31 - 1)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        Rules.fail("traffic_split", "must be a non-empty mapping")
    total = 0
    for key in traffic_split:
        share = traffic_split[key]
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and set(key) <= DIGITS):
            Rules.fail("traffic_split", f"{key!r} is not a deployed-model ID")
        if type(share) is not int or not 0 <= share <= 100:
            Rules.fail("traffic_split", f"{share!r} is not a whole percentage")
        total += share
    if total != 100:
        Rules.fail("traffic_split", f"percentages add up to {total}, not 100")
    resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                  accelerator_count=accelerator_count),
        min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint)
    request.deployed_model = aiplatform_v1.DeployedModel(model=model, display_name=display_name,
                                                         dedicated_resources=resources)
    for key, share in traffic_split.items():
        request.traffic_split[key] = share
    return request


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def custom_job_spec_from_gcloud(config) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping, not {type(config).__name__}")
    data = _plain(config)
    if isinstance(data.get("workerPoolSpecs"), dict):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        text = json.dumps(data, default=str)
        spec = aiplatform_v1.CustomJobSpec.from_json(text)
    except Exception as exc:  # ParseError, or a key json cannot write
        raise ValueError(f"config does not parse as a CustomJobSpec: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        Rules.fail("worker_pool_specs", "at least one worker pool is needed")
    for pool in spec.worker_pool_specs:
        machine = pool.machine_spec
        machine_spec(machine_type=machine.machine_type, accelerator_type=machine.accelerator_type,
                     accelerator_count=machine.accelerator_count)
        Rules.count("replica_count", pool.replica_count, 1, 2**63 - 1)
        if "container_spec" in pool:
            Rules.image(pool.container_spec.image_uri)
        elif "python_package_spec" in pool:
            package = pool.python_package_spec
            Rules.image(package.executor_image_uri)
            Rules.package(list(package.package_uris), package.python_module)
        else:
            Rules.fail("image_uri", "the pool runs neither a container nor a Python package")
    if "base_output_directory" in spec:
        Rules.gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
