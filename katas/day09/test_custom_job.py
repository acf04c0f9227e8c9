"""Task 2: a CreateCustomJobRequest for one worker pool, checked before it is sent."""

import collections
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

aiplatform_v1 = pytest.importorskip(
    "google.cloud.aiplatform_v1",
    reason="day 09 needs the Vertex AI client library: pip install -e '.[vertex]'",
)

from vertex_config import custom_job_request  # noqa: E402

pytestmark = pytest.mark.task(taskno=2)

PARENT = "projects/my-project/locations/us-central1"
IMAGE = "us-docker.pkg.dev/my-project/trainers/fraud:1.0"
EXECUTOR = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"


def job(**overrides):
    kwargs = {"parent": PARENT, "display_name": "fraud-train", "machine_type": "n1-standard-8",
              "image_uri": IMAGE}
    kwargs.update(overrides)
    return custom_job_request(**kwargs)


def only_pool(request):
    pools = request.custom_job.job_spec.worker_pool_specs
    assert len(pools) == 1, f"the job should have exactly one worker pool, it has {len(pools)}"
    return pools[0]


def test_builds_a_request_for_a_custom_container():
    request = job(command=["python", "-m", "trainer.task"], args=["--epochs=10", "--lr=0.001"])
    assert isinstance(request, aiplatform_v1.CreateCustomJobRequest), (
        "custom_job_request should return an aiplatform_v1.CreateCustomJobRequest")
    assert request.parent == PARENT, "parent should be the projects/*/locations/* name given"
    assert request.custom_job.display_name == "fraud-train", "display_name belongs on the CustomJob"
    pool = only_pool(request)
    assert pool.machine_spec.machine_type == "n1-standard-8", "the pool should run on the machine_type given"
    assert pool.replica_count == 1, "replica_count defaults to 1"
    assert "container_spec" in pool and "python_package_spec" not in pool, (
        "without package_uris the pool runs a container_spec, not a python_package_spec")
    assert pool.container_spec.image_uri == IMAGE, "the container image should be image_uri"
    assert list(pool.container_spec.command) == ["python", "-m", "trainer.task"], "command should be kept as given"
    assert list(pool.container_spec.args) == ["--epochs=10", "--lr=0.001"], "args should be kept in order"


def test_gpu_and_replicas_reach_the_worker_pool():
    pool = only_pool(job(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2, replica_count=3))
    assert pool.machine_spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4, (
        "the accelerator should be set on the pool's machine_spec")
    assert pool.machine_spec.accelerator_count == 2, "accelerator_count should be set on the machine_spec"
    assert pool.replica_count == 3, "replica_count should be set on the worker pool"


def test_a_python_package_runs_on_the_prebuilt_executor_image():
    request = job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/dist/trainer-0.1.tar.gz"],
                  python_module="trainer.task", args=["--epochs=10"])
    pool = only_pool(request)
    assert "python_package_spec" in pool and "container_spec" not in pool, (
        "with package_uris the pool runs a python_package_spec, not a container_spec")
    package = pool.python_package_spec
    assert package.executor_image_uri == EXECUTOR, "image_uri is the executor image the package runs in"
    assert list(package.package_uris) == ["gs://my-bucket/dist/trainer-0.1.tar.gz"], "package_uris should be kept"
    assert package.python_module == "trainer.task", "python_module should be kept"
    assert list(package.args) == ["--epochs=10"], "args go to the python_package_spec"


def test_gpu_and_replicas_reach_a_python_package_pool():
    pool = only_pool(job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"],
                         python_module="trainer.task", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2,
                         replica_count=3))
    assert "python_package_spec" in pool, "with package_uris the pool runs a python_package_spec"
    assert pool.machine_spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4, (
        "a Python package pool runs on the machine and GPU asked for, like a container pool")
    assert pool.machine_spec.accelerator_count == 2, "accelerator_count should be set on the package pool's machine_spec"
    assert pool.replica_count == 3, "replica_count should be set on a Python package pool too"


@pytest.mark.parametrize("count", [0, -1, True, 2.0, 2**63, Decimal("2.5")],
                         ids=["0", "-1", "True", "2.0", "beyond-int64", "decimal-2.5"])
