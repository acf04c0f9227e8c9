"""Task 4: a gcloud `--config` YAML turned into a checked CustomJobSpec."""

import copy
import re
from types import MappingProxyType

import pytest
import yaml

aiplatform_v1 = pytest.importorskip(
    "google.cloud.aiplatform_v1",
    reason="day 09 needs the Vertex AI client library: pip install -e '.[vertex]'",
)

from vertex_config import custom_job_spec_from_gcloud  # noqa: E402

pytestmark = pytest.mark.task(taskno=4)

# The shape many tutorials use: workerPoolSpecs written as one mapping, not a list.
ONE_POOL_AS_A_MAPPING = """
workerPoolSpecs:
  machineSpec:
    machineType: n1-highmem-2
  replicaCount: 1
  containerSpec:
    imageUri: europe-west1-docker.pkg.dev/my-project/trainers/mnist:latest
    args: ["--epochs=5"]
"""

TWO_POOLS = """
baseOutputDirectory:
  outputUriPrefix: gs://my-bucket/runs/8
workerPoolSpecs:
  - machineSpec:
      machineType: n1-standard-8
      acceleratorType: NVIDIA_TESLA_T4
      acceleratorCount: 1
    replicaCount: 1
    pythonPackageSpec:
      executorImageUri: us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest
      packageUris: [gs://my-bucket/dist/trainer-0.1.tar.gz]
      pythonModule: trainer.task
  - machineSpec:
      machineType: n1-standard-8
      acceleratorType: NVIDIA_TESLA_T4
      acceleratorCount: 2
    replicaCount: 3
    pythonPackageSpec:
      executorImageUri: us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest
      packageUris: [gs://my-bucket/dist/trainer-0.1.tar.gz]
      pythonModule: trainer.task
"""


def config(text=ONE_POOL_AS_A_MAPPING, **changes):
    data = yaml.safe_load(text)
    data.update(changes)
    return data


def first_pool_with(**changes):
    data = config(TWO_POOLS)
    data["workerPoolSpecs"][0].update(changes)
    return data


def test_one_pool_written_as_a_mapping_becomes_a_one_pool_list():
    spec = custom_job_spec_from_gcloud(config())
    assert isinstance(spec, aiplatform_v1.CustomJobSpec), "the result should be an aiplatform_v1.CustomJobSpec"
    assert len(spec.worker_pool_specs) == 1, "one workerPoolSpecs mapping should give exactly one worker pool"
    pool = spec.worker_pool_specs[0]
    assert pool.machine_spec.machine_type == "n1-highmem-2", "machineType should land in machine_spec.machine_type"
    assert pool.replica_count == 1, "replicaCount should land in replica_count"
    assert pool.container_spec.image_uri.endswith("/mnist:latest"), "imageUri should land in container_spec"
    assert list(pool.container_spec.args) == ["--epochs=5"], "args should be kept"


def test_one_pool_written_as_any_mapping_becomes_a_one_pool_list():
    data = config()
    data["workerPoolSpecs"] = MappingProxyType(data["workerPoolSpecs"])
    spec = custom_job_spec_from_gcloud(data)
    assert [p.machine_spec.machine_type for p in spec.worker_pool_specs] == ["n1-highmem-2"], (
        "a single workerPoolSpecs given as any Mapping (here a read-only one), not only a dict, is one worker pool")


def test_a_list_of_pools_is_kept_in_order():
    spec = custom_job_spec_from_gcloud(config(TWO_POOLS))
    pools = spec.worker_pool_specs
    assert [p.replica_count for p in pools] == [1, 3], "pools should stay in the order written (chief first)"
    assert pools[1].machine_spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4, (
        "acceleratorType given by name should become the enum")
    assert pools[1].machine_spec.accelerator_count == 2, "acceleratorCount should be kept"
    assert pools[0].python_package_spec.python_module == "trainer.task", "pythonPackageSpec should be parsed"
    assert spec.base_output_directory.output_uri_prefix == "gs://my-bucket/runs/8", (
        "baseOutputDirectory.outputUriPrefix should be parsed")


def container_chief_with_package_workers():
    """A container chief (pool 0) with Python package workers (pool 1): pools need not be of one kind."""
    data = config(TWO_POOLS)
    data["workerPoolSpecs"][0] = yaml.safe_load(ONE_POOL_AS_A_MAPPING)["workerPoolSpecs"]
    return data


