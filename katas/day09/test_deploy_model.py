"""Task 3: a DeployModelRequest with dedicated machines and a traffic split that adds up."""

import json
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

aiplatform_v1 = pytest.importorskip(
    "google.cloud.aiplatform_v1",
    reason="day 09 needs the Vertex AI client library: pip install -e '.[vertex]'",
)

from vertex_config import deploy_model_request  # noqa: E402

pytestmark = pytest.mark.task(taskno=3)

ENDPOINT = "projects/my-project/locations/us-central1/endpoints/1234567890"
MODEL = "projects/my-project/locations/us-central1/models/987654321"


def deploy(**overrides):
    kwargs = {"endpoint": ENDPOINT, "model": MODEL, "display_name": "fraud-v2", "machine_type": "n1-standard-4",
              "min_replica_count": 1, "max_replica_count": 3, "traffic_split": {"0": 100}}
    kwargs.update(overrides)
    return deploy_model_request(**kwargs)


def test_builds_a_deploy_model_request():
    request = deploy()
    assert isinstance(request, aiplatform_v1.DeployModelRequest), (
        "deploy_model_request should return an aiplatform_v1.DeployModelRequest")
    assert request.endpoint == ENDPOINT, "endpoint should be the endpoint's resource name"
    deployed = request.deployed_model
    assert deployed.model == MODEL, "deployed_model.model should be the model's resource name"
    assert deployed.display_name == "fraud-v2", "display_name belongs on the DeployedModel"
    resources = deployed.dedicated_resources
    assert resources.machine_spec.machine_type == "n1-standard-4", "the machine goes in dedicated_resources"
    assert resources.min_replica_count == 1, "min_replica_count goes in dedicated_resources"
    assert resources.max_replica_count == 3, "max_replica_count goes in dedicated_resources"
    assert dict(request.traffic_split) == {"0": 100}, "traffic_split should be carried over"


def test_a_gpu_serving_machine_reaches_dedicated_resources():
    spec = deploy(machine_type="g2-standard-8", accelerator_type="NVIDIA_L4",
                  accelerator_count=1).deployed_model.dedicated_resources.machine_spec
    assert spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_L4, "the L4 should be on the machine_spec"
    assert spec.accelerator_count == 1, "accelerator_count should be on the machine_spec"


@pytest.mark.parametrize("split", [
    {"0": 10, "1111": 90},
    {"1111": 100},
    {"0": 0, "1111": 60, "2222": 40},
    {"0": 50, "1234567890": 50},
    {"0": 50, "0042": 50},
])
def test_canary_and_zero_traffic_splits_are_accepted(split):
    given = dict(split)
    assert dict(deploy(traffic_split=split).traffic_split) == given, (
        "a split of whole percentages adding up to 100 should be carried over exactly as given (no \"0\": 0 added "
        "for a new model that has no key)")
    assert split == given, "the caller's traffic_split must not be changed"


def test_only_the_location_of_the_model_must_match_the_endpoint():
    model = "projects/123456789012/locations/us-central1/models/987654321"
    assert deploy(model=model).deployed_model.model == model, (
        "the model is in the endpoint's location (us-central1); the same project written as its number "
        "instead of its ID is not a mismatch")


def test_any_mapping_is_accepted_as_a_traffic_split():
    split = MappingProxyType({"0": 10, "1111": 90})
    assert dict(deploy(traffic_split=split).traffic_split) == {"0": 10, "1111": 90}, (
        "traffic_split is a Mapping: a read-only mapping that adds up to 100 should be accepted like a dict")


def test_the_display_name_is_kept_exactly_as_given():
    name = " Fraud V2 "
    assert deploy(display_name=name).deployed_model.display_name == name, (
        "a valid display name, surrounding spaces and capitals included, should reach the DeployedModel unchanged")


@pytest.mark.parametrize("name", ["x", "x" * 128, "\u00e9" * 128, "\u6a21\u578b" * 64],
                         ids=["1-character", "128-characters", "128-accented-characters", "128-cjk-characters"])
def test_a_display_name_of_1_to_128_characters_is_accepted(name):
    # The limit counts characters, not UTF-8 bytes: 128 accented letters are 256 bytes and still fit.
    assert deploy(display_name=name).deployed_model.display_name == name, (
        f"a display name of {len(name)} characters is within 1 to 128 and should reach the DeployedModel as given")


@pytest.mark.parametrize("name", ["cafe\u0301", "\u212b", "\ufb01t-v2", "\uff26raud"],
                         ids=["decomposed-e-acute", "angstrom-sign", "fi-ligature", "fullwidth-f"])