def test_a_python_package_job_checks_its_replica_count_too(count, value_error_naming):
    # replica_count belongs to the pool, whichever way it runs: a package job is no exception.
    with value_error_naming("replica_count"):
        job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"], python_module="trainer.task",
            replica_count=count)


@pytest.mark.parametrize("task", ["container", "python-package"])
def test_base_output_directory_becomes_the_job_gcs_destination(task):
    # The output directory belongs to the job, whichever way its pool runs: a package job keeps it too.
    package = {"image_uri": EXECUTOR, "package_uris": ["gs://my-bucket/trainer.tar.gz"], "python_module": "trainer.task"}
    spec = job(**(package if task == "python-package" else {}), args=["--epochs=10"],
               base_output_directory="gs://my-bucket/runs/7").custom_job.job_spec
    assert spec.base_output_directory.output_uri_prefix == "gs://my-bucket/runs/7", (
        f"in a {task} job, base_output_directory should become job_spec.base_output_directory.output_uri_prefix")
    pool = spec.worker_pool_specs[0]
    kept = pool.python_package_spec.args if task == "python-package" else pool.container_spec.args
    assert list(kept) == ["--epochs=10"], (
        "args should reach the pool exactly as given: the output directory is base_output_directory, "
        "not also a --model-dir flag smuggled into args")


@pytest.mark.parametrize("uri", ["s3://my-bucket/out", "gs:/my-bucket/out", "gs://My-Bucket/out"])
def test_a_python_package_job_checks_its_base_output_directory_too(uri, value_error_naming):
    # The output directory belongs to the job, whichever way its pool runs: a package job is no exception.
    with value_error_naming("base_output_directory"):
        job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"], python_module="trainer.task",
            base_output_directory=uri)


def test_no_base_output_directory_leaves_the_field_unset():
    spec = job().custom_job.job_spec
    assert "base_output_directory" not in spec, "base_output_directory should be unset when none is given"