def test_pools_of_different_kinds_are_accepted():
    try:
        spec = custom_job_spec_from_gcloud(container_chief_with_package_workers())
    except ValueError as exc:
        pytest.fail(f"a container chief with Python package workers is a valid job; it was rejected: {exc}",
                    pytrace=False)
    chief, workers = spec.worker_pool_specs
    assert "container_spec" in chief and "python_package_spec" in workers, (
        "each pool should keep its own kind: a container_spec for the chief, a python_package_spec for the workers")


@pytest.mark.parametrize(("change", "field"), [
    ({"pythonModule": "trainer/task.py"}, "python_module"),
    ({"packageUris": ["./dist/trainer-0.1.tar.gz"]}, "package_uris"),
    ({"executorImageUri": ""}, "image_uri"),
], ids=["module-as-a-path", "local-package", "no-executor-image"])
def test_each_pool_is_checked_as_its_own_kind(change, field, value_error_naming):
    # The chief runs a container; the workers' Python package must still be checked as a package.
    data = container_chief_with_package_workers()
    data["workerPoolSpecs"][1]["pythonPackageSpec"].update(change)
    with value_error_naming(field):
        custom_job_spec_from_gcloud(data)


@pytest.mark.parametrize(("machine", "gpu", "count"), [
    ("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1),
    ("g2-standard-24", "NVIDIA_L4", 2),
    ("a3-highgpu-8g", "NVIDIA_H100_80GB", 8),
])
def test_an_accelerator_optimized_machine_in_a_config_is_accepted(machine, gpu, count):
    data = config()
    data["workerPoolSpecs"]["machineSpec"] = {"machineType": machine, "acceleratorType": gpu,
                                              "acceleratorCount": count}
    try:
        spec = custom_job_spec_from_gcloud(data)
    except ValueError as exc:
        pytest.fail(f"{machine} with {count} x {gpu} is in the README's table; the config was rejected: {exc}",
                    pytrace=False)
    parsed = spec.worker_pool_specs[0].machine_spec
    assert (parsed.machine_type, parsed.accelerator_type.name, parsed.accelerator_count) == (machine, gpu, count), (
        "the parsed machine, accelerator and count should be kept as written")


@pytest.mark.parametrize("text", [ONE_POOL_AS_A_MAPPING, TWO_POOLS], ids=["one-pool-as-a-mapping", "a-list-of-pools"])
def test_the_callers_config_is_not_changed(text):
    # Not even its nested pools: nothing may be added to, removed from or rewritten in them.
    original = config(text)
    untouched = copy.deepcopy(original)
    custom_job_spec_from_gcloud(original)
    assert original == untouched, (
        "normalising must work on a copy, not rewrite the caller's config or the pools inside it")


@pytest.mark.parametrize("text", [ONE_POOL_AS_A_MAPPING, TWO_POOLS], ids=["one-pool-as-a-mapping", "a-list-of-pools"])
def test_each_call_returns_a_new_spec(text):
    first = custom_job_spec_from_gcloud(config(text))
    first.worker_pool_specs[0].replica_count = 99
    first.service_account = "edited-by-the-caller@my-project.iam.gserviceaccount.com"
    second = custom_job_spec_from_gcloud(config(text))
    assert (second.worker_pool_specs[0].replica_count, second.service_account) == (1, ""), (
        "every call should build a new CustomJobSpec: editing one returned spec must not change what a later "
        "call returns")
    assert (first.worker_pool_specs[0].replica_count, first.service_account) == (
        99, "edited-by-the-caller@my-project.iam.gserviceaccount.com"), (
        "a later call must not rewrite a spec an earlier caller holds (one shared message, cleared and "
        "parsed again, is the same object for every caller)")


def test_any_mapping_is_accepted_as_a_config():
    spec = custom_job_spec_from_gcloud(MappingProxyType(config()))
    assert [p.machine_spec.machine_type for p in spec.worker_pool_specs] == ["n1-highmem-2"], (
        "the config is a Mapping: a read-only mapping should be read like the dict yaml.safe_load gives")


def test_a_misspelt_key_is_a_value_error_naming_it():
    data = config()
    data["workerPoolSpecs"]["machineSpec"]["machineTypo"] = "n1-standard-4"
    with pytest.raises(ValueError, match="machineTypo"):
        custom_job_spec_from_gcloud(data)


def test_a_misspelt_top_level_key_is_a_value_error_naming_it():
    # A typo in baseOutputDirectory must not quietly drop the output directory from the job.
    data = config(baseOutputDirectroy={"outputUriPrefix": "gs://my-bucket/out"})
    with pytest.raises(ValueError, match="baseOutputDirectroy"):
        custom_job_spec_from_gcloud(data)


def test_job_settings_that_are_not_checked_are_kept():
    data = config(serviceAccount="trainer@my-project.iam.gserviceaccount.com", enableWebAccess=True,
                  scheduling={"timeout": "3600s"}, network="projects/12345/global/networks/default",
                  enableDashboardAccess=True)
    spec = custom_job_spec_from_gcloud(data)
    kept = {"scheduling.timeout": spec.scheduling.timeout.total_seconds(), "network": spec.network,
            "enableDashboardAccess": spec.enable_dashboard_access}
    assert kept == {"scheduling.timeout": 3600.0, "network": "projects/12345/global/networks/default",
                    "enableDashboardAccess": True}, (
        f"every field of the config is parsed and kept as written, not only the ones a rule reads; got {kept}")
    assert spec.service_account == "trainer@my-project.iam.gserviceaccount.com", (
        "serviceAccount is part of the CustomJobSpec: the parsed spec should keep it as written")
    assert spec.enable_web_access is True, (
        "enableWebAccess is part of the CustomJobSpec: the parsed spec should keep it as written")


COUNTS_AS_PARSEDICT_READS_THEM = {
    "camelCase": """
workerPoolSpecs:
  machineSpec:
    machineType: n1-standard-8
    acceleratorType: NVIDIA_TESLA_T4
    acceleratorCount: 1.0
  replicaCount: '2'
  containerSpec:
    imageUri: europe-west1-docker.pkg.dev/my-project/trainers/mnist:latest
""",
    "snake_case": """
worker_pool_specs:
  - machine_spec:
      machine_type: n1-standard-8
      accelerator_type: NVIDIA_TESLA_T4
      accelerator_count: 1.0
    replica_count: '2'
    container_spec:
      image_uri: europe-west1-docker.pkg.dev/my-project/trainers/mnist:latest
""",
}


@pytest.mark.parametrize("spelling", list(COUNTS_AS_PARSEDICT_READS_THEM))
def test_counts_in_a_config_are_read_by_parsedict(spelling):
    # The int-only rule is for the functions' arguments: in a config, ParseDict reads 1.0 and '2' as 1 and 2.
    data = yaml.safe_load(COUNTS_AS_PARSEDICT_READS_THEM[spelling])
    try:
        spec = custom_job_spec_from_gcloud(data)
    except ValueError as exc:
        pytest.fail(f"in a config, ParseDict reads acceleratorCount: 1.0 and replicaCount: '2' as the numbers 1 and "
                    f"2, so this {spelling} config is valid; it was rejected: {exc}", pytrace=False)
    pool = spec.worker_pool_specs[0]
    counts = (pool.replica_count, pool.machine_spec.accelerator_count)
    assert counts == (2, 1), f"replica count '2' and accelerator count 1.0 should be read as (2, 1), got {counts}"


def test_a_value_of_the_wrong_type_is_a_value_error():
    data = config()
    data["workerPoolSpecs"]["replicaCount"] = "many"
    with pytest.raises(ValueError):
        custom_job_spec_from_gcloud(data)


@pytest.mark.parametrize("text", ["", "- machineSpec: {machineType: n1-standard-4}", "42", "true", "n1-standard-4"],
                         ids=["empty-file", "a-list", "a-number", "a-boolean", "a-string"])
def test_a_config_that_is_not_a_mapping_is_a_value_error(text):
    with pytest.raises(ValueError):
        custom_job_spec_from_gcloud(yaml.safe_load(text))


@pytest.mark.parametrize("pairs", [list, tuple], ids=["a-list-of-pairs", "a-tuple-of-pairs"])
def test_key_value_pairs_are_not_a_config(pairs):
    # dict() takes a sequence of (key, value) pairs, but a gcloud config is a mapping: pairs are refused.
    data = pairs([("workerPoolSpecs", [yaml.safe_load(ONE_POOL_AS_A_MAPPING)["workerPoolSpecs"]])])
    try:
        custom_job_spec_from_gcloud(data)
    except ValueError:
        return
    pytest.fail(f"a {pairs.__name__} of (key, value) pairs is not a mapping and should be a ValueError, "
                "but it was accepted as a config", pytrace=False)


@pytest.mark.parametrize("text", [ONE_POOL_AS_A_MAPPING, TWO_POOLS], ids=["one-pool-as-a-mapping", "a-list-of-pools"])
def test_a_pool_without_replica_count_leaves_the_callers_pool_unchanged(text):
    # Rejecting a pool without replicaCount (naming replica_count) or reading it as gcloud's default of 1 are
    # both fine; writing the default into the caller's pool is not.
    data = config(text)
    pools = data["workerPoolSpecs"] if isinstance(data["workerPoolSpecs"], list) else [data["workerPoolSpecs"]]
    for pool in pools:
        del pool["replicaCount"]
    untouched = copy.deepcopy(data)
    try:
        spec = custom_job_spec_from_gcloud(data)
    except ValueError as exc:
        assert re.search(r"(?<![A-Za-z0-9_])replica_count(?![A-Za-z0-9_])", str(exc)), (
            f"a pool without replicaCount may be rejected, but the ValueError should name replica_count; "
            f"it said: {exc}")
    else:
        counts = [pool.replica_count for pool in spec.worker_pool_specs]
        assert counts == [1] * len(pools), (
            f"a pool without replicaCount is rejected or read as gcloud's default of 1; got replica counts {counts}")
    assert data == untouched, (
        "the caller's config must not be changed: a missing replicaCount must not be written into the caller's pools")


@pytest.mark.timeout(10)  # a correct check needs microseconds; a backtracking regex never finishes
@pytest.mark.parametrize("where", ["baseOutputDirectory", "packageUris"])
def test_a_long_object_path_in_a_config_is_answered_at_once(where):
    # The task 2 rule, whole: a path of many slashes and a newline may be accepted or rejected, but at once.
    uri = "gs://my-bucket" + "/" * 40 + "\n"
    data = config(TWO_POOLS)
    if where == "baseOutputDirectory":
        data["baseOutputDirectory"] = {"outputUriPrefix": uri}
    else:
        data["workerPoolSpecs"][0]["pythonPackageSpec"]["packageUris"] = [uri]
    try:
        custom_job_spec_from_gcloud(data)
    except ValueError:
        pass


def test_a_yaml_date_where_a_string_belongs_leaks_no_other_error():
    # YAML reads an unquoted 2024-01-01 as a date, not a string. Refusing it (a ValueError) or
    # reading it as the string it was meant to be are both fine; a TypeError is not.
    data = config()
    data["workerPoolSpecs"]["containerSpec"]["args"] = yaml.safe_load("[--since, 2024-01-01]")
    untouched = copy.deepcopy(data)
    try:
        custom_job_spec_from_gcloud(data)
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"a YAML date in args should give a ValueError or be read as a string, "
                    f"not {type(exc).__name__}: {exc}", pytrace=False)
    assert data == untouched, (
        "reading the date as a string must happen on a copy: the caller's config, its pools and their args "
        "must not be rewritten (the caller's date stays a date)")


