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


# --- Style: no regular expressions. A `_Rules` class scans strings character by character
# (sets of ASCII characters, str.split/partition), machine types are parsed into
# (family, shape, size) tuples, and task 4 parses JSON text with CustomJobSpec.from_json.
import json
import string

_LOWER = frozenset(string.ascii_lowercase)
_DIGITS = frozenset(string.digits)
_UPPER = frozenset(string.ascii_uppercase)


class _Rules:
    """Every check of the contract, as small methods that either return or raise ValueError."""

    INT32 = 2**31 - 1
    INT64 = 2**63 - 1
    CPU_FAMILIES = {"e2", "n2", "n2d", "c2"}
    SHAPES = {"standard", "highmem", "highcpu"}

    @staticmethod
    def error(field: str, why: str) -> ValueError:
        return ValueError(f"{field}: {why}")

    # -- scalars -------------------------------------------------------------------------
    def count(self, field: str, value: Any, low: int, high: int) -> int:
        if type(value) is not int and not (isinstance(value, int) and not isinstance(value, bool)):
            raise self.error(field, f"must be an int, got {value!r}")
        if not (low <= value <= high):
            raise self.error(field, f"{value} is outside {low}..{high}")
        return int(value)

    def display_name(self, value: Any) -> str:
        if type(value) is not str and not isinstance(value, str):
            raise self.error("display_name", f"must be a string, got {type(value).__name__}")
        if len(value) == 0 or len(value) > 128 or value.strip() == "":
            raise self.error("display_name", "must be 1 to 128 characters and not only whitespace")
        return value

    def str_list(self, field: str, value: Any) -> list[str]:
        if isinstance(value, str) or isinstance(value, bytes) or not isinstance(value, Sequence):
            raise self.error(field, f"must be a list of strings, not {type(value).__name__}")
        out = []
        for item in value:
            if not isinstance(item, str):
                raise self.error(field, f"item {item!r} is not a string")
            out.append(item)
        return out

    def image(self, value: Any) -> str:
        if not isinstance(value, str) or value == "":
            raise self.error("image_uri", "must be a non-empty image URI")
        return value

    # -- names -----------------------------------------------------------------------------
    @staticmethod
    def _is_digits(text: str) -> bool:
        return text != "" and all(c in _DIGITS for c in text)

    def _is_project(self, text: str) -> bool:
        if self._is_digits(text):
            return True
        return (6 <= len(text) <= 30 and text[0] in _LOWER and text[-1] != "-"
                and all(c in _LOWER or c in _DIGITS or c == "-" for c in text))

    def _is_location(self, text: str) -> bool:
        end = len(text)
        while end > 0 and text[end - 1] in _DIGITS:
            end -= 1
        words, digits = text[:end], text[end:]
        if digits == "" or words == "":
            return False
        return all(word != "" and all(c in _LOWER for c in word) for word in words.split("-"))

    def _is_id(self, text: str) -> bool:
        return (1 <= len(text) <= 63 and (text[0] in _LOWER or text[0] in _DIGITS)
                and all(c in _LOWER or c in _DIGITS or c in "_-" for c in text))

    def _parent_parts(self, text: str) -> tuple[str, str] | None:
        parts = text.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "locations":
            return None
        if not self._is_project(parts[1]) or not self._is_location(parts[3]):
            return None
        return parts[1], parts[3]

    def parent(self, value: Any) -> str:
        if not isinstance(value, str) or self._parent_parts(value) is None:
            raise self.error("parent", f"{value!r} is not projects/PROJECT/locations/LOCATION")
        return value

    def child(self, field: str, value: Any, collection: str, versioned: bool) -> str:
        """Check projects/P/locations/L/<collection>/ID[@VERSION]; return the location."""
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, got {type(value).__name__}")
        parts = value.split("/")
        if len(parts) != 6 or parts[4] != collection:
            raise self.error(field, f"{value!r} is not a {collection} name")
        location = self._parent_parts("/".join(parts[:4]))
        ident, at, version = parts[5].partition("@")
        ok = location is not None and self._is_id(ident)
        if at:
            ok = ok and versioned and self._is_id(version)
        if not ok:
            raise self.error(field, f"{value!r} is not a valid {collection} name")
        return location[1]

    def gcs(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.startswith("gs://"):
            raise self.error(field, f"{value!r} is not a gs:// URI")
        bucket = value[5:].split("/", 1)[0]
        edge = _LOWER | _DIGITS
        if not (3 <= len(bucket) <= 63 and bucket[0] in edge and bucket[-1] in edge
                and all(c in edge or c in "._-" for c in bucket)):
            raise self.error(field, f"{value!r} has an invalid bucket name")
        return value

    def module(self, value: Any) -> str:
        if not isinstance(value, str) or value == "":
            raise self.error("python_module", f"{value!r} is not a module name")
        for part in value.split("."):
            if part == "" or not (part[0] in _LOWER or part[0] in _UPPER or part[0] == "_") or not all(
                    c in _LOWER or c in _UPPER or c in _DIGITS or c == "_" for c in part):
                raise self.error("python_module", f"{value!r} is not a dotted module name")
        return value

    def traffic_split(self, value: Any) -> dict[str, int]:
        if not isinstance(value, Mapping) or len(value) == 0:
            raise self.error("traffic_split", "must be a non-empty mapping of ID to percentage")
        items = list(value.items())
        for key, pct in items:
            if not isinstance(key, str) or not (1 <= len(key) <= 10 and self._is_digits(key)):
                raise self.error("traffic_split", f"{key!r} is not a deployed-model ID")
            if isinstance(pct, bool) or not isinstance(pct, int) or pct < 0 or pct > 100:
                raise self.error("traffic_split", f"{pct!r} is not a whole percentage")
        total = sum(p for _, p in items)
        if total != 100:
            raise self.error("traffic_split", f"percentages add up to {total}, not 100")
        return dict(items)

    # -- machines ----------------------------------------------------------------------------
    @staticmethod
    def _size(text: str) -> int | None:
        if text == "" or text[0] == "0" or not all(c in _DIGITS for c in text):
            return None
        return int(text)

    def machine_kind(self, machine: str) -> str:
        """'fixed', 'n1', 'cpu' or raise machine_type."""
        if machine in FIXED_GPU_MACHINES:
            return "fixed"
        parts = machine.split("-")
        if len(parts) == 3 and parts[1] in self.SHAPES and self._size(parts[2]) is not None:
            if parts[0] == "n1":
                return "n1"
            if parts[0] in self.CPU_FAMILIES:
                return "cpu"
        raise self.error("machine_type", f"{machine!r} is not in the allowlist")

    def accelerator(self, value: Any) -> Accelerator:
        if isinstance(value, Accelerator):
            return value
        if value is None:
            return Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
        if isinstance(value, str) and value in Accelerator.__members__:
            return Accelerator.__members__[value]
        raise self.error("accelerator_type", f"{value!r} is not an AcceleratorType")


RULES = _Rules()


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    """A MachineSpec whose machine and GPU really go together (see the table above)."""
    if not isinstance(machine_type, str):
        raise RULES.error("machine_type", "must be a string")
    gpu = RULES.accelerator(accelerator_type)
    none = Accelerator.ACCELERATOR_TYPE_UNSPECIFIED
    kind = RULES.machine_kind(machine_type)
    if kind == "fixed":
        wanted, n = FIXED_GPU_MACHINES[machine_type]
        if gpu != wanted:
            raise RULES.error("accelerator_type", f"{machine_type} needs {wanted.name}")
        allowed = {n}
    elif kind == "n1" and gpu != none:
        if gpu not in N1_GPU_COUNTS:
            raise RULES.error("accelerator_type", f"{gpu.name} cannot attach to {machine_type}")
        allowed = set(N1_GPU_COUNTS[gpu])
    elif gpu != none:
        raise RULES.error("accelerator_type", f"{machine_type} takes no accelerator")
    else:
        allowed = {0}
    RULES.count("accelerator_count", accelerator_count, -2**63, 2**63)
    if accelerator_count not in allowed:
        raise RULES.error("accelerator_count", f"{accelerator_count} is not one of {sorted(allowed)}")
    spec = aiplatform_v1.MachineSpec()
    spec.machine_type = machine_type
    if gpu != none:
        spec.accelerator_type = gpu
        spec.accelerator_count = accelerator_count
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
    """One worker pool running a custom container, or a Python package on a prebuilt image."""
    RULES.parent(parent)
    RULES.display_name(display_name)
    lists = {f: RULES.str_list(f, v) for f, v in
             (("command", command), ("args", args), ("package_uris", package_uris))}
    RULES.image(image_uri)
    RULES.count("replica_count", replica_count, 1, RULES.INT64)
    if base_output_directory is not None:
        RULES.gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine, replica_count=replica_count)
    if lists["package_uris"] or python_module is not None:
        if not lists["package_uris"]:
            raise RULES.error("package_uris", "python_module needs package_uris")
        if python_module is None:
            raise RULES.error("python_module", "package_uris need python_module")
        for uri in lists["package_uris"]:
            RULES.gcs("package_uris", uri)
        RULES.module(python_module)
        if lists["command"]:
            raise RULES.error("command", "a Python package job takes no command")
        pool.python_package_spec = aiplatform_v1.PythonPackageSpec(
            executor_image_uri=image_uri, package_uris=lists["package_uris"], python_module=python_module,
            args=lists["args"])
    else:
        pool.container_spec = aiplatform_v1.ContainerSpec(image_uri=image_uri, command=lists["command"],
                                                          args=lists["args"])
    job_spec = aiplatform_v1.CustomJobSpec()
    job_spec.worker_pool_specs.append(pool)
    if base_output_directory is not None:
        job_spec.base_output_directory.output_uri_prefix = base_output_directory
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
    """Deploy `model` to `endpoint` on dedicated machines, with a checked traffic split."""
    endpoint_location = RULES.child("endpoint", endpoint, "endpoints", versioned=False)
    model_location = RULES.child("model", model, "models", versioned=True)
    if endpoint_location != model_location:
        raise RULES.error("model", f"the model is in {model_location}, the endpoint in {endpoint_location}")
    RULES.display_name(display_name)
    low = RULES.count("min_replica_count", min_replica_count, 1, RULES.INT32)
    RULES.count("max_replica_count", max_replica_count, low, RULES.INT32)
    split = RULES.traffic_split(traffic_split)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    request = aiplatform_v1.DeployModelRequest()
    request.endpoint = endpoint
    request.deployed_model.model = model
    request.deployed_model.display_name = display_name
    request.deployed_model.dedicated_resources = aiplatform_v1.DedicatedResources(
        machine_spec=machine, min_replica_count=min_replica_count, max_replica_count=max_replica_count)
    for key, pct in split.items():
        request.traffic_split[key] = pct
    return request