def test_a_display_name_is_not_unicode_normalised(name):
    # The rule is task 2's: NFC or NFKC would rewrite each of these names, and a valid name is kept as given.
    kept = deploy(display_name=name).deployed_model.display_name
    assert kept == name, (
        f"the display name {name!r} should reach the DeployedModel exactly as given, not Unicode-normalised; "
        f"got {kept!r}")


def test_a_deployed_display_name_of_more_than_128_decomposed_characters_is_rejected(value_error_naming):
    # The rule is task 2's: "e" + U+0301 is two characters, so 65 of them are 130, though NFC would make 65.
    with value_error_naming("display_name"):
        deploy(display_name="e\u0301" * 65)


def test_a_deployed_display_name_of_128_decomposed_characters_is_accepted_as_given():
    # 64 times "e" + U+0301 is exactly 128 characters: within the limit, and kept without composing them.
    name = "e\u0301" * 64
    try:
        kept = deploy(display_name=name).deployed_model.display_name
    except ValueError as exc:
        pytest.fail(f"64 times 'e' + U+0301 is exactly 128 characters, which is allowed; it was rejected: {exc}",
                    pytrace=False)
    assert kept == name, (
        f"a display name of 128 characters (64 times 'e' + U+0301) should reach the DeployedModel as given, "
        f"got {kept!r}")


@pytest.mark.parametrize("name", [7, b"fraud-v2", ["fraud-v2"]], ids=["int", "bytes", "list"])
def test_a_display_name_that_is_not_a_string_is_a_value_error(name, value_error_naming):
    with value_error_naming("display_name"):
        deploy(display_name=name)


@pytest.mark.parametrize(("endpoint_project", "model_project"), [
    ("123456789012", "my-project"),
    ("123456789012", "123456789012"),
    ("my-project", "123456789012"),
], ids=["endpoint-by-number", "both-by-number", "model-by-number"])
def test_the_project_may_be_given_by_number_in_either_name(endpoint_project, model_project):
    # The API itself returns resource names with the project number, so both forms must be accepted.
    endpoint = f"projects/{endpoint_project}/locations/us-central1/endpoints/1234567890"
    model = f"projects/{model_project}/locations/us-central1/models/987654321"
    request = deploy(endpoint=endpoint, model=model)
    assert (request.endpoint, request.deployed_model.model) == (endpoint, model), (
        "PROJECT is a project ID or a project number in the endpoint and the model alike")


def test_a_fixed_size_deployment_has_min_equal_to_max():
    resources = deploy(min_replica_count=2, max_replica_count=2).deployed_model.dedicated_resources
    assert (resources.min_replica_count, resources.max_replica_count) == (2, 2), "min == max is a fixed size"


@pytest.mark.parametrize(("endpoint_id", "model_id"), [
    ("fraud-endpoint", "fraud_model"),
    ("7", "f"),
    ("fraud-", "fraud_"),
    ("e" * 63, "m" * 63),
    ("fraud_endpoint", "fraud-model"),
    ("007", "0042"),
], ids=["words", "one-character", "ending-in-hyphen-or-underscore", "63-characters", "underscore-in-endpoint",
        "leading-zeros"])
def test_endpoint_and_model_ids_need_not_be_numbers(endpoint_id, model_id):
    endpoint = f"projects/my-project/locations/us-central1/endpoints/{endpoint_id}"
    model = f"projects/my-project/locations/us-central1/models/{model_id}"
    request = deploy(endpoint=endpoint, model=model)
    assert (request.endpoint, request.deployed_model.model) == (endpoint, model), (
        "an endpoint or model ID is 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter "
        "or digit; it need not be a number")


def test_the_location_may_end_in_more_than_one_digit():
    endpoint = "projects/my-project/locations/europe-west12/endpoints/1234567890"
    model = "projects/my-project/locations/europe-west12/models/987654321"
    request = deploy(endpoint=endpoint, model=model)
    assert (request.endpoint, request.deployed_model.model) == (endpoint, model), (
        "europe-west12 is a region (words joined by hyphens, ending in digits) and both names are in it")


@pytest.mark.parametrize("version", ["2", "prod-2", "a" * 63, "prod_2", "007"])
def test_a_model_version_may_be_deployed(version):
    model = f"{MODEL}@{version}"
    assert deploy(model=model).deployed_model.model == model, "models/ID@VERSION names one model version"