def test_the_request_round_trips_through_rest_json():
    request = job(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1, args=["--epochs=3"],
                  base_output_directory="gs://my-bucket/out")
    text = aiplatform_v1.CreateCustomJobRequest.to_json(request, use_integers_for_enums=False)
    machine = json.loads(text)["customJob"]["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert machine["machineType"] == "n1-standard-8", "REST JSON should carry machineType"
    assert machine["acceleratorType"] == "NVIDIA_TESLA_T4", "REST JSON should carry the accelerator by name"
    assert aiplatform_v1.CreateCustomJobRequest.from_json(text) == request, (
        "from_json(to_json(request)) should give back the same request")


@pytest.mark.parametrize("parent", [
    "projects/my-project",
    "projects/my-project/locations/",
    "projects//locations/us-central1",
    "projects/my-project/locations/us-central1/",
    "/projects/my-project/locations/us-central1",
    "locations/us-central1/projects/my-project",
    "projects/my-project/regions/us-central1",
    "projects/My Project/locations/us-central1",
    "projects/MyProject/locations/us-central1",
    "projects/abcde/locations/us-central1",
    "projects/" + "a" * 31 + "/locations/us-central1",
    "projects/my-project-/locations/us-central1",
    "projects/1project/locations/us-central1",
    "projects/my_project/locations/us-central1",
    "projects/my-project/locations/us-central",
    "projects/my-project/locations/US-CENTRAL1",
    "projects/my-project/locations/us--central1",
    "projects/my-project/locations/us-central-1",
    "projects/my-project/locations/us-central1-a",
    "projects/my-project/locations/us2-central1",
    "projects/my-project/locations/us-central1-2",
    "projects/my-project/locations/us-central1\n",
    "projects/my-project/locations/us-central\u0661",
    "projects/\u0661\u0662\u0663/locations/us-central1",
    "projects/my-pr\u00f6ject/locations/us-central1",
    "projects/my-project/locations/z\u00fcrich-west1",
    "projects/my-project/locations/europe-w\u00e9st4",
    "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/us-central1",
])
def test_a_malformed_parent_is_rejected(parent, value_error_naming):
    with value_error_naming("parent"):
        job(parent=parent)


@pytest.mark.parametrize("parent", [
    "projects/123456789012/locations/europe-west4",
    "projects/abcdef/locations/us-central1",
    "projects/" + "a" * 30 + "/locations/asia-northeast1",
    "projects/my-2nd-project/locations/us-east1",
    "projects/1234/locations/us-central1",
    "projects/my-project/locations/europe-west10",
    "projects/my-project-42/locations/us-central1",
    "projects/1234567890123456/locations/us-central1",
    "projects/my-project/locations/europe-west-central1",
    "projects/my--project/locations/us-central1",
], ids=["project-number", "6-character-id", "30-character-id", "digits-and-hyphens", "short-project-number",
        "region-ending-in-two-digits", "id-ending-in-a-digit", "long-project-number", "region-of-three-words",
        "id-with-two-hyphens-in-a-row"])
def test_project_ids_and_numbers_are_valid_parents(parent):
    assert job(parent=parent).parent == parent, (
        f"{parent} is a valid parent: a project ID of 6 to 30 characters or a project number, then a region")


@pytest.mark.parametrize("name", ["", "x" * 129, " " + "x" * 128, "   ", "\t\n", "\u3000", "\u00a0\u00a0", None, 7,
                                  b"fraud-train"])
def test_a_display_name_must_be_1_to_128_characters(name, value_error_naming):
    with value_error_naming("display_name"):
        job(display_name=name)


@pytest.mark.parametrize("name", ["x", "x" * 128, "fraud train v2", " fraud-train ", "\u00e9" * 128, "\u6a21\u578b" * 64,
                                  "Fraud Train V2", "\u00c9T\u00c9-2024"])
def test_display_names_of_1_to_128_characters_are_accepted(name):
    assert job(display_name=name).custom_job.display_name == name, (
        f"a display name of {len(name)} characters is within 1 to 128 and should be kept as given")


@pytest.mark.parametrize("name", ["cafe\u0301", "\u212b", "\ufb01t-v2", "\uff26raud"],
                         ids=["decomposed-e-acute", "angstrom-sign", "fi-ligature", "fullwidth-f"])
def test_a_display_name_is_not_unicode_normalised(name):
    # NFC would compose e + U+0301 into one character and turn the Angstrom sign into a letter A with a ring;
    # NFKC would also split the ligature and narrow the fullwidth letter. "Kept exactly as given" means none of it.
    kept = job(display_name=name).custom_job.display_name
    assert kept == name, (
        f"the display name {name!r} should be kept exactly as given, not Unicode-normalised; got {kept!r}")


def test_a_display_name_of_more_than_128_decomposed_characters_is_rejected(value_error_naming):
    # "e" + U+0301 is two characters: 65 of them are 130, too many, though NFC would make them 65 letters.
    with value_error_naming("display_name"):
        job(display_name="e\u0301" * 65)


def test_a_display_name_of_128_decomposed_characters_is_accepted_as_given():
    # 64 times "e" + U+0301 is exactly 128 characters: within the limit, and kept without composing them.
    name = "e\u0301" * 64
    try:
        kept = job(display_name=name).custom_job.display_name
    except ValueError as exc:
        pytest.fail(f"64 times 'e' + U+0301 is exactly 128 characters, which is allowed; it was rejected: {exc}",
                    pytrace=False)
    assert kept == name, (
        f"a display name of 128 characters (64 times 'e' + U+0301) should be kept as given, got {kept!r}")


@pytest.mark.parametrize("uri", ["gs:/my-bucket/out", "gs://", "gs:///out", "s3://my-bucket/out",
                                 "/tmp/out", "GS://my-bucket/out", "gs://My-Bucket/out", "",
                                 "gs://ab/out", "gs://" + "b" * 64 + "/out", "gs://my-bucket-/out",
                                 "gs://-my-bucket/out", "gs://my.bucket./out", "gs://my-bucket\n",
                                 "gs://_my-bucket/out", "gs://my-bucket_/out", "gs://bucket\u0661/out",
                                 "gs://b\u00fccket/out", "gs://\u0661\u0662\u0663/out", "gs://.my-bucket/out"])
def test_a_base_output_directory_outside_cloud_storage_is_rejected(uri, value_error_naming):
    with value_error_naming("base_output_directory"):
        job(base_output_directory=uri)


@settings(max_examples=50)
@given(uri=st.text(max_size=30).filter(lambda s: not s.startswith("gs://")))
def test_anything_not_starting_with_gs_is_rejected(uri, value_error_naming):
    with value_error_naming("base_output_directory"):
        job(base_output_directory=uri)


@pytest.mark.parametrize("uri", ["gs://my-bucket", "gs://my-bucket/", "gs://ml_artifacts-2024/runs/7/model",
                                 "gs://abc/out", "gs://" + "b" * 63 + "/out", "gs://my.bucket.example/out",
                                 "gs://my-bucket/runs/date=2024-01-01/model+v2", "gs://my-bucket/runs/7 (retry)",
                                 "gs://2024-runs/out", "gs://123/out", "gs://my-bucket/Models/V2"])
def test_cloud_storage_uris_are_accepted(uri):
    spec = job(base_output_directory=uri).custom_job.job_spec
    assert spec.base_output_directory.output_uri_prefix == uri, f"{uri} is a valid gs:// URI"


@pytest.mark.parametrize("field", ["base_output_directory", "package_uris"])
def test_a_uri_with_an_empty_path_is_accepted_in_a_package_job_and_kept_as_given(field):
    # gs://BUCKET/ has an empty PATH, which is a path too: the trailing slash is kept, not stripped.
    uri = "gs://my-bucket/"
    package = dict(PACKAGE_JOB)
    if field == "package_uris":
        package["package_uris"] = [uri]
    else:
        package["base_output_directory"] = uri
    try:
        spec = job(**package).custom_job.job_spec
    except ValueError as exc:
        pytest.fail(f"{uri} is a gs:// URI with an empty path, which is accepted; {field} was rejected: {exc}",
                    pytrace=False)
    kept = (list(spec.worker_pool_specs[0].python_package_spec.package_uris) if field == "package_uris"
            else spec.base_output_directory.output_uri_prefix)
    expected = [uri] if field == "package_uris" else uri
    assert kept == expected, f"{field} should be kept as given ({expected!r}), got {kept!r}"


@pytest.mark.parametrize("uris", [["dist/trainer-0.1.tar.gz"], ["gs://my-bucket/trainer-0.1.tar.gz", "dist/utils-0.1.tar.gz"],
                                  ["gs:/my-bucket/trainer-0.1.tar.gz"], ["gs://My-Bucket/trainer-0.1.tar.gz"],
                                  ["gs://ab/trainer-0.1.tar.gz"], ["gs://bucket\u0661/trainer-0.1.tar.gz"],
                                  ["gs://" + "b" * 64 + "/trainer-0.1.tar.gz"],
                                  ["gs://my-bucket/trainer-0.1.tar.gz", ""], ["gs://.my-bucket/trainer-0.1.tar.gz"]],
                         ids=["only-package", "second-package", "single-slash", "uppercase-bucket", "2-character-bucket",
                              "non-ascii-digit-in-bucket", "64-character-bucket", "empty-second-package",
                              "bucket-starting-with-a-dot"])
def test_a_package_outside_cloud_storage_is_rejected(uris, value_error_naming):
    with value_error_naming("package_uris"):
        job(image_uri=EXECUTOR, package_uris=uris, python_module="trainer.task")


@pytest.mark.parametrize("count", [0, -1, 2.5, 2.0, True, "2", None, Decimal("2.5"), Decimal("2")],
                         ids=["0", "-1", "2.5", "2.0", "True", "str-2", "None", "decimal-2.5", "decimal-2"])
def test_replica_count_must_be_a_whole_number_of_at_least_one(count, value_error_naming):
    with value_error_naming("replica_count"):
        job(replica_count=count)


@pytest.mark.parametrize("count", [True, 2.0, Decimal("2")], ids=["True", "2.0", "decimal-2"])
def test_a_wrong_replica_count_is_rejected_even_right_after_an_equal_valid_one(count, value_error_naming):
    # True, 2.0 and Decimal("2") equal an int and hash like it: a check memoised on its arguments answers them
    # from the cache entry of the valid int instead of rejecting them. Every call is checked on its own.
    job(replica_count=int(count))
    with value_error_naming("replica_count"):
        job(replica_count=count)


def test_a_replica_count_too_large_for_the_api_is_rejected(value_error_naming):
    # replica_count is an int64 in the request: protobuf's own "Value out of range" names no field.
    with value_error_naming("replica_count"):
        job(replica_count=2**63)


def test_the_largest_int64_replica_count_is_accepted():
    # replica_count is an int64: every value up to 2**63 - 1 fits the field.
    assert only_pool(job(replica_count=2**63 - 1)).replica_count == 2**63 - 1, (
        "replica_count is an int64, so 2**63 - 1 fits the field and should be kept as given")


PACKAGE_JOB = {"image_uri": EXECUTOR, "package_uris": ["gs://my-bucket/trainer.tar.gz"], "python_module": "trainer.task"}


@pytest.mark.parametrize("task", ["container", "python-package"])
def test_args_given_as_one_string_are_rejected(task, value_error_naming):
    with value_error_naming("args"):
        job(**(PACKAGE_JOB if task == "python-package" else {}), args="--epochs=10 --lr=0.001")


def test_command_given_as_one_string_is_rejected(value_error_naming):
    with value_error_naming("command"):
        job(command="python -m trainer.task")


def test_package_uris_given_as_one_string_are_rejected(value_error_naming):
    with value_error_naming("package_uris"):
        job(image_uri=EXECUTOR, package_uris="gs://my-bucket/trainer.tar.gz", python_module="trainer.task")


@pytest.mark.parametrize(("field", "value"), [
    ("args", {"--epochs": "10", "--lr": "0.001"}),
    ("args", {"--epochs=10", "--lr=0.001"}),
    ("command", None),
    ("package_uris", {"gs://my-bucket/trainer.tar.gz": "trainer"}),
    ("args", {"epochs": "--epochs=10", "lr": "--lr=0.001"}.values()),
    ("args", None),
    ("args", ""),
    ("package_uris", None),
], ids=["args-as-a-dict", "args-as-a-set", "command-None", "package-uris-as-a-dict", "args-as-dict-values",
        "args-None", "args-empty-string", "package-uris-None"])
def test_a_list_field_given_as_something_other_than_a_sequence_is_rejected(field, value, value_error_naming):
    package = {"image_uri": EXECUTOR, "python_module": "trainer.task"} if field == "package_uris" else {}
    with value_error_naming(field):
        job(**package, **{field: value})


@pytest.mark.parametrize("task", ["container", "python-package"])
def test_list_fields_given_as_tuples_are_kept_in_order(task):
    # Any sequence is a list of strings: a tuple is read like a list, not refused.
    if task == "container":
        spec = only_pool(job(command=("python", "-m", "trainer.task"), args=("--epochs=10", "--lr=0.001"))).container_spec
        kept = {"command": list(spec.command), "args": list(spec.args)}
        expected = {"command": ["python", "-m", "trainer.task"], "args": ["--epochs=10", "--lr=0.001"]}
    else:
        spec = only_pool(job(image_uri=EXECUTOR, package_uris=("gs://my-bucket/trainer.tar.gz", "gs://my-bucket/utils.tar.gz"),
                             python_module="trainer.task", args=("--epochs=10",))).python_package_spec
        kept = {"package_uris": list(spec.package_uris), "args": list(spec.args)}
        expected = {"package_uris": ["gs://my-bucket/trainer.tar.gz", "gs://my-bucket/utils.tar.gz"],
                    "args": ["--epochs=10"]}
    assert kept == expected, "command, args and package_uris given as tuples should be kept in order, like lists"


@pytest.mark.parametrize("field", ["command", "args"])
def test_any_sequence_is_read_like_a_list(field):
    value = collections.UserList(["python", "-m", "trainer.task"])  # a sequence that is neither list nor tuple
    spec = only_pool(job(**{field: value})).container_spec
    assert list(getattr(spec, field)) == ["python", "-m", "trainer.task"], (
        f"{field} given as a collections.UserList (any sequence of strings) should be kept in order like a list, "
        f"got {list(getattr(spec, field))}")


@pytest.mark.parametrize("task", ["container", "python-package"])
def test_empty_strings_in_command_and_args_are_kept(task):
    # An empty item is a value too (an empty flag value, an empty argument): nothing is dropped as blank.
    if task == "container":
        spec = only_pool(job(command=["sh", "-c", "train \"$0\"", ""], args=["--suffix", ""])).container_spec
        kept = {"command": list(spec.command), "args": list(spec.args)}
        expected = {"command": ["sh", "-c", "train \"$0\"", ""], "args": ["--suffix", ""]}
    else:
        spec = only_pool(job(**PACKAGE_JOB, args=["", "--suffix", ""])).python_package_spec
        kept = {"args": list(spec.args)}
        expected = {"args": ["", "--suffix", ""]}
    assert kept == expected, (
        "command and args should reach the pool exactly as given, empty strings included: dropping a blank item "
        "shifts every later argument")


@pytest.mark.parametrize("task", ["container", "python-package"])
def test_list_items_keep_their_surrounding_spaces(task):
    # "Kept exactly as given": a space inside a flag value or around an argument is part of it, not noise to strip.
    command = ["sh", "-c", " train \"$0\" ", "run "]
    args = ["--name= my run ", " --verbose", "\t"]
    if task == "container":
        spec = only_pool(job(command=command, args=args)).container_spec
        kept = {"command": list(spec.command), "args": list(spec.args)}
        expected = {"command": command, "args": args}
    else:
        spec = only_pool(job(**PACKAGE_JOB, args=args)).python_package_spec
        kept = {"args": list(spec.args)}
        expected = {"args": args}
    assert kept == expected, (
        "command and args should reach the pool exactly as given: surrounding spaces and tabs are part of an item "
        "and must not be stripped")


def test_package_uris_may_name_any_object_path_and_keep_their_order():
    # Only the bucket has a character rule: a wheel, capitals in the path, and the order given all stay as they are.
    uris = ["gs://my-bucket/dist/utils-0.2-py3-none-any.whl", "gs://my-bucket/Dist/Trainer-0.1.tar.gz",
            "gs://ml_artifacts-2024/packages/data_tools-1.0.zip"]
    try:
        spec = only_pool(job(image_uri=EXECUTOR, package_uris=uris, python_module="trainer.task")).python_package_spec
    except ValueError as exc:
        pytest.fail(f"{uris} are gs:// URIs in valid buckets (PATH is any object path: a wheel, capitals, a zip); "
                    f"they were rejected: {exc}", pytrace=False)
    assert list(spec.package_uris) == uris, (
        "package_uris should be kept exactly as given, in the order given (not sorted, not de-duplicated)")


def test_a_repeated_package_uri_is_kept():
    # Every item is kept as given: a package named twice stays twice, in its places (not de-duplicated).
    uris = ["gs://my-bucket/a.tar.gz", "gs://my-bucket/b.tar.gz", "gs://my-bucket/a.tar.gz"]
    spec = only_pool(job(**{**PACKAGE_JOB, "package_uris": uris})).python_package_spec
    assert list(spec.package_uris) == uris, (
        f"package_uris should be kept exactly as given, a repeated URI included: expected {uris}, "
        f"got {list(spec.package_uris)}")


@pytest.mark.timeout(10)  # a correct check needs microseconds; a backtracking regex never finishes
@pytest.mark.parametrize("field", ["base_output_directory", "package_uris"])
def test_a_long_object_path_is_answered_at_once(field):
    # Many slashes, then a newline: a path pattern such as (/.*)* tries every way to split the slashes before
    # giving up. A newline inside PATH is outside the kata, so accepting or rejecting the URI are both fine.
    uri = "gs://my-bucket" + "/" * 40 + "\n"
    try:
        job(**{**PACKAGE_JOB, field: [uri] if field == "package_uris" else uri})
    except ValueError as exc:
        assert re.search(rf"(?<![A-Za-z0-9_]){field}(?![A-Za-z0-9_])", str(exc)), (
            f"a rejected {field} should be named in the ValueError, but it said: {exc}")


def test_list_fields_given_as_a_generator_are_rejected(value_error_naming):
    # A generator is iterable but not a sequence: it can be read only once and has no length.
    with value_error_naming("args"):
        job(args=(flag for flag in ["--epochs=10", "--lr=0.001"]))


@pytest.mark.parametrize(("field", "task"), [("command", "container"), ("args", "container"),
                                           ("package_uris", "python-package"), ("args", "python-package")],
                         ids=["command", "args", "package_uris", "args-of-a-python-package"])
def test_list_items_that_are_not_strings_are_rejected(field, task, value_error_naming):
    package = {"image_uri": EXECUTOR, "python_module": "trainer.task"} if task == "python-package" else {}
    if task == "python-package" and field != "package_uris":
        package["package_uris"] = ["gs://my-bucket/trainer.tar.gz"]
    value = ["gs://my-bucket/trainer.tar.gz", 7] if field == "package_uris" else ["--epochs", 10]
    with value_error_naming(field):
        job(**package, **{field: value})


@pytest.mark.parametrize("command", [["python", "train.py"], [""], ("",)],
                         ids=["a-command", "one-empty-item", "one-empty-item-in-a-tuple"])
def test_a_python_package_takes_no_command(command, value_error_naming):
    # [""] is a command of one (empty) item, not an empty list: it is rejected, not dropped as blank.
    with value_error_naming("command"):
        job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"], python_module="trainer.task",
            command=command)


