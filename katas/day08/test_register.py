"""Task 2: register a run's model as a new version and point `challenger` at it."""

import warnings

import pytest

from registry import register_challenger

pytestmark = [pytest.mark.task(taskno=2), pytest.mark.mlflow, pytest.mark.timeout(240)]


def _client(uri):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_first_registration_creates_version_1_with_the_challenger_alias(registry, mlflow_name):
    version = register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    assert version == "1", f"the first version of a new registered model is '1' (a string), not {version!r}"
    found = _client(registry.tracking_uri).get_model_version_by_alias(mlflow_name, "challenger")
    assert str(found.version) == "1", f"the alias 'challenger' should point at version 1, not {found.version}"
    assert found.run_id == registry.run_ids["good"], "the registered version should come from the run you were given"


@pytest.mark.parametrize("again", ["best", "weak"], ids=["another-run", "the-same-run-again"])
def test_the_next_registration_moves_challenger_and_keeps_the_old_version(registry, mlflow_name, again):
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    version = register_challenger(registry.tracking_uri, registry.run_ids[again], mlflow_name)
    client = _client(registry.tracking_uri)
    assert version == "2", (
        f"the second registration (of the {again} run, after the weak one) should create version '2', not "
        f"{version!r}: every call registers a new version, even of the run whose model is the newest version")
    newest = client.get_model_version_by_alias(mlflow_name, "challenger")
    assert (str(newest.version), newest.run_id) == ("2", registry.run_ids[again]), (
        f"'challenger' should move to the new version 2 (from the {again} run), not version {newest.version}")
    first = client.get_model_version(mlflow_name, "1")
    assert first.run_id == registry.run_ids["weak"], "version 1 should still exist, unchanged"
    assert "challenger" not in first.aliases, "an alias points at one version only; version 1 should have lost it"


def test_the_version_is_the_number_the_registry_gave_it_not_a_count(registry, mlflow_name):
    client = _client(registry.tracking_uri)
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    client.delete_model_version(mlflow_name, "1")  # a team cleaning up: numbers are not reused
    version = register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    found = client.get_model_version_by_alias(mlflow_name, "challenger")
    assert (version, str(found.version), found.run_id) == ("3", "3", registry.run_ids["best"]), (
        "after version 1 was deleted, the next registration is version 3 (two versions remain, but numbers are "
        f"not reused): register_challenger should return '3' and point 'challenger' at it, not {version!r} with "
        f"'challenger' on version {found.version} (run {found.run_id}); use the number the registry gave the new "
        "version, not a count of versions")