def test_the_request_round_trips_through_rest_json():
    request = deploy(traffic_split={"0": 25, "1111": 75})
    text = aiplatform_v1.DeployModelRequest.to_json(request, use_integers_for_enums=False)
    body = json.loads(text)
    assert body["trafficSplit"] == {"0": 25, "1111": 75}, "REST JSON should carry trafficSplit"
    assert body["deployedModel"]["dedicatedResources"]["maxReplicaCount"] == 3, (
        "REST JSON should carry dedicatedResources.maxReplicaCount")
    assert aiplatform_v1.DeployModelRequest.from_json(text) == request, (
        "from_json(to_json(request)) should give back the same request")


@pytest.mark.parametrize("endpoint", [
    MODEL,
    "projects/my-project/locations/us-central1",
    "projects/my-project/locations/us-central1/endpoints/",
    "1234567890",
    ENDPOINT + "/deployedModels/1",
    ENDPOINT + "\n",
    "projects/my-project/locations/us-central/endpoints/1234567890",
    "projects/abc/locations/us-central1/endpoints/1234567890",
    "projects/my-project/locations/us-central1/endpoints/Fraud",
    "projects/my-project/locations/us-central1/endpoints/-fraud",
    "projects/my-project/locations/us-central1/endpoints/_fraud",
    "projects/my-project/locations/us-central1-a/endpoints/1234567890",
    "projects/my-project/locations/us-central-1/endpoints/1234567890",
    "projects/my-project/locations/us-central1/endpoints/" + "1" * 64,
    "projects/my-project/locations/us-central1/endpoints/\u0661\u0662\u0663",
    ENDPOINT + "@2",
    "projects/my_project/locations/us-central1/endpoints/1234567890",
    "projects/my-project/locations/us-central\u0661/endpoints/1234567890",
    "projects/my-project/locations/us-central1/endpoints/fraud-Endpoint",
    "projects/my-project/locations/us-central1/endpoints/fraud\u00e9",
    "projects/my-project/locations/us-central1/endpoints/fraud.v2",
])
def test_a_malformed_endpoint_is_rejected(endpoint, value_error_naming):
    with value_error_naming("endpoint"):
        deploy(endpoint=endpoint)


@pytest.mark.parametrize("model", [
    ENDPOINT,
    "987654321",
    "gs://my-bucket/models/fraud",
    "projects/my-project/locations/us-central1/models/",
    MODEL + "@",
    MODEL + "@V2",
    MODEL + "@1@2",
    MODEL + "@2/3",
    MODEL + "\n",
    "projects/my-project/locations/us-central1/models/Fraud",
    "projects/my-project/locations/us-central1/models/_fraud",
    "projects/my-project/locations/us-central1/models/\u0661\u0662\u0663",
    MODEL + "@\u0661",
    MODEL + "@-2",
    MODEL + "@_2",
    MODEL + "@" + "a" * 64,
    "projects/my-project/locations/us-central1/models/fraud_Model",
    "projects/my-project/locations/us-central1/models/fraud\u00e9",
    MODEL + "@prod-V2",
    "projects/my-project/locations/us-central1/models/" + "m" * 64,
    "projects/my-project/locations/us-central1/models/-fraud",
    "projects/my_project/locations/us-central1/models/987654321",
    "projects/abc/locations/us-central1/models/987654321",
    "projects/My-Project/locations/us-central1/models/987654321",
    "projects//locations/us-central1/models/987654321",
    "projects/my-project/locations/us-central-1/models/987654321",
    "projects/my-project/locations/us-central1/models/fraud.v2",
    MODEL + "@prod.2",
])
def test_a_malformed_model_is_rejected(model, value_error_naming):
    with value_error_naming("model"):
        deploy(model=model)


@pytest.mark.timeout(3)  # a correct check needs microseconds; a backtracking regex takes seconds to forever
@pytest.mark.parametrize("field", ["endpoint", "model"])
@pytest.mark.parametrize(("project", "location"), [
    ("my-project", "northamerica" * 5),
    ("a" * 29 + "-", "us-central1"),
], ids=["60-letter-location-without-digits", "30-character-project-id-ending-in-a-hyphen"])
def test_a_resource_name_with_a_long_malformed_part_is_rejected_at_once(field, project, location, value_error_naming):
    # The endpoint and the model are checked as quickly as the parent, their project included.
    names = {"endpoint": f"projects/{project}/locations/{location}/endpoints/1234567890",
             "model": f"projects/{project}/locations/{location}/models/987654321"}
    with value_error_naming(field):
        deploy(**{field: names[field]})