def test_an_empty_command_is_no_command_for_a_python_package():
    try:
        pool = only_pool(job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"],
                             python_module="trainer.task", command=[]))
    except ValueError as exc:
        pytest.fail(f"command=[] is no command, which a Python package job allows; it was rejected: {exc}",
                    pytrace=False)
    assert "python_package_spec" in pool, "with package_uris and python_module the pool runs a python_package_spec"


def test_empty_package_uris_mean_a_container_job():
    try:
        pool = only_pool(job(package_uris=[], args=["--epochs=10"]))
    except ValueError as exc:
        pytest.fail(f"package_uris=[] is no packages, so without python_module this is a container job; "
                    f"it was rejected: {exc}", pytrace=False)
    assert "container_spec" in pool and "python_package_spec" not in pool, (
        "package_uris=[] and no python_module should give a container_spec, as if package_uris were left out")
    assert pool.container_spec.image_uri == IMAGE, "the container image should be image_uri"


def test_a_python_package_needs_its_module(value_error_naming):
    with value_error_naming("python_module"):
        job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"])


def test_a_module_needs_a_package(value_error_naming):
    with value_error_naming("package_uris"):
        job(image_uri=EXECUTOR, python_module="trainer.task")


@pytest.mark.parametrize("module", ["trainer/task.py", "trainer..task", "my-trainer.task", "trainer.", ".task",
                                    "trainer task", "trainer.task\n", "1trainer.task", "trainer.2task"])
