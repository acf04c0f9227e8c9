"""Vertex AI training jobs and model deployments, built as real requests and checked offline.

Style: no regular expressions. Names are split on "/" and each segment checked against
ASCII character sets; the machine table becomes a map {accelerator-or-None: allowed counts};
requests are built from plain nested dicts; the gcloud pools go through the same pool check
as task 2.
"""

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
GENERAL_SHAPES = {"standard", "highmem", "highcpu"}
CPU_ONLY_FAMILIES = {"e2", "n2", "n2d", "c2"}

DIGITS = frozenset(string.digits)
LOWER = frozenset(string.ascii_lowercase)
ID_CHARS = LOWER | DIGITS | {"_", "-"}
BUCKET_CHARS = LOWER | DIGITS | {".", "_", "-"}
IDENT_START = frozenset(string.ascii_letters + "_")
IDENT_CHARS = IDENT_START | DIGITS


def _fail(field: str, why: str) -> None:
    raise ValueError(f"{field}: {why}")


def _only(text: str, chars: frozenset[str]) -> bool:
    return all(c in chars for c in text)


def _positive_number(text: str) -> bool:
    return text != "" and _only(text, DIGITS) and text[0] != "0"


def _allowed(machine: Any) -> dict[Accelerator | None, frozenset[int]] | None:
    """What the machine takes: {accelerator (None = none): counts}, or None if unknown."""
    if not isinstance(machine, str):
        return None
    if machine in FIXED_GPU_MACHINES:
        gpu, number = FIXED_GPU_MACHINES[machine]
        return {gpu: frozenset({number})}
    parts = machine.split("-")
    if len(parts) != 3 or parts[1] not in GENERAL_SHAPES or not _positive_number(parts[2]):
        return None
    if parts[0] == "n1":
        return {None: frozenset({0}), **{gpu: frozenset(c) for gpu, c in N1_GPU_COUNTS.items()}}
    if parts[0] in CPU_ONLY_FAMILIES:
        return {None: frozenset({0})}
    return None


def _as_accelerator(value: Any) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, Accelerator):
        member = value
    elif isinstance(value, str) and value in Accelerator.__members__:
        member = Accelerator.__members__[value]
    else:
        raise ValueError(f"accelerator_type: {value!r} is not an AcceleratorType name")
    return None if member is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _whole(field: str, value: Any, at_least: int) -> None:
    if type(value) is not int:
        _fail(field, f"must be an int, got {type(value).__name__} {value!r}")
    if value < at_least:
        _fail(field, f"must be at least {at_least}, got {value}")
    if value > _FIELD_MAX.get(field, value):
        _fail(field, f"{value} is more than the API field holds")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    allowed = _allowed(machine_type)
    if allowed is None:
        _fail("machine_type", f"{machine_type!r} is not in the machine table")
    gpu = _as_accelerator(accelerator_type)
    if gpu not in allowed:
        _fail("accelerator_type", f"{machine_type} cannot run with {accelerator_type!r}; "
                                  f"it takes {[g.name if g else None for g in allowed]}")
    if type(accelerator_count) is not int or accelerator_count not in allowed[gpu]:
        _fail("accelerator_count", f"{machine_type} with {accelerator_type!r} takes {sorted(allowed[gpu])}, "
                                   f"got {accelerator_count!r}")
    fields: dict[str, Any] = {"machine_type": machine_type}
    if gpu is not None:
        fields.update(accelerator_type=gpu, accelerator_count=accelerator_count)
    return aiplatform_v1.MachineSpec(fields)


# --- names -------------------------------------------------------------------------------

def _project_ok(text: str) -> bool:
    if text != "" and _only(text, DIGITS):
        return True
    return (6 <= len(text) <= 30 and text[0] in LOWER and text[-1] != "-"
            and _only(text, LOWER | DIGITS | {"-"}))


def _location_ok(text: str) -> bool:
    stem = text.rstrip(string.digits)
    if stem == text or stem == "" or stem[-1] == "-":
        return False
    return all(word != "" and _only(word, LOWER) for word in stem.split("-"))


def _id_ok(text: str) -> bool:
    return 1 <= len(text) <= 63 and text[0] not in "_-" and _only(text, ID_CHARS)


def _location_of(field: str, value: Any, kind: str | None) -> str:
    """Check `projects/P/locations/L[/kind/ID]` and return L."""
    segments = value.split("/") if isinstance(value, str) else []
    expected = 4 if kind is None else 6
    if (len(segments) != expected or segments[0] != "projects" or segments[2] != "locations"
            or not _project_ok(segments[1]) or not _location_ok(segments[3])):
        _fail(field, f"{value!r} is not projects/PROJECT/locations/LOCATION" + (f"/{kind}/ID" if kind else ""))
    if kind is not None:
        resource = segments[5]
        if kind == "models" and "@" in resource:
            resource, version = resource.split("@", 1)
            if not _id_ok(version):
                _fail(field, f"version {version!r} is not an ID")
        if segments[4] != kind or not _id_ok(resource):
            _fail(field, f"{value!r} is not projects/PROJECT/locations/LOCATION/{kind}/ID")
    return segments[3]