@pytest.mark.timeout(10)  # a correct check needs microseconds; a backtracking regex never finishes
@pytest.mark.parametrize(("field", "name"), [
    ("endpoint", "projects/my-project/locations/us-central1/endpoints/" + "a" * 59 + "A"),
    ("model", "projects/my-project/locations/us-central1/models/" + "a" * 59 + "A"),
    ("model", MODEL + "@" + "a" * 59 + "A"),
], ids=["endpoint-id", "model-id", "model-version"])
def test_a_long_malformed_id_is_rejected_at_once(field, name, value_error_naming):
    # 60 characters, within the 63 an ID may have, ending in a capital letter: a nested quantifier
    # such as ([a-z0-9]+[_-]?)* tries every way of splitting the letters before it gives up.
    with value_error_naming(field):
        deploy(**{field: name})


@pytest.mark.timeout(3)  # a correct check needs microseconds; a backtracking regex takes seconds to forever
def test_a_long_malformed_traffic_split_key_is_rejected_at_once(value_error_naming):
    # 40 digits and a letter: a nested quantifier such as (\d+)*$ tries every way of splitting the digits.
    with value_error_naming("traffic_split"):
        deploy(traffic_split={"1" * 40 + "x": 100})


@pytest.mark.parametrize(("field", "value"), [("endpoint", None), ("endpoint", 7), ("model", None), ("model", 7)],
                         ids=["endpoint-None", "endpoint-int", "model-None", "model-int"])
def test_a_resource_name_that_is_not_a_string_is_a_value_error(field, value, value_error_naming):
    with value_error_naming(field):
        deploy(**{field: value})


@pytest.mark.parametrize(("endpoint_location", "model_location"), [
    ("us-central1", "europe-west4"),
    ("us-central1", "us-central12"),
    ("us-central12", "us-central1"),
])
def test_a_model_in_another_location_is_rejected(endpoint_location, model_location, value_error_naming):
    with value_error_naming("model"):
        deploy(endpoint=f"projects/my-project/locations/{endpoint_location}/endpoints/1234567890",
               model=f"projects/my-project/locations/{model_location}/models/987654321")


@pytest.mark.parametrize("count", [0, -1, 1.5, 1.0, True, "2", None, Decimal("2")],
                         ids=["0", "-1", "1.5", "1.0", "True", "str-2", "None", "decimal-2"])
def test_min_replica_count_must_be_a_whole_number_of_at_least_one(count, value_error_naming):
    with value_error_naming("min_replica_count"):
        deploy(min_replica_count=count, max_replica_count=3)


@pytest.mark.parametrize("field", ["min_replica_count", "max_replica_count"])
@pytest.mark.parametrize("count", [True, 1.0, Decimal("1")], ids=["True", "1.0", "decimal-1"])
def test_a_wrong_replica_bound_is_rejected_even_right_after_an_equal_valid_one(field, count, value_error_naming):
    # True, 1.0 and Decimal("1") equal 1 and hash like it: a check memoised on its arguments answers them from
    # the cache entry of the valid 1 instead of rejecting them. Every call is checked on its own.
    deploy(min_replica_count=1, max_replica_count=1)
    with value_error_naming(field):
        deploy(**{"min_replica_count": 1, "max_replica_count": 1, field: count})


@pytest.mark.parametrize("count", [0, 3.0, 2.5, "3", True, None, Decimal("3")],
                         ids=["0", "3.0", "2.5", "str-3", "True", "None", "decimal-3"])
def test_max_replica_count_must_be_a_whole_number(count, value_error_naming):
    with value_error_naming("max_replica_count"):
        deploy(min_replica_count=1, max_replica_count=count)


@pytest.mark.parametrize(("field", "low", "high"), [
    ("min_replica_count", 2**31, 2**31),
    ("max_replica_count", 1, 2**31),
])
def test_replica_counts_too_large_for_the_api_are_rejected(field, low, high, value_error_naming):
    # Both counts are int32 in the request: protobuf's own "Value out of range" names no field.
    with value_error_naming(field):
        deploy(min_replica_count=low, max_replica_count=high)


def test_the_largest_int32_replica_counts_are_accepted():
    # min_replica_count and max_replica_count are int32s: every value up to 2**31 - 1 fits the field.
    resources = deploy(min_replica_count=2**31 - 1, max_replica_count=2**31 - 1).deployed_model.dedicated_resources
    assert (resources.min_replica_count, resources.max_replica_count) == (2**31 - 1, 2**31 - 1), (
        "both replica counts are int32s, so 2**31 - 1 fits the fields and should be kept as given")


def test_max_replica_count_below_min_is_rejected(value_error_naming):
    with value_error_naming("max_replica_count"):
        deploy(min_replica_count=3, max_replica_count=2)