def test_registering_leaves_the_champion_where_it_is(registry, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    client = _client(registry.tracking_uri)
    client.set_registered_model_alias(mlflow_name, "champion", "1")
    register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    assert str(client.get_model_version_by_alias(mlflow_name, "champion").version) == "1", (
        "registering a challenger must not touch the champion: production changes only on promotion")


def test_uses_aliases_not_the_deprecated_stages(registry, mlflow_name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    deprecated = [str(w.message) for w in caught if issubclass(w.category, FutureWarning) and "deprecated" in str(w.message)]
    assert not deprecated, f"registry stages are deprecated since MLflow 2.9; use aliases: {deprecated}"
    stage = _client(registry.tracking_uri).get_model_version(mlflow_name, "1").current_stage
    assert stage == "None", f"leave stages alone (use aliases); version 1 is in stage {stage!r}"


def test_a_run_without_a_model_is_a_lookup_error(registry, mlflow_name):
    with pytest.raises(LookupError):
        register_challenger(registry.tracking_uri, registry.run_ids["no_model"], mlflow_name)
    left = [m.name for m in _client(registry.tracking_uri).search_registered_models(filter_string=f"name = '{mlflow_name}'")]
    assert not left, (f"a run without a model should register nothing, but the registered model {mlflow_name!r} "
                      "was created anyway: look for the run's model before you create anything")


def test_a_run_without_a_model_leaves_an_existing_model_as_it_was(registry, mlflow_name):
    client = _client(registry.tracking_uri)
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    client.set_registered_model_alias(mlflow_name, "champion", "1")
    register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    with pytest.raises(LookupError):
        register_challenger(registry.tracking_uri, registry.run_ids["no_model"], mlflow_name)
    versions = sorted((str(v.version) for v in client.search_model_versions(f"name = '{mlflow_name}'")), key=int)
    aliases = {alias: str(v) for alias, v in client.get_registered_model(mlflow_name).aliases.items()}
    assert (versions, aliases) == (["1", "2"], {"champion": "1", "challenger": "2"}), (
        f"offering a run without a model to {mlflow_name!r} should change nothing: versions 1 and 2 with "
        f"'champion' on 1 and 'challenger' on 2 should stay as they were, got versions {versions} and aliases {aliases}")


def test_the_model_is_registered_under_exactly_the_name_given(registry, mlflow_name):
    client = _client(registry.tracking_uri)
    name = f"Churn-EU-{mlflow_name}"  # capitals are part of a name
    version = register_challenger(registry.tracking_uri, registry.run_ids["good"], name)
    names = sorted(m.name for m in client.search_registered_models(filter_string=f"name ILIKE '%{mlflow_name}'"))
    assert (version, names) == ("1", [name]), (
        f"register_challenger was given the name {name!r}: it should create that registered model (version '1'), "
        f"exactly as spelt; got version {version!r} and the models {names}: do not case-fold or trim the name")
    found = client.get_model_version_by_alias(name, "challenger")
    assert (str(found.version), found.run_id) == ("1", registry.run_ids["good"]), (
        f"'challenger' of {name!r} should point at version 1 from the good run, not version {found.version}")


def test_a_space_at_the_end_is_part_of_the_name(registry, mlflow_name):
    client = _client(registry.tracking_uri)
    name = f"{mlflow_name} "  # the registry keeps it: "churn " and "churn" are two models
    version = register_challenger(registry.tracking_uri, registry.run_ids["good"], name)
    names = sorted(m.name for m in client.search_registered_models(filter_string=f"name LIKE '{mlflow_name}%'"))
    assert (version, names) == ("1", [name]), (
        f"register_challenger was given the name {name!r}, with its space: it should create that registered model "
        f"(version '1'), not trim the name; got version {version!r} and the models {names}")
    found = client.get_model_version_by_alias(name, "challenger")
    assert str(found.version) == "1", f"'challenger' of {name!r} should point at version 1, not {found.version}"


def test_a_model_whose_name_only_starts_the_same_is_another_model(registry, mlflow_name, other_name):
    client = _client(registry.tracking_uri)
    # The other model exists already; this one does not, whatever a prefix or pattern search says.
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], other_name)
    version = register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    found = client.get_model_version_by_alias(mlflow_name, "challenger")
    others = [(str(v.version), v.run_id) for v in client.search_model_versions(f"name = '{other_name}'")]
    assert (version, str(found.version), found.run_id) == ("1", "1", registry.run_ids["good"]), (
        f"{mlflow_name!r} did not exist (only {other_name!r} did): it should be created with version '1' from the "
        f"good run carrying 'challenger'; got {version!r}, challenger on version {found.version} from run "
        f"{found.run_id}: look the model up by its exact name, not by a prefix or a LIKE pattern, and neither trimmed "
        "nor case-folded")
    assert others == [("1", registry.run_ids["weak"])], f"the other model should keep its one version untouched: {others}"


def _aliases_in(uri, name) -> dict[str, str] | None:
    """alias -> version of the registered model `name` in the store at `uri`; None when it has no such model."""
    client = _client(uri)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        return None
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def test_process_uris_left_pointing_elsewhere_do_not_change_where_it_registers(registry, mlflow_name, second_store):
    import mlflow

    # As other code in the same process might have left them: both point at another store.
    mlflow.set_tracking_uri(second_store)
    mlflow.set_registry_uri(second_store)
    version = register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    here, there = _aliases_in(registry.tracking_uri, mlflow_name), _aliases_in(second_store, mlflow_name)
    assert (version, here, there) == ("1", {"challenger": "1"}, None), (
        "MLflow's process-wide tracking and registry URIs pointed at another store when register_challenger was "
        f"given the test store: version 1 of {mlflow_name!r} with 'challenger' on it belongs in the test store and "
        f"nothing in the other one. got version {version!r}, test store aliases {here}, other store {there}: "
        "point the registry as well as the tracking URI (or your client's registry_uri) at tracking_uri")
