"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

Style: no regular expressions. Names are split on "/" and each part is checked with
character sets; problems are collected by a small `Checker` object that raises one
ValueError; requests are written as REST (camelCase) dicts and turned into the real
messages with json_format.ParseDict, then wrapped as proto-plus objects.
"""

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
COUNT_LIMITS = {"accelerator_count": 2**31 - 1, "replica_count": 2**63 - 1,
                "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


class Checker:
    """Raises a ValueError that starts with the field's snake_case name."""

    def fail(self, field: str, why: str) -> None:
        raise ValueError(f"{field}: {why}")

    def require(self, ok: bool, field: str, why: str) -> None:
        if not ok:
            self.fail(field, why)

    def count(self, field: str, value: Any, low: int) -> int:
        self.require(type(value) is int, field, f"must be an int, not {type(value).__name__}")
        self.require(low <= value <= COUNT_LIMITS[field], field, f"{value} is out of range")
        return value

    def text(self, field: str, value: Any) -> str:
        self.require(isinstance(value, str), field, f"must be a string, not {type(value).__name__}")
        return value

    def display_name(self, value: Any) -> str:
        name = self.text("display_name", value)
        self.require(0 < len(name) <= 128, "display_name", f"has {len(name)} characters, not 1 to 128")
        self.require(name.strip() != "", "display_name", "is only whitespace")
        return name

    def strings(self, field: str, value: Any) -> list[str]:
        is_seq = isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))
        self.require(is_seq, field, f"must be a list of strings, not {type(value).__name__}")
        for item in value:
            self.require(isinstance(item, str), field, f"{item!r} is not a string")
        return list(value)

    def gcs(self, field: str, value: Any) -> str:
        uri = self.text(field, value)
        self.require(uri.startswith("gs://"), field, f"{uri!r} does not start with gs://")
        bucket = uri[len("gs://"):].split("/", 1)[0]
        ok = (3 <= len(bucket) <= 63 and set(bucket) <= BUCKET_CHARS
              and bucket[0] in LOWER | DIGITS and bucket[-1] in LOWER | DIGITS)
        self.require(ok, field, f"{bucket!r} is not a Cloud Storage bucket")
        return uri

    def module(self, value: Any) -> str:
        name = self.text("python_module", value)
        for part in name.split("."):
            ok = part != "" and part[0] in IDENT_START and set(part) <= IDENT_CHARS
            self.require(ok, "python_module", f"{name!r} is not a dotted module name")
        return name

    def image(self, value: Any) -> str:
        image = self.text("image_uri", value)
        self.require(image != "", "image_uri", "an image is required")
        return image


CHECK = Checker()


def _is_project(part: str) -> bool:
    if part and set(part) <= DIGITS:
        return True
    return (6 <= len(part) <= 30 and part[0] in LOWER and part[-1] != "-"
            and set(part) <= LOWER | DIGITS | {"-"})


def _is_location(part: str) -> bool:
    body = part.rstrip(string.digits)
    if body == part or not body:
        return False
    return all(word and set(word) <= LOWER for word in body.split("-"))


def _is_id(part: str) -> bool:
    return 1 <= len(part) <= 63 and set(part) <= ID_CHARS and part[0] in LOWER | DIGITS


def _location_of(field: str, value: Any, collection: str | None) -> str:
    """Checks projects/P/locations/L[/collection/ID] and returns L."""
    name = CHECK.text(field, value)
    parts = name.split("/")
    size = 4 if collection is None else 6
    ok = (len(parts) == size and parts[0] == "projects" and parts[2] == "locations"
          and _is_project(parts[1]) and _is_location(parts[3]))
    if ok and collection is not None:
        ok = parts[4] == collection
        resource = parts[5]
        if collection == "models" and "@" in resource:
            resource, version = resource.split("@", 1)
            ok = ok and _is_id(version)
        ok = ok and _is_id(resource)
    CHECK.require(ok, field, f"{name!r} is not a valid {field} name")
    return parts[3]