def test_python_module_must_be_a_dotted_module_name(module, value_error_naming):
    with value_error_naming("python_module"):
        job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"], python_module=module)


@pytest.mark.parametrize("module", ["my_trainer.task", "trainer2.task_v2", "_trainer.task", "trainer._task"])
def test_module_names_may_hold_underscores_and_digits(module):
    package = only_pool(job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"],
                            python_module=module)).python_package_spec
    assert package.python_module == module, f"{module} is a dotted Python module name and should be accepted"


@pytest.mark.parametrize("module", ["task", "Trainer.Task"])
def test_a_top_level_or_capitalised_module_is_accepted(module):
    package = only_pool(job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"],
                            python_module=module)).python_package_spec
    assert package.python_module == module, (
        f"{module} is a Python module name (python -m {module} runs it) and should be accepted")


@pytest.mark.timeout(10)  # a correct check needs microseconds; a backtracking regex never finishes
@pytest.mark.parametrize(("field", "value"), [
    ("parent", "projects/my-project/locations/" + "northamerica" * 5),
    ("python_module", "fraud_detection_trainer_for_the_payments_team/task.py"),
    ("parent", "projects/" + "a" * 29 + "-/locations/us-central1"),
    ("base_output_directory", "gs://" + "a" * 61 + "-/out"),
    ("package_uris", ["gs://" + "a" * 61 + "-/trainer.tar.gz"]),
], ids=["location-of-60-letters-without-digits", "module-as-a-long-file-path",
        "30-character-project-id-ending-in-a-hyphen", "62-character-bucket-ending-in-a-hyphen",
        "package-in-a-62-character-bucket-ending-in-a-hyphen"])
