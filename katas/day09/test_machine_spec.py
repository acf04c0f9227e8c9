"""Task 1: a MachineSpec whose machine and accelerator really go together."""

from decimal import Decimal

import pytest

aiplatform_v1 = pytest.importorskip(
    "google.cloud.aiplatform_v1",
    reason="day 09 needs the Vertex AI client library: pip install -e '.[vertex]'",
)

from vertex_config import machine_spec  # noqa: E402

pytestmark = pytest.mark.task(taskno=1)

Accelerator = aiplatform_v1.AcceleratorType

GPU_MACHINES = [
    ("n1-standard-8", "NVIDIA_TESLA_T4", 1),
    ("n1-standard-16", "NVIDIA_TESLA_T4", 4),
    ("n1-highmem-8", "NVIDIA_TESLA_P4", 2),
    ("n1-standard-4", "NVIDIA_TESLA_P100", 1),
    ("n1-highmem-64", "NVIDIA_TESLA_V100", 8),
    ("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1),
    ("a2-highgpu-8g", "NVIDIA_TESLA_A100", 8),
    ("a2-megagpu-16g", "NVIDIA_TESLA_A100", 16),
    ("a2-ultragpu-2g", "NVIDIA_A100_80GB", 2),
    ("a3-highgpu-8g", "NVIDIA_H100_80GB", 8),
    ("g2-standard-8", "NVIDIA_L4", 1),
    ("g2-standard-24", "NVIDIA_L4", 2),
    ("g2-standard-96", "NVIDIA_L4", 8),
]

CPU_MACHINES = ["n1-standard-4", "n1-highcpu-16", "e2-standard-4", "e2-highmem-2",
                "n2-standard-8", "n2d-highcpu-32", "c2-standard-8"]


@pytest.mark.parametrize(("machine", "gpu", "count"), GPU_MACHINES)
def test_a_machine_with_a_fitting_gpu_builds_a_machine_spec(machine, gpu, count):
    spec = machine_spec(machine_type=machine, accelerator_type=gpu, accelerator_count=count)
    assert isinstance(spec, aiplatform_v1.MachineSpec), "machine_spec should return an aiplatform_v1.MachineSpec"
    assert spec.machine_type == machine, "machine_type should be carried over unchanged"
    assert spec.accelerator_type == Accelerator[gpu], f"accelerator_type should be the enum {gpu}"
    assert spec.accelerator_count == count, "accelerator_count should be carried over"


# Every row of the README's machine and accelerator table, with the counts it allows
# (Google Cloud "GPU machine types": N1 attachable GPUs, accelerator-optimized A2, A3, G2).
README_TABLE = [
    *[("n1-standard-8", gpu, n) for gpu in ("NVIDIA_TESLA_T4", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_P100")
      for n in (1, 2, 4)],
    *[("n1-highmem-16", "NVIDIA_TESLA_V100", n) for n in (1, 2, 4, 8)],
    *[("n1-highcpu-16", gpu, 1) for gpu in ("NVIDIA_TESLA_T4", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_P100",
                                             "NVIDIA_TESLA_V100")],
    *[(f"a2-highgpu-{n}g", "NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)],
    ("a2-megagpu-16g", "NVIDIA_TESLA_A100", 16),
    *[(f"a2-ultragpu-{n}g", "NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)],
    *[(f"a3-highgpu-{n}g", "NVIDIA_H100_80GB", n) for n in (1, 2, 4, 8)],
    *[(f"g2-standard-{n}", "NVIDIA_L4", 1) for n in (4, 8, 12, 16, 32)],
    ("g2-standard-24", "NVIDIA_L4", 2),
    ("g2-standard-48", "NVIDIA_L4", 4),
    ("g2-standard-96", "NVIDIA_L4", 8),
]


@pytest.mark.parametrize(("machine", "gpu", "count"), README_TABLE)
def test_every_machine_gpu_and_count_in_the_readme_table_is_accepted(machine, gpu, count):
    try:
        spec = machine_spec(machine_type=machine, accelerator_type=gpu, accelerator_count=count)
    except ValueError as exc:
        pytest.fail(f"the README's table allows {machine} with {count} x {gpu}, but it was rejected: {exc}",
                    pytrace=False)
    assert (spec.machine_type, spec.accelerator_type, spec.accelerator_count) == (
        machine, Accelerator[gpu], count), f"{machine} with {count} x {gpu} should be carried over unchanged"


@pytest.mark.parametrize("machine", CPU_MACHINES)
def test_a_cpu_machine_needs_no_accelerator(machine):
    spec = machine_spec(machine_type=machine)
    assert isinstance(spec, aiplatform_v1.MachineSpec), "machine_spec should return an aiplatform_v1.MachineSpec"
    assert spec.machine_type == machine, "machine_type should be carried over unchanged"
    assert spec.accelerator_type == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED, "no accelerator was asked for"
    assert spec.accelerator_count == 0, "no accelerator means an accelerator_count of 0"


@pytest.mark.parametrize("family", ["e2", "n2", "n2d"])
@pytest.mark.parametrize("shape", ["standard", "highmem", "highcpu"])
def test_every_cpu_family_and_shape_in_the_readme_table_is_accepted(family, shape):
    # The README's table is the allowlist: e2-, n2- and n2d- each with standard, highmem and highcpu (c2 is left
    # out here: Compute Engine offers only c2-standard, so refusing the other c2 shapes is no mistake).
    machine = f"{family}-{shape}-16"
    try:
        spec = machine_spec(machine_type=machine)
    except ValueError as exc:
        pytest.fail(f"the README's table allows {machine} without an accelerator, but it was rejected: {exc}",
                    pytrace=False)
    assert spec.machine_type == machine, "machine_type should be carried over unchanged"


def test_the_accelerator_may_be_given_as_the_enum_member():
    spec = machine_spec(machine_type="n1-standard-8", accelerator_type=Accelerator.NVIDIA_TESLA_T4,
                        accelerator_count=2)
    assert spec.accelerator_type == Accelerator.NVIDIA_TESLA_T4, "an AcceleratorType member should be accepted"
    assert spec.accelerator_count == 2, "accelerator_count should be carried over"


@pytest.mark.parametrize(("machine", "name", "count"), [
    ("a2-highgpu-2g", "NVIDIA_TESLA_A100", 2),
    ("a2-ultragpu-1g", "NVIDIA_A100_80GB", 1),
    ("a3-highgpu-8g", "NVIDIA_H100_80GB", 8),
    ("g2-standard-24", "NVIDIA_L4", 2),
])
def test_an_accelerator_optimized_machine_takes_its_gpu_as_the_enum_member(machine, name, count):
    # A member is what a parsed gcloud config (task 4) carries: it must work for every machine, not only N1.
    gpu = Accelerator[name]
    try:
        spec = machine_spec(machine_type=machine, accelerator_type=gpu, accelerator_count=count)
    except ValueError as exc:
        pytest.fail(f"{machine} comes with {gpu.name}; given as the AcceleratorType member it was rejected: {exc}",
                    pytrace=False)
    assert (spec.accelerator_type, spec.accelerator_count) == (gpu, count), (
        f"{machine} with {count} x {gpu.name} given as the enum member should be carried over unchanged")


@pytest.mark.parametrize("machine", ["e2-standard-4", "n1-standard-8"])
@pytest.mark.parametrize("unspecified", ["ACCELERATOR_TYPE_UNSPECIFIED", Accelerator.ACCELERATOR_TYPE_UNSPECIFIED],
                         ids=["name", "member"])
def test_accelerator_type_unspecified_means_no_accelerator(unspecified, machine):
    spec = machine_spec(machine_type=machine, accelerator_type=unspecified)
    assert spec.accelerator_type == Accelerator.ACCELERATOR_TYPE_UNSPECIFIED, (
        "ACCELERATOR_TYPE_UNSPECIFIED (its name or the enum member) with no count is the same as no accelerator")


@pytest.mark.parametrize(("machine", "gpu", "count"), [
    ("n2-standard-8", "NVIDIA_TESLA_T4", 1),
    ("c2-standard-8", "NVIDIA_TESLA_V100", 1),
    ("n1-standard-8", "NVIDIA_L4", 1),
    ("n1-standard-8", "NVIDIA_TESLA_A100", 1),
    ("n1-standard-8", "NVIDIA_TESLA_K80", 1),
    ("n1-standard-8", "TPU_V3", 8),
    ("a2-highgpu-1g", "NVIDIA_A100_80GB", 1),
    ("a2-ultragpu-1g", "NVIDIA_TESLA_A100", 1),
    ("g2-standard-8", "NVIDIA_TESLA_T4", 1),
    ("a3-highgpu-8g", "NVIDIA_TESLA_A100", 8),
])
def test_a_gpu_the_machine_cannot_take_is_rejected(machine, gpu, count, value_error_naming):
    with value_error_naming("accelerator_type"):
        machine_spec(machine_type=machine, accelerator_type=gpu, accelerator_count=count)


@pytest.mark.parametrize("gpu", [a.name for a in Accelerator if a != Accelerator.ACCELERATOR_TYPE_UNSPECIFIED])
def test_no_accelerator_fits_an_e2_machine(gpu, value_error_naming):
    with value_error_naming("accelerator_type"):
        machine_spec(machine_type="e2-standard-4", accelerator_type=gpu, accelerator_count=1)


@pytest.mark.parametrize("machine", ["a2-highgpu-1g", "a3-highgpu-8g", "g2-standard-4"])
def test_an_accelerator_optimized_machine_without_its_gpu_is_rejected(machine, value_error_naming):
    with value_error_naming("accelerator_type"):
        machine_spec(machine_type=machine)


@pytest.mark.parametrize(("machine", "gpu", "count"), [
    ("n1-standard-8", "NVIDIA_TESLA_T4", 0),
    ("n1-standard-8", "NVIDIA_TESLA_T4", 3),
    ("n1-standard-8", "NVIDIA_TESLA_T4", 8),
    ("n1-standard-8", "NVIDIA_TESLA_P4", 8),
    ("n1-standard-8", "NVIDIA_TESLA_P100", 8),
    ("n1-standard-8", "NVIDIA_TESLA_V100", -1),
    ("a2-highgpu-1g", "NVIDIA_TESLA_A100", 0),
    ("a2-highgpu-2g", "NVIDIA_TESLA_A100", 1),
    ("g2-standard-24", "NVIDIA_L4", 1),
    ("g2-standard-8", "NVIDIA_L4", 2),
    ("n1-standard-8", None, 1),
    ("n1-standard-8", None, -1),
    ("e2-standard-4", None, -2),
    ("n1-standard-8", "NVIDIA_TESLA_T4", True),
    ("n1-standard-8", "NVIDIA_TESLA_T4", 1.0),
    ("n1-standard-8", "NVIDIA_TESLA_T4", "1"),
    ("a2-highgpu-1g", "NVIDIA_TESLA_A100", True),
    ("e2-standard-4", None, False),
    ("e2-standard-4", None, 0.0),
    ("n1-standard-8", "ACCELERATOR_TYPE_UNSPECIFIED", 2),
    ("e2-standard-4", Accelerator.ACCELERATOR_TYPE_UNSPECIFIED, 1),
    ("e2-standard-4", None, None),
    ("n1-standard-8", None, None),
    ("n1-standard-8", "NVIDIA_TESLA_T4", None),
    pytest.param("n1-standard-8", "NVIDIA_TESLA_T4", Decimal("2"), id="decimal-count-with-a-gpu"),
    pytest.param("e2-standard-4", None, Decimal("0"), id="decimal-zero-without-a-gpu"),
])
def test_a_wrong_accelerator_count_is_rejected(machine, gpu, count, value_error_naming):
    with value_error_naming("accelerator_count"):
        machine_spec(machine_type=machine, accelerator_type=gpu, accelerator_count=count)


@pytest.mark.parametrize("count", [True, 1.0, Decimal("1")], ids=["True", "1.0", "decimal-1"])
def test_a_wrong_count_is_rejected_even_right_after_an_equal_valid_one(count, value_error_naming):
    # True, 1.0 and Decimal("1") equal 1 and hash like it: a check memoised on its arguments answers them from
    # the cache entry of the valid 1 instead of rejecting them. Every call is checked on its own.
    machine_spec(machine_type="n1-standard-8", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1)
    with value_error_naming("accelerator_count"):
        machine_spec(machine_type="n1-standard-8", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=count)


@pytest.mark.parametrize("machine", ["not-a-machine", "", "n1-standard", "N1-STANDARD-8",
                                     "n1-standard-8 ", "n1-standard-8\n", "t4-standard-8", "a2-highgpu-3g",
                                     "n1-standard-0", "e2-standard-0", "n1-ultramem-40", "e2-micro-2",
                                     "a2-megagpu-8g", "g2-standard-6", "e2-standard-4x", "e2-standard-4 ",
                                     "n2-highmem-8\n", "c2d-standard-8", "c3-standard-8", "n4-standard-8",
                                     "e2-medium", "n1-standard-\u0668", "e2-standard-\u0664", "n1-standard-\u00b2",
                                     "n2-standard-\uff18", "n1-standard-08", "e2-standard-04"])
def test_an_unknown_machine_type_is_rejected(machine, value_error_naming):
    with value_error_naming("machine_type"):
        machine_spec(machine_type=machine)


@pytest.mark.parametrize("machine", [None, 8], ids=["None", "int"])
def test_a_machine_type_that_is_not_a_string_is_a_value_error(machine, value_error_naming):
    with value_error_naming("machine_type"):
        machine_spec(machine_type=machine)


def test_an_unknown_machine_type_is_rejected_even_with_a_gpu(value_error_naming):
    with value_error_naming("machine_type"):
        machine_spec(machine_type="not-a-machine", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1)


@pytest.mark.parametrize("name", ["NVIDIA_TESLA_X", "nvidia_tesla_t4", "NVIDIA_TESLA_T4 ", "T4", ""])
def test_an_unknown_accelerator_name_is_a_value_error(name, value_error_naming):
    with value_error_naming("accelerator_type"):
        machine_spec(machine_type="n1-standard-8", accelerator_type=name, accelerator_count=1)


@pytest.mark.parametrize("accelerator", [1.5, ["NVIDIA_TESLA_T4"], b"NVIDIA_TESLA_T4", 99],
                         ids=["float", "list", "bytes", "int-out-of-range"])
def test_an_accelerator_type_that_is_neither_a_name_nor_a_member_is_a_value_error(accelerator, value_error_naming):
    with value_error_naming("accelerator_type"):
        machine_spec(machine_type="n1-standard-8", accelerator_type=accelerator, accelerator_count=1)


@pytest.mark.parametrize(("machine", "gpu", "count"), [("n1-standard-8", "NVIDIA_TESLA_T4", 1),
                                                    ("e2-standard-4", None, 0)], ids=["n1-with-t4", "e2"])
def test_each_call_returns_a_new_machine_spec(machine, gpu, count):
    first = machine_spec(machine_type=machine, accelerator_type=gpu, accelerator_count=count)
    first.machine_type = "edited-by-the-caller"
    first.accelerator_count = 99
    second = machine_spec(machine_type=machine, accelerator_type=gpu, accelerator_count=count)
    assert (second.machine_type, second.accelerator_count) == (machine, count), (
        "every call should build a new MachineSpec: editing one returned spec must not change what a later "
        "call returns (a cache of built specs shares one mutable object between callers)")


def test_machine_spec_takes_keyword_arguments_only():
    assert machine_spec(machine_type="n1-standard-8").machine_type == "n1-standard-8", (
        "machine_spec(machine_type=...) should build a MachineSpec")
    # Positional arguments are easy to swap (a count where the GPU belongs): the contract forbids them.
    with pytest.raises(TypeError):
        machine_spec("n1-standard-8", "NVIDIA_TESLA_T4", 1)
        pytest.fail("machine_spec takes keyword arguments only: positional ones should be a TypeError",
                    pytrace=False)