def test_a_config_without_worker_pools_is_rejected(value_error_naming):
    with value_error_naming("worker_pool_specs"):
        custom_job_spec_from_gcloud({"baseOutputDirectory": {"outputUriPrefix": "gs://my-bucket/out"}})


def test_worker_pools_left_empty_in_the_yaml_are_rejected(value_error_naming):
    # `workerPoolSpecs:` with nothing after it is null in YAML: no worker pools at all.
    with value_error_naming("worker_pool_specs"):
        custom_job_spec_from_gcloud(yaml.safe_load("workerPoolSpecs:\n"))


def test_an_empty_list_of_worker_pools_is_rejected(value_error_naming):
    with value_error_naming("worker_pool_specs"):
        custom_job_spec_from_gcloud({"workerPoolSpecs": []})


def test_a_gpu_the_machine_cannot_take_is_rejected(value_error_naming):
    data = first_pool_with(machineSpec={"machineType": "e2-standard-8", "acceleratorType": "NVIDIA_TESLA_T4",
                                        "acceleratorCount": 1})
    with value_error_naming("accelerator_type"):
        custom_job_spec_from_gcloud(data)


def test_a_gpu_without_a_count_is_rejected(value_error_naming):
    data = first_pool_with(machineSpec={"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4"})
    with value_error_naming("accelerator_count"):
        custom_job_spec_from_gcloud(data)