def test_a_long_malformed_value_is_rejected_at_once(field, value, value_error_naming):
    package = {"image_uri": EXECUTOR, "package_uris": ["gs://my-bucket/trainer.tar.gz"], "python_module": "trainer.task"}
    with value_error_naming(field):
        job(**{**package, field: value})


def test_an_empty_python_module_is_rejected(value_error_naming):
    with value_error_naming("python_module"):
        job(image_uri=EXECUTOR, package_uris=["gs://my-bucket/trainer.tar.gz"], python_module="")


def test_an_empty_python_module_does_not_mean_no_module():
    # None means "no module"; "" is a module name left blank, so the job must not quietly run a container.
    try:
        job(python_module="")
    except ValueError as exc:
        named = re.search(r"(?<![A-Za-z0-9_])(python_module|package_uris)(?![A-Za-z0-9_])", str(exc))
        assert named, f"the ValueError should name python_module (or the missing package_uris), but it said: {exc}"
    else:
        pytest.fail("python_module='' is not a module name: it should be a ValueError, not a container job",
                    pytrace=False)


@pytest.mark.parametrize(("field", "value"), [
    ("image_uri", 7),
    ("python_module", 7),
    ("base_output_directory", 7),
    ("parent", None),
    ("parent", 7),
], ids=["image-uri-int", "python-module-int", "base-output-directory-int", "parent-None", "parent-int"])
def test_a_value_of_the_wrong_type_is_a_value_error_naming_its_field(field, value, value_error_naming):
    package = {"package_uris": ["gs://my-bucket/trainer.tar.gz"]} if field == "python_module" else {}
    with value_error_naming(field):
        job(**package, **{field: value})