def _gcs_ok(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith("gs://"):
        return False
    bucket, _, path = value[len("gs://"):].partition("/")
    if "\n" in path or "\r" in path:
        return False
    return (3 <= len(bucket) <= 63 and _only(bucket, BUCKET_CHARS)
            and bucket[0] not in "._-" and bucket[-1] not in "._-")


def _gcs(field: str, value: Any) -> None:
    if not _gcs_ok(value):
        _fail(field, f"{value!r} is not gs://BUCKET or gs://BUCKET/PATH")


def _display(value: Any) -> None:
    if not (isinstance(value, str) and 0 < len(value) <= 128 and value.strip() != ""):
        _fail("display_name", f"{value!r} is not 1 to 128 characters of text")


def _string_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):  # any sequence, not only list or tuple
        _fail(field, f"must be a list of strings, not {type(value).__name__} {value!r}")
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        _fail(field, f"items must be strings, got {bad[0]!r}")
    return list(value)


def _module_ok(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    return all(part != "" and part[0] in IDENT_START and _only(part, IDENT_CHARS) for part in value.split("."))


def _check_pool(*, image_uri: Any, replica_count: Any, command: list[str], package_uris: list[str] | None,
                python_module: Any) -> None:
    """Rules shared by task 2 and task 4; package_uris is None for a container pool."""
    _whole("replica_count", replica_count, 1)
    if not isinstance(image_uri, str) or image_uri == "":
        _fail("image_uri", "the pool needs an image")
    if package_uris is None:
        return
    if python_module is None or not _module_ok(python_module):
        _fail("python_module", f"{python_module!r} is not a dotted module name such as trainer.task")
    if not package_uris:
        _fail("package_uris", "a Python package pool needs at least one package")
    for uri in package_uris:
        _gcs("package_uris", uri)
    if command:
        _fail("command", "a Python package pool takes args, not a command")


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
    _display(display_name)
    command = _string_list("command", command)
    args = _string_list("args", args)
    packages = _string_list("package_uris", package_uris)
    is_package = bool(packages) or python_module is not None
    if is_package and not packages:
        _fail("package_uris", "python_module given without package_uris")
    _check_pool(image_uri=image_uri, replica_count=replica_count, command=command,
                package_uris=packages if is_package else None, python_module=python_module)
    if base_output_directory is not None:
        _gcs("base_output_directory", base_output_directory)
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    if is_package:
        task = {"python_package_spec": {"executor_image_uri": image_uri, "package_uris": packages,
                                        "python_module": python_module, "args": args}}
    else:
        task = {"container_spec": {"image_uri": image_uri, "command": command, "args": args}}
    job_spec: dict[str, Any] = {"worker_pool_specs": [{"machine_spec": machine, "replica_count": replica_count,
                                                       **task}]}
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
    endpoint_location = _location_of("endpoint", endpoint, "endpoints")
    if _location_of("model", model, "models") != endpoint_location:
        _fail("model", f"the model must be in the endpoint's location {endpoint_location}")
    _display(display_name)
    _whole("min_replica_count", min_replica_count, 1)
    _whole("max_replica_count", max_replica_count, min_replica_count)
    if not isinstance(traffic_split, Mapping) or len(traffic_split) == 0:
        _fail("traffic_split", f"must be a non-empty mapping, got {traffic_split!r}")
    total = 0
    for key in traffic_split:
        share = traffic_split[key]
        if not (isinstance(key, str) and 1 <= len(key) <= 10 and _only(key, DIGITS)):
            _fail("traffic_split", f"{key!r} is not a deployed-model ID")
        if type(share) is not int or share < 0 or share > 100:
            _fail("traffic_split", f"{share!r} for {key!r} is not a whole percentage")
        total += share
    if total != 100:
        _fail("traffic_split", f"percentages add up to {total}, not 100")
    machine = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                           accelerator_count=accelerator_count)
    return aiplatform_v1.DeployModelRequest({
        "endpoint": endpoint,
        "deployed_model": {"model": model, "display_name": display_name,
                           "dedicated_resources": {"machine_spec": machine, "min_replica_count": min_replica_count,
                                                   "max_replica_count": max_replica_count}},
        "traffic_split": {k: traffic_split[k] for k in traffic_split},
    })


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"the gcloud config must be a mapping, not {type(config).__name__}")
    pools = config.get("workerPoolSpecs")
    data = {**config, "workerPoolSpecs": [pools]} if isinstance(pools, Mapping) else dict(config)
    raw = aiplatform_v1.CustomJobSpec.pb()()
    try:
        json_format.ParseDict(data, raw)
    except json_format.ParseError as exc:
        raise ValueError(f"the config does not parse as a CustomJobSpec: {exc}") from exc
    spec = aiplatform_v1.CustomJobSpec.wrap(raw)
    if len(spec.worker_pool_specs) == 0:
        _fail("worker_pool_specs", "no worker pools in the config")
    for pool in spec.worker_pool_specs:
        machine = pool.machine_spec
        machine_spec(machine_type=machine.machine_type, accelerator_type=machine.accelerator_type,
                     accelerator_count=machine.accelerator_count)
        if "python_package_spec" in pool:
            package = pool.python_package_spec
            _check_pool(image_uri=package.executor_image_uri, replica_count=pool.replica_count, command=[],
                        package_uris=list(package.package_uris), python_module=package.python_module)
        else:
            image = pool.container_spec.image_uri if "container_spec" in pool else ""
            _check_pool(image_uri=image, replica_count=pool.replica_count, command=[], package_uris=None,
                        python_module=None)
    if "base_output_directory" in spec:
        _gcs("base_output_directory", spec.base_output_directory.output_uri_prefix)
    return spec