def _plain(value: Any) -> Any:
    """A JSON-ready deep copy: mappings to dicts, sequences to lists, dates to ISO strings."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    """The `--config` YAML of `gcloud ai custom-jobs create`, as a checked CustomJobSpec."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config: a gcloud config is a mapping, not {type(config).__name__}")
    data = _plain(config)
    if isinstance(data.get("workerPoolSpecs"), dict):
        data["workerPoolSpecs"] = [data["workerPoolSpecs"]]
    try:
        spec = aiplatform_v1.CustomJobSpec.from_json(json.dumps(data))
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise ValueError(f"config: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        raise RULES.error("worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        if ms.machine_type == "":
            raise RULES.error("machine_type", "a worker pool has no machine")
        machine_spec(machine_type=ms.machine_type, accelerator_type=ms.accelerator_type,
                     accelerator_count=ms.accelerator_count)
        RULES.count("replica_count", pool.replica_count, 1, RULES.INT64)
        which = pool._pb.WhichOneof("task")
        if which == "python_package_spec":
            pkg = pool.python_package_spec
            RULES.image(pkg.executor_image_uri)
            if len(pkg.package_uris) == 0:
                raise RULES.error("package_uris", "a Python package pool needs package_uris")
            for uri in pkg.package_uris:
                RULES.gcs("package_uris", uri)
            RULES.module(pkg.python_module)
        elif which == "container_spec":
            RULES.image(pool.container_spec.image_uri)
        else:
            raise RULES.error("image_uri", "a pool with neither containerSpec nor pythonPackageSpec has no image")
    if spec._pb.HasField("base_output_directory"):
        RULES.gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