def _gpu(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        gpu = value
    elif isinstance(value, str) and value in Accelerator.__members__:
        gpu = Accelerator.__members__[value]
    else:
        CHECK.fail("accelerator_type", f"{value!r} is not an AcceleratorType name or member")
    return None if gpu is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else gpu


def _allowed_counts(machine: str, gpu: Accelerator | None) -> tuple[int, ...]:
    if machine in FIXED_GPU_MACHINES:
        fixed, n = FIXED_GPU_MACHINES[machine]
        CHECK.require(gpu == fixed, "accelerator_type", f"{machine} needs {fixed.name}")
        return (n,)
    if N1_MACHINE.fullmatch(machine):
        if gpu is None:
            return (0,)
        CHECK.require(gpu in N1_GPU_COUNTS, "accelerator_type", f"{gpu.name} does not attach to N1")
        return N1_GPU_COUNTS[gpu]
    if CPU_ONLY_MACHINE.fullmatch(machine):
        CHECK.require(gpu is None, "accelerator_type", f"{machine} takes no accelerator")
        return (0,)
    CHECK.fail("machine_type", f"{machine!r} is not a known machine type")
    raise AssertionError("unreachable")


def _machine_dict(machine_type: Any, accelerator_type: Any, accelerator_count: Any) -> dict[str, Any]:
    gpu = _gpu(accelerator_type)
    count = CHECK.count("accelerator_count", accelerator_count, 0)
    machine = CHECK.text("machine_type", machine_type)
    if gpu is None:
        CHECK.require(count == 0, "accelerator_count", "a count without an accelerator")
    allowed = _allowed_counts(machine, gpu)
    CHECK.require(count in allowed, "accelerator_count", f"{count} is not one of {allowed}")
    out: dict[str, Any] = {"machineType": machine}
    if gpu is not None:
        out.update(acceleratorType=gpu.name, acceleratorCount=count)
    return out


def _parse(cls: Any, body: dict[str, Any]) -> Any:
    return cls.wrap(json_format.ParseDict(body, cls.pb()()))


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    return _parse(aiplatform_v1.MachineSpec, _machine_dict(machine_type, accelerator_type, accelerator_count))


def _package_checks(uris: list[str], module: Any, image: Any) -> None:
    CHECK.require(len(uris) > 0, "package_uris", "a Python package job needs package_uris")
    CHECK.require(module is not None, "python_module", "package_uris need a python_module")
    for uri in uris:
        CHECK.gcs("package_uris", uri)
    CHECK.module(module)
    CHECK.image(image)


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
    _location_of("parent", parent, None)
    CHECK.display_name(display_name)
    commands = CHECK.strings("command", command)
    arguments = CHECK.strings("args", args)
    packages = CHECK.strings("package_uris", package_uris)
    replicas = CHECK.count("replica_count", replica_count, 1)
    pool: dict[str, Any] = {"machineSpec": _machine_dict(machine_type, accelerator_type, accelerator_count),
                            "replicaCount": str(replicas)}
    if packages or python_module is not None:
        _package_checks(packages, python_module, image_uri)
        CHECK.require(not commands, "command", "a Python package job takes no command")
        pool["pythonPackageSpec"] = {"executorImageUri": image_uri, "packageUris": packages,
                                     "pythonModule": python_module, "args": arguments}
    else:
        pool["containerSpec"] = {"imageUri": CHECK.image(image_uri), "command": commands, "args": arguments}
    job_spec: dict[str, Any] = {"workerPoolSpecs": [pool]}
    if base_output_directory is not None:
        job_spec["baseOutputDirectory"] = {"outputUriPrefix": CHECK.gcs("base_output_directory", base_output_directory)}
    body = {"parent": parent, "customJob": {"displayName": display_name, "jobSpec": job_spec}}
    return _parse(aiplatform_v1.CreateCustomJobRequest, body)


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
    where = _location_of("endpoint", endpoint, "endpoints")
    CHECK.require(_location_of("model", model, "models") == where, "model", f"is not in {where}")
    CHECK.display_name(display_name)
    low = CHECK.count("min_replica_count", min_replica_count, 1)
    high = CHECK.count("max_replica_count", max_replica_count, 1)
    CHECK.require(high >= low, "max_replica_count", f"{high} < min_replica_count {low}")
    CHECK.require(isinstance(traffic_split, Mapping) and len(traffic_split) > 0, "traffic_split",
                  "must be a non-empty mapping")
    items = list(traffic_split.items())
    for key, pct in items:
        CHECK.require(isinstance(key, str) and 1 <= len(key) <= 10 and set(key) <= DIGITS, "traffic_split",
                      f"{key!r} is not a deployed model ID")
        CHECK.require(type(pct) is int and 0 <= pct <= 100, "traffic_split", f"{pct!r} is not a percentage")
    total = sum(pct for _, pct in items)
    CHECK.require(total == 100, "traffic_split", f"percentages add up to {total}, not 100")
    body = {"endpoint": endpoint,
            "deployedModel": {"model": model, "displayName": display_name,
                              "dedicatedResources": {
                                  "machineSpec": _machine_dict(machine_type, accelerator_type, accelerator_count),
                                  "minReplicaCount": low, "maxReplicaCount": high}},
            "trafficSplit": dict(items)}
    return _parse(aiplatform_v1.DeployModelRequest, body)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    CHECK.require(isinstance(config, Mapping), "config", f"must be a mapping, not {type(config).__name__}")
    data = {key: ([value] if key in ("workerPoolSpecs", "worker_pool_specs") and isinstance(value, Mapping)
                  else value)
            for key, value in config.items()}
    try:
        spec = _parse(aiplatform_v1.CustomJobSpec, data)
    except json_format.ParseError as exc:
        raise ValueError(f"config could not be parsed: {exc}") from exc
    CHECK.require(len(spec.worker_pool_specs) > 0, "worker_pool_specs", "no worker pools")
    for pool in spec.worker_pool_specs:
        ms = pool.machine_spec
        _machine_dict(ms.machine_type, ms.accelerator_type, ms.accelerator_count)
        CHECK.count("replica_count", pool.replica_count, 1)
        kind = aiplatform_v1.WorkerPoolSpec.pb(pool).WhichOneof("task")
        if kind == "python_package_spec":
            pkg = pool.python_package_spec
            _package_checks(list(pkg.package_uris), pkg.python_module or None, pkg.executor_image_uri)
        elif kind == "container_spec":
            CHECK.image(pool.container_spec.image_uri)
        else:
            CHECK.fail("image_uri", "the pool has neither a container nor a Python package")
    if "base_output_directory" in spec:
        CHECK.gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