@pytest.mark.parametrize("task", ["container", "python-package"])
def test_an_image_is_required(task, value_error_naming):
    package = {"package_uris": ["gs://my-bucket/trainer.tar.gz"], "python_module": "trainer.task"}
    with value_error_naming("image_uri"):
        job(**(package if task == "python-package" else {}), image_uri="")


def test_a_gpu_the_machine_cannot_take_is_rejected(value_error_naming):
    with value_error_naming("accelerator_type"):
        job(machine_type="e2-standard-4", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1)


@pytest.mark.parametrize("machine", ["n1-turbo-8", "e2-standard-4 ", "N1-STANDARD-8"])
def test_an_unknown_machine_type_without_a_gpu_is_rejected(machine, value_error_naming):
    # machine_spec's allowlist holds for a CPU-only pool too: no accelerator is no reason to skip it.
    with value_error_naming("machine_type"):
        job(machine_type=machine)


@pytest.mark.parametrize("task", ["container", "python-package"])
def test_each_call_returns_a_new_request(task):
    # Tuples, not lists: the call is all hashable values, exactly what a memoising cache can key on.
    package = {**PACKAGE_JOB, "package_uris": ("gs://my-bucket/trainer.tar.gz",)} if task == "python-package" else {}
    first = job(**package)
    first.custom_job.display_name = "edited-by-the-caller"
    first.custom_job.job_spec.worker_pool_specs[0].replica_count = 99
    second = job(**package)
    assert (second.custom_job.display_name, only_pool(second).replica_count) == ("fraud-train", 1), (
        "every call should build a new request: editing one returned request must not change what a later "
        "call returns (a cache of built requests shares one mutable object between callers)")


def test_an_accelerator_with_a_count_of_zero_is_rejected(value_error_naming):
    with value_error_naming("accelerator_count"):
        job(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=0)


def test_custom_job_request_takes_keyword_arguments_only():
    assert only_pool(job()).machine_spec.machine_type == "n1-standard-8", "the keyword call should build a request"
    with pytest.raises(TypeError):
        custom_job_request(PARENT, "fraud-train", "n1-standard-8", IMAGE)
        pytest.fail("custom_job_request takes keyword arguments only: positional ones should be a TypeError",
                    pytrace=False)