def test_a_gpu_count_without_a_gpu_is_rejected(value_error_naming):
    data = first_pool_with(machineSpec={"machineType": "n1-standard-8", "acceleratorCount": 2})
    with value_error_naming("accelerator_count"):
        custom_job_spec_from_gcloud(data)


def test_a_pool_without_a_machine_is_rejected(value_error_naming):
    data = config()
    del data["workerPoolSpecs"]["machineSpec"]
    with value_error_naming("machine_type"):
        custom_job_spec_from_gcloud(data)


def test_an_unknown_machine_in_a_later_pool_is_rejected(value_error_naming):
    data = config(TWO_POOLS)
    data["workerPoolSpecs"][1]["machineSpec"] = {"machineType": "n1-turbo-8"}
    with value_error_naming("machine_type"):
        custom_job_spec_from_gcloud(data)


@pytest.mark.parametrize("replicas", [0, -1])
@pytest.mark.parametrize("pool", [None, 0, 1], ids=["container-pool", "first-package-pool", "second-package-pool"])
def test_a_pool_with_no_replicas_is_rejected(pool, replicas, value_error_naming):
    if pool is None:
        data = config()
        data["workerPoolSpecs"]["replicaCount"] = replicas
    else:
        data = config(TWO_POOLS)
        data["workerPoolSpecs"][pool]["replicaCount"] = replicas
    with value_error_naming("replica_count"):
        custom_job_spec_from_gcloud(data)


