"""Day 09 answer B: string splitting instead of one big regex, dict-built messages,
task 4 validated by re-running task 2 on every pool."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from numbers import Integral
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

LOWER = set(string.ascii_lowercase)
DIGITS = set(string.digits)


class Invalid(ValueError):
    def __init__(self, field: str, why: str):
        super().__init__(f"invalid {field} ({why})")


# --- plain-value checks, written without regular expressions -----------------------------

# The largest value each count's protobuf field can carry (int64 and int32).
_FIELD_MAX = {"replica_count": 2**63 - 1, "min_replica_count": 2**31 - 1, "max_replica_count": 2**31 - 1}


def _whole(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _project_ok(p: str) -> bool:
    if p and set(p) <= DIGITS:
        return True
    return (6 <= len(p) <= 30 and p[0] in LOWER and p[-1] != "-"
            and set(p) <= LOWER | DIGITS | {"-"})


def _location_ok(loc: str) -> bool:
    words = loc.split("-")
    if not words or not all(words):
        return False
    stem = words[-1].rstrip(string.digits)
    if stem == words[-1]:
        return False  # must end in digits
    letters = words[:-1] + [stem]
    return all(w and set(w) <= LOWER for w in letters)


def _id_ok(i: str) -> bool:
    return 1 <= len(i) <= 63 and i[0] in LOWER | DIGITS and set(i) <= LOWER | DIGITS | {"_", "-"}


def _location_of(field: str, name, kind: str | None) -> str:
    if not isinstance(name, str):
        raise Invalid(field, "not a string")
    parts = name.split("/")
    size = 4 if kind is None else 6
    if (len(parts) != size or parts[0] != "projects" or parts[2] != "locations"
            or not _project_ok(parts[1]) or not _location_ok(parts[3])):
        raise Invalid(field, f"{name!r} is not projects/PROJECT/locations/LOCATION{'' if kind is None else '/' + kind + '/ID'}")
    if kind is not None:
        if parts[4] != kind:
            raise Invalid(field, f"expected /{kind}/ in {name!r}")
        ident = parts[5]
        if kind == "models" and "@" in ident:
            ident, version = ident.split("@", 1)
            if not _id_ok(version):
                raise Invalid(field, f"bad version in {name!r}")
        if not _id_ok(ident):
            raise Invalid(field, f"bad ID in {name!r}")
    return parts[3]


def _check_gcs(field: str, uri) -> None:
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise Invalid(field, f"{uri!r} does not start with gs://")
    bucket = uri[5:].split("/", 1)[0]
    ok = (3 <= len(bucket) <= 63 and set(bucket) <= LOWER | DIGITS | set("._-")
          and bucket[0] in LOWER | DIGITS and bucket[-1] in LOWER | DIGITS)
    if not ok:
        raise Invalid(field, f"bad bucket in {uri!r}")


def _check_display(name) -> None:
    if not isinstance(name, str) or len(name) == 0 or len(name) > 128 or name.isspace():
        raise Invalid("display_name", "1 to 128 characters, not all blank")


def _as_list(field: str, value) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):  # any sequence, not only list or tuple
        raise Invalid(field, "give a list of strings")
    if any(not isinstance(v, str) for v in value):
        raise Invalid(field, "every item must be a string")
    return list(value)


def _check_module(module) -> None:
    if not isinstance(module, str) or not module:
        raise Invalid("python_module", "missing")
    for part in module.split("."):
        if not part.isidentifier():
            raise Invalid("python_module", f"{module!r} is not a dotted module name")


# --- task 1 -------------------------------------------------------------------------------

def _gpu(value) -> Accelerator | None:
    if value is None:
        return None
    if isinstance(value, str):
        member = Accelerator.__members__.get(value)
        if member is None:
            raise Invalid("accelerator_type", f"unknown {value!r}")
    elif isinstance(value, Accelerator):
        member = value
    else:
        raise Invalid("accelerator_type", f"{value!r} is neither a name nor an AcceleratorType")
    return None if member is Accelerator.ACCELERATOR_TYPE_UNSPECIFIED else member


def _allowed_counts(machine: str, gpu: Accelerator | None) -> tuple[int, ...]:
    fixed = FIXED_GPU_MACHINES.get(machine)
    if fixed is not None:
        if gpu is not fixed[0]:
            raise Invalid("accelerator_type", f"{machine} needs {fixed[0].name}")
        return (fixed[1],)
    if N1_MACHINE.fullmatch(machine):
        if gpu is None:
            return (0,)
        if gpu not in N1_GPU_COUNTS:
            raise Invalid("accelerator_type", f"{gpu.name} does not attach to N1")
        return N1_GPU_COUNTS[gpu]
    if CPU_ONLY_MACHINE.fullmatch(machine):
        if gpu is not None:
            raise Invalid("accelerator_type", f"{machine} takes no GPU")
        return (0,)
    raise Invalid("machine_type", f"{machine!r} is not in the allowlist")


def machine_spec(
    *,
    machine_type: str,
    accelerator_type: str | Accelerator | None = None,
    accelerator_count: int = 0,
) -> aiplatform_v1.MachineSpec:
    if not isinstance(machine_type, str):
        raise Invalid("machine_type", "not a string")
    gpu = _gpu(accelerator_type)
    counts = _allowed_counts(machine_type, gpu)
    if not _whole(accelerator_count) or accelerator_count not in counts:
        raise Invalid("accelerator_count", f"{accelerator_count!r} is not one of {counts}")
    return aiplatform_v1.MachineSpec({
        "machine_type": machine_type,
        "accelerator_type": gpu or Accelerator.ACCELERATOR_TYPE_UNSPECIFIED,
        "accelerator_count": int(accelerator_count),
    })


# --- task 2 -------------------------------------------------------------------------------

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
    _check_display(display_name)
    command, args, package_uris = (_as_list("command", command), _as_list("args", args),
                                   _as_list("package_uris", package_uris))
    if not _whole(replica_count) or replica_count < 1:
        raise Invalid("replica_count", "at least 1")
    if replica_count > _FIELD_MAX["replica_count"]:
        raise Invalid("replica_count", "more than the API field holds")
    if not isinstance(image_uri, str) or image_uri == "":
        raise Invalid("image_uri", "required")
    pool: dict[str, Any] = {
        "machine_spec": machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                                     accelerator_count=accelerator_count),
        "replica_count": int(replica_count),
    }
    is_package = bool(package_uris) or python_module is not None
    if is_package:
        if not package_uris:
            raise Invalid("package_uris", "python_module given without packages")
        _check_module(python_module)
        for uri in package_uris:
            _check_gcs("package_uris", uri)
        if command:
            raise Invalid("command", "package jobs run python -m python_module, no command")
        pool["python_package_spec"] = {"executor_image_uri": image_uri, "package_uris": package_uris,
                                       "python_module": python_module, "args": args}
    else:
        pool["container_spec"] = {"image_uri": image_uri, "command": command, "args": args}
    job_spec: dict[str, Any] = {"worker_pool_specs": [pool]}
    if base_output_directory is not None:
        _check_gcs("base_output_directory", base_output_directory)
        job_spec["base_output_directory"] = {"output_uri_prefix": base_output_directory}
    return aiplatform_v1.CreateCustomJobRequest({
        "parent": parent,
        "custom_job": {"display_name": display_name, "job_spec": job_spec},
    })


# --- task 3 -------------------------------------------------------------------------------

def _check_split(split) -> dict[str, int]:
    if not isinstance(split, Mapping):
        raise Invalid("traffic_split", "must be a mapping")
    items = list(split.items())
    if not items:
        raise Invalid("traffic_split", "empty")
    bad_keys = [k for k, _ in items if not (isinstance(k, str) and 1 <= len(k) <= 10 and k.isascii() and k.isdigit())]
    if bad_keys:
        raise Invalid("traffic_split", f"keys must be deployed model IDs: {bad_keys}")
    bad_values = [v for _, v in items if type(v) is not int or v < 0 or v > 100]
    if bad_values:
        raise Invalid("traffic_split", f"values must be whole percentages: {bad_values}")
    if sum(v for _, v in items) != 100:
        raise Invalid("traffic_split", f"adds up to {sum(v for _, v in items)}")
    return {k: v for k, v in items}


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
    endpoint_region = _location_of("endpoint", endpoint, "endpoints")
    model_region = _location_of("model", model, "models")
    if endpoint_region != model_region:
        raise Invalid("model", f"in {model_region}, endpoint in {endpoint_region}")
    _check_display(display_name)
    if not _whole(min_replica_count) or min_replica_count < 1:
        raise Invalid("min_replica_count", "at least 1")
    if not _whole(max_replica_count) or max_replica_count < min_replica_count:
        raise Invalid("max_replica_count", "at least min_replica_count")
    for field, value in (("min_replica_count", min_replica_count), ("max_replica_count", max_replica_count)):
        if value > _FIELD_MAX[field]:
            raise Invalid(field, "more than the API field holds")
    split = _check_split(traffic_split)
    spec = machine_spec(machine_type=machine_type, accelerator_type=accelerator_type,
                        accelerator_count=accelerator_count)
    request = aiplatform_v1.DeployModelRequest(endpoint=endpoint)
    request.deployed_model = aiplatform_v1.DeployedModel(
        model=model, display_name=display_name,
        dedicated_resources=aiplatform_v1.DedicatedResources(
            machine_spec=spec, min_replica_count=int(min_replica_count),
            max_replica_count=int(max_replica_count)))
    for key, pct in split.items():
        request.traffic_split[key] = pct
    return request


# --- task 4 -------------------------------------------------------------------------------

_CHECK_PARENT = "projects/offline-check/locations/us-central1"


def _jsonable(value: Any) -> Any:
    """json.dumps fallback: any mapping (a read-only one too) is an object, anything else its str."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def custom_job_spec_from_gcloud(config: Mapping[str, Any]) -> aiplatform_v1.CustomJobSpec:
    if not isinstance(config, Mapping):
        raise ValueError(f"the config must be a mapping of CustomJobSpec fields, got {type(config).__name__}")
    pools = config.get("workerPoolSpecs", config.get("worker_pool_specs"))
    data = {k: v for k, v in config.items()}
    if isinstance(pools, Mapping):
        key = "workerPoolSpecs" if "workerPoolSpecs" in config else "worker_pool_specs"
        data[key] = [pools]
    try:
        spec = aiplatform_v1.CustomJobSpec.from_json(json.dumps(data, default=_jsonable))
    except json_format.ParseError as exc:
        raise ValueError(f"config does not parse as a CustomJobSpec: {exc}") from exc
    if len(spec.worker_pool_specs) == 0:
        raise Invalid("worker_pool_specs", "no worker pools")
    # Re-use task 2 on every pool: the same rules, the same field names.
    output = spec.base_output_directory.output_uri_prefix if "base_output_directory" in spec else None
    for pool in spec.worker_pool_specs:
        m = pool.machine_spec
        common = dict(parent=_CHECK_PARENT, display_name="gcloud-config", machine_type=m.machine_type,
                      accelerator_type=Accelerator(m.accelerator_type), accelerator_count=m.accelerator_count,
                      replica_count=pool.replica_count, base_output_directory=output)
        if "python_package_spec" in pool:
            p = pool.python_package_spec
            custom_job_request(image_uri=p.executor_image_uri, package_uris=list(p.package_uris),
                               python_module=p.python_module or None, args=list(p.args), **common)
        else:
            c = pool.container_spec
            custom_job_request(image_uri=c.image_uri, command=list(c.command), args=list(c.args), **common)
    return spec