def test_a_gpu_the_serving_machine_cannot_take_is_rejected(value_error_naming):
    with value_error_naming("accelerator_type"):
        deploy(machine_type="e2-standard-4", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1)


@pytest.mark.parametrize("machine", ["n1-turbo-4", "e2-standard-4 ", "N1-STANDARD-4"])
def test_an_unknown_serving_machine_without_a_gpu_is_rejected(machine, value_error_naming):
    # machine_spec's allowlist holds for CPU serving too: no accelerator is no reason to skip it.
    with value_error_naming("machine_type"):
        deploy(machine_type=machine)


def test_each_call_returns_a_new_request():
    first = deploy()
    first.deployed_model.display_name = "edited-by-the-caller"
    first.deployed_model.dedicated_resources.max_replica_count = 99
    second = deploy()
    resources = second.deployed_model.dedicated_resources
    assert (second.deployed_model.display_name, resources.max_replica_count) == ("fraud-v2", 3), (
        "every call should build a new request: editing one returned request must not change what a later "
        "call returns (a cache of built requests shares one mutable object between callers)")


def test_a_gpu_count_without_a_gpu_is_rejected(value_error_naming):
    # machine_spec's rule holds for serving machines too: a count is not dropped because no GPU was named.
    with value_error_naming("accelerator_count"):
        deploy(machine_type="n1-standard-4", accelerator_count=2)


@pytest.mark.parametrize("name", ["", "  ", "\u3000", "x" * 129, "x" * 128 + " ", "\u00e9" * 129, None])
def test_a_display_name_outside_1_to_128_characters_is_rejected(name, value_error_naming):
    with value_error_naming("display_name"):
        deploy(display_name=name)


@pytest.mark.parametrize("split", [
    {},
    {"0": 90, "1111": 5},
    {"0": 110, "1111": -10},
    {"0": 60, "1111": 50, "2222": -10},
    {"0": 51, "1111": 50, "2222": -1},
    {"0": 50.5, "1111": 49.5},
    {0: 100},
    {"fraud-v1": 100},
    {"": 100},
    {"12345678901": 100},
    {"00000000042": 100},
    {"0": True, "1111": 99},
    {"0": False, "1111": 100},
    {"0": 100.0},
    {"0": "100"},
    {"0": Decimal("100")},
    {"0": Decimal("50"), "1111": 50},
    {"1111\n": 100},
    {" 1111": 100},
    {"\u0661\u0662\u0663\u0664": 100},
    [("0", 100)],
], ids=["empty", "adds-to-95", "negative", "negative-with-every-share-below-100", "minus-one-share", "fractions", "int-key", "name-key", "empty-key", "11-digit-id", "11-digit-key-with-leading-zeros",
        "bool-share", "false-share", "whole-float", "string-share", "decimal-share", "decimal-share-beside-an-int", "key-with-newline", "key-with-space", "non-ascii-digits", "a-list"])
def test_a_bad_traffic_split_is_rejected(split, value_error_naming):
    with value_error_naming("traffic_split"):
        deploy(traffic_split=split)


PERCENT_LISTS = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5)


def as_split(percents):
    """The first share goes to the model being deployed ("0"), the rest to deployed IDs."""
    return {("0" if i == 0 else str(1000 + i)): p for i, p in enumerate(percents)}


@settings(max_examples=60)
@given(percents=PERCENT_LISTS.filter(lambda ps: sum(ps) != 100))
def test_a_split_not_adding_up_to_100_is_rejected(percents, value_error_naming):
    with value_error_naming("traffic_split"):
        deploy(traffic_split=as_split(percents))


@st.composite
def percents_adding_to_100(draw):
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=100), max_size=4)))
    bounds = [0, *cuts, 100]
    return [high - low for low, high in zip(bounds, bounds[1:])]


@settings(max_examples=60)
@given(percents_adding_to_100())
def test_a_split_adding_up_to_100_is_accepted(percents):
    split = as_split(percents)
    assert dict(deploy(traffic_split=split).traffic_split) == split, (
        f"{split} adds up to 100 and should be accepted as given")


def test_deploy_model_request_takes_keyword_arguments_only():
    assert deploy().endpoint == ENDPOINT, "the keyword call should build a request"
    with pytest.raises(TypeError):
        deploy_model_request(ENDPOINT, MODEL, "fraud-v2", "n1-standard-4", 1, 3, {"0": 100})
        pytest.fail("deploy_model_request takes keyword arguments only: positional ones should be a TypeError",
                    pytrace=False)