def test_a_pool_with_neither_a_container_nor_a_package_is_rejected(value_error_naming):
    data = config()
    del data["workerPoolSpecs"]["containerSpec"]
    with value_error_naming("image_uri"):
        custom_job_spec_from_gcloud(data)


def test_a_container_pool_without_an_image_is_rejected(value_error_naming):
    data = config()
    del data["workerPoolSpecs"]["containerSpec"]["imageUri"]
    with value_error_naming("image_uri"):
        custom_job_spec_from_gcloud(data)


@pytest.mark.parametrize(("change", "field"), [
    ({"pythonModule": "trainer/task.py"}, "python_module"),
    ({"pythonModule": ""}, "python_module"),
    ({"packageUris": []}, "package_uris"),
    ({"executorImageUri": ""}, "image_uri"),
], ids=["module-as-a-path", "no-module", "no-packages", "no-executor-image"])
def test_a_python_package_pool_is_checked_like_task_2(change, field, value_error_naming):
    data = config(TWO_POOLS)
    data["workerPoolSpecs"][1]["pythonPackageSpec"].update(change)
    with value_error_naming(field):
        custom_job_spec_from_gcloud(data)


# The bucket rule of task 2, whole: ends in a letter or digit, at most 63 characters, starts with one, ASCII only.
BUCKETS_TASK_2_REFUSES = ["gs://my-bucket-/out", "gs://" + "b" * 64 + "/out", "gs://_my-bucket/out",
                          "gs://bucket\u0661/out", "gs://.my-bucket/out"]
BUCKET_IDS = ["ends-in-a-hyphen", "64-characters", "starts-with-an-underscore", "non-ascii-digit",
              "starts-with-a-dot"]


@pytest.mark.parametrize("uris", [["./dist/trainer-0.1.tar.gz"], ["gs://My-Bucket/trainer-0.1.tar.gz"],
                                  ["gs://my-bucket/dist/trainer-0.1.tar.gz", "./dist/utils-0.1.tar.gz"]]
                         + [[uri.replace("/out", "/trainer-0.1.tar.gz")] for uri in BUCKETS_TASK_2_REFUSES],
                         ids=["local-path", "uppercase-bucket", "second-package"] + BUCKET_IDS)
def test_a_package_outside_cloud_storage_is_rejected(uris, value_error_naming):
    data = config(TWO_POOLS)
    data["workerPoolSpecs"][0]["pythonPackageSpec"]["packageUris"] = uris
    with value_error_naming("package_uris"):
        custom_job_spec_from_gcloud(data)


def test_a_package_at_any_object_path_is_accepted():
    # The gs:// rule is the task 2 rule: only the bucket has a character rule, so a wheel or a capital in the
    # path is a package like any other, kept in the order written.
    uris = ["gs://my-bucket/dist/utils-0.2-py3-none-any.whl", "gs://my-bucket/Dist/Trainer-0.1.tar.gz"]
    data = config(TWO_POOLS)
    data["workerPoolSpecs"][0]["pythonPackageSpec"]["packageUris"] = list(uris)
    try:
        spec = custom_job_spec_from_gcloud(data)
    except ValueError as exc:
        pytest.fail(f"{uris} are gs:// URIs in a valid bucket (PATH is any object path); the config was rejected: "
                    f"{exc}", pytrace=False)
    assert list(spec.worker_pool_specs[0].python_package_spec.package_uris) == uris, (
        "packageUris should be kept as written, in order")


@pytest.mark.parametrize("where", ["baseOutputDirectory", "packageUris"])
def test_a_uri_with_an_empty_path_in_a_config_is_accepted_and_kept_as_given(where):
    # gs://BUCKET/ has an empty PATH, which is a path too (the task 2 rule): the trailing slash is kept.
    uri = "gs://my-bucket/"
    data = config(TWO_POOLS)
    if where == "packageUris":
        data["workerPoolSpecs"][0]["pythonPackageSpec"]["packageUris"] = [uri]
    else:
        data["baseOutputDirectory"] = {"outputUriPrefix": uri}
    try:
        spec = custom_job_spec_from_gcloud(data)
    except ValueError as exc:
        pytest.fail(f"{uri} is a gs:// URI with an empty path, which is accepted; the config with it in {where} "
                    f"was rejected: {exc}", pytrace=False)
    kept = (list(spec.worker_pool_specs[0].python_package_spec.package_uris) if where == "packageUris"
            else spec.base_output_directory.output_uri_prefix)
    expected = [uri] if where == "packageUris" else uri
    assert kept == expected, f"{where} should be kept as written ({expected!r}), got {kept!r}"


def test_a_config_written_in_snake_case_is_accepted():
    data = {"base_output_directory": {"output_uri_prefix": "gs://my-bucket/runs/9"},
            "worker_pool_specs": [{"machine_spec": {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4",
                                                    "accelerator_count": 1},
                                   "replica_count": 2,
                                   "python_package_spec": {"executor_image_uri": "us-docker.pkg.dev/vertex-ai/training/x:1",
                                                           "package_uris": ["gs://my-bucket/trainer.tar.gz"],
                                                           "python_module": "trainer.task"}}]}
    try:
        spec = custom_job_spec_from_gcloud(data)
    except ValueError as exc:
        pytest.fail(f"ParseDict reads snake_case keys too; this valid config was rejected: {exc}", pytrace=False)
    assert (spec.base_output_directory.output_uri_prefix, spec.worker_pool_specs[0].replica_count) == (
        "gs://my-bucket/runs/9", 2), "a config written in snake_case should be parsed and kept as written"


@pytest.mark.parametrize(("where", "key", "value", "field"), [
    ("job", "base_output_directory", {"output_uri_prefix": "gs:/my-bucket/out"}, "base_output_directory"),
    ("job", "base_output_directory", {"outputUriPrefix": "gs://My-Bucket/out"}, "base_output_directory"),
    ("pool", "replica_count", 0, "replica_count"),
    ("pool", "machine_spec", {"machine_type": "e2-standard-8", "accelerator_type": "NVIDIA_TESLA_T4",
                              "accelerator_count": 1}, "accelerator_type"),
    ("package", "package_uris", ["./dist/trainer-0.1.tar.gz"], "package_uris"),
    ("package", "python_module", "trainer/task.py", "python_module"),
], ids=["output-directory", "output-directory-camel-inside", "replicas", "machine", "packages", "module"])
def test_checks_hold_for_keys_written_in_snake_case(where, key, value, field, value_error_naming):
    # ParseDict reads base_output_directory as well as baseOutputDirectory: the checks read the parsed spec,
    # not the raw YAML keys, so a snake_case key is checked like its camelCase twin.
    data = config(TWO_POOLS)
    if where == "job":
        del data["baseOutputDirectory"]
        data[key] = value
    else:
        target = data["workerPoolSpecs"][1]
        if where == "package":
            target = target["pythonPackageSpec"]
        camel = {"replica_count": "replicaCount", "machine_spec": "machineSpec", "package_uris": "packageUris",
                 "python_module": "pythonModule"}[key]
        del target[camel]
        target[key] = value
    with value_error_naming(field):
        custom_job_spec_from_gcloud(data)


@pytest.mark.parametrize("destination", [{"outputUriPrefix": "gs:/my-bucket/out"}, {},
                                         {"outputUriPrefix": "gs://My-Bucket/out"},
                                         {"outputUriPrefix": "gs://ab/out"}]
                         + [{"outputUriPrefix": uri} for uri in BUCKETS_TASK_2_REFUSES],
                         ids=["single-slash", "present-but-empty", "uppercase-bucket", "2-character-bucket"]
                         + BUCKET_IDS)
def test_an_output_directory_outside_cloud_storage_is_rejected(destination, value_error_naming):
    with value_error_naming("base_output_directory"):
        custom_job_spec_from_gcloud(config(TWO_POOLS, baseOutputDirectory=destination))
