"""Task 4: only a passing candidate becomes champion; the one it replaces stays one alias away."""

from __future__ import annotations

import pytest

from gate import Check, GateReport, promote, run_gate

pytestmark = [pytest.mark.task(taskno=4), pytest.mark.mlflow, pytest.mark.timeout(180)]

CHECKS = ["metric", "slices", "signature", "size", "latency"]


def fast(model, row):
    """An injected latency measure: 2 ms, whatever the clock says."""
    return 0.002


def gate(trained, name, which, **options):
    options.setdefault("measure_latency", fast)
    return run_gate(trained.tracking_uri, name, trained.model_uris[which], trained.X, trained.y,
                    slice_by="region", **options)


def test_a_passing_candidate_becomes_champion_and_the_old_one_stays_reachable(registry, mlflow_name, expected):
    registry.register_champion(mlflow_name)
    report = gate(registry, mlflow_name, "better")
    assert report.passed, f"setup: the better model should pass the gate: {report}"
    version = promote(registry.tracking_uri, mlflow_name, report)
    assert version == "2", f"promote returns the new version as a string, '2', not {version!r}"
    assert registry.aliases(mlflow_name) == {"champion": "2", "previous-champion": "1"}, (
        f"champion moves to the new version 2 and previous-champion to 1: {registry.aliases(mlflow_name)}")
    assert registry.auc_of(f"models:/{mlflow_name}@champion") == pytest.approx(expected.roc_auc["better"], abs=1e-9), (
        "models:/<name>@champion should now load the candidate that passed")
    assert registry.auc_of(f"models:/{mlflow_name}@previous-champion") == pytest.approx(
        expected.roc_auc["champion"], abs=1e-9), "models:/<name>@previous-champion should load the old champion"


def test_a_failing_report_is_refused_and_nothing_changes(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    report = gate(registry, mlflow_name, "slice_regressor")
    assert not report.passed, "setup: the slice regressor should fail the gate"
    with pytest.raises(ValueError) as raised:
        promote(registry.tracking_uri, mlflow_name, report)
    assert "slices" in str(raised.value), f"the error names the failed check: {raised.value}"
    assert registry.aliases(mlflow_name) == {"champion": "1"} and registry.versions(mlflow_name) == ["1"], (
        "a refused promotion registers nothing and moves no alias")


def test_the_error_names_every_failed_check(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    verdicts = {"metric": False, "slices": True, "signature": False, "size": True, "latency": False}
    report = GateReport(registry.model_uris["better"], "1",
                        [Check(name, verdicts[name], None, None, "made by hand") for name in CHECKS])
    with pytest.raises(ValueError) as raised:
        promote(registry.tracking_uri, mlflow_name, report)
    missing = [name for name, ok in verdicts.items() if not ok and name not in str(raised.value)]
    assert not missing, f"the error names every failed check (metric, signature, latency); {missing} missing: {raised.value}"
    assert registry.versions(mlflow_name) == ["1"], "a refused promotion registers nothing"


def test_a_report_judged_against_an_older_champion_is_refused(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    first = gate(registry, mlflow_name, "better")
    second = gate(registry, mlflow_name, "slice_regressor", slice_tolerance=1)
    assert first.passed and second.passed, "setup: both candidates pass against champion 1"
    assert promote(registry.tracking_uri, mlflow_name, first) == "2", "setup: the first promotion makes version 2"
    with pytest.raises(RuntimeError):
        promote(registry.tracking_uri, mlflow_name, second)
    assert registry.aliases(mlflow_name) == {"champion": "2", "previous-champion": "1"}, (
        "the second report was judged against version 1, but the champion is 2 now: nothing may change")
    assert registry.versions(mlflow_name) == ["1", "2"], "a refused promotion registers nothing"


def test_a_report_judged_before_a_rollback_is_refused(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    assert promote(registry.tracking_uri, mlflow_name, gate(registry, mlflow_name, "better")) == "2", "setup"
    report = GateReport(registry.model_uris["worse"], "2", [Check(name, True, None, None, "ok") for name in CHECKS])
    registry.set_alias(mlflow_name, "champion", "1")  # an operator rolled back to version 1 since
    with pytest.raises(RuntimeError):
        promote(registry.tracking_uri, mlflow_name, report)
    assert registry.aliases(mlflow_name) == {"champion": "1", "previous-champion": "1"} and (
        registry.versions(mlflow_name) == ["1", "2"]), (
        "the report was judged against version 2, but champion points at 1 again (a rollback, not a newer "
        "version): nothing may change")


def test_a_report_without_checks_is_refused(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    with pytest.raises(ValueError):
        promote(registry.tracking_uri, mlflow_name, GateReport(registry.model_uris["better"], "1", []))
    assert registry.aliases(mlflow_name) == {"champion": "1"} and registry.versions(mlflow_name) == ["1"], (
        "a report with no checks has not passed (report.passed is false): nothing may change")


def test_a_report_whose_champion_alias_was_removed_is_refused(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    report = gate(registry, mlflow_name, "better")
    assert report.passed and report.champion == "1", f"setup: the better model passes against version 1: {report}"
    registry.delete_alias(mlflow_name, "champion")  # someone took version 1 out of service since
    with pytest.raises(RuntimeError):
        promote(registry.tracking_uri, mlflow_name, report)
    assert registry.aliases(mlflow_name) == {} and registry.versions(mlflow_name) == ["1"], (
        "the alias no longer points at the version the report was judged against: nothing may change")


def test_the_first_deploy_has_no_previous_champion(registry, mlflow_name):
    report = gate(registry, mlflow_name, "champion", first_deploy=True)
    assert report.passed and report.champion is None, f"setup: a first deploy passes the budgets: {report}"
    assert promote(registry.tracking_uri, mlflow_name, report) == "1", "the first promotion registers version 1"
    assert registry.aliases(mlflow_name) == {"champion": "1"}, (
        f"champion is version 1 and there is no previous champion: {registry.aliases(mlflow_name)}")
    with pytest.raises(RuntimeError):
        promote(registry.tracking_uri, mlflow_name, report)  # judged against no champion; there is one now
    assert registry.versions(mlflow_name) == ["1"], "a stale first-deploy report registers nothing"


def test_a_first_deploy_report_promotes_a_model_with_versions_but_no_champion(registry, mlflow_name):
    registry.register(mlflow_name, "worse")  # version 1 exists, but no alias says it serves
    report = gate(registry, mlflow_name, "champion", first_deploy=True)
    assert report.passed and report.champion is None, f"setup: without the alias the gate judges a first deploy: {report}"
    assert promote(registry.tracking_uri, mlflow_name, report) == "2", (
        "only the champion alias says which version serves: with none, a first-deploy report is current, whatever "
        "versions exist, and the candidate is registered as version 2")
    assert registry.aliases(mlflow_name) == {"champion": "2"}, (
        f"champion points at the new version 2 and, with no champion before it, there is no previous-champion: "
        f"{registry.aliases(mlflow_name)}")


def test_each_promotion_moves_previous_champion_along(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    assert promote(registry.tracking_uri, mlflow_name, gate(registry, mlflow_name, "better")) == "2", "setup"
    # A passing report made by hand: promote acts on the report it is given.
    report = GateReport(registry.model_uris["worse"], "2", [Check(name, True, None, None, "ok") for name in CHECKS])
    assert promote(registry.tracking_uri, mlflow_name, report) == "3", "the third version is registered"
    assert registry.aliases(mlflow_name) == {"champion": "3", "previous-champion": "2"}, (
        f"previous-champion follows: the version champion pointed at before, 2: {registry.aliases(mlflow_name)}")


def test_the_rollback_target_is_recorded_before_champion_moves(registry, mlflow_name, monkeypatch):
    from mlflow.tracking._model_registry.client import ModelRegistryClient

    registry.register_champion(mlflow_name)

    def passing(which, champion):  # reports made by hand: promote acts on the report it is given
        return GateReport(registry.model_uris[which], champion, [Check(n, True, None, None, "ok") for n in CHECKS])

    # First on its own, with no gate run before it in this test: promote uses the tracking_uri it is given.
    assert promote(registry.tracking_uri, mlflow_name, passing("better", "1")) == "2", (
        "promote on its own (as a pipeline's promote step runs it) registers version 2 in the store at "
        "tracking_uri")
    real = ModelRegistryClient.set_registered_model_alias

    def registry_fails_on_champion(self, name, alias, version):
        if alias == "champion":
            raise ConnectionError("the registry went away while champion was moving")
        return real(self, name, alias, version)

    monkeypatch.setattr(ModelRegistryClient, "set_registered_model_alias", registry_fails_on_champion)
    with pytest.raises(Exception) as raised:
        promote(registry.tracking_uri, mlflow_name, passing("slice_regressor", "2"))
    monkeypatch.undo()
    assert registry.aliases(mlflow_name) == {"champion": "2", "previous-champion": "2"}, (
        f"previous-champion is set before champion moves, so when moving champion fails the rollback target "
        f"(2) is already recorded: {registry.aliases(mlflow_name)} (promote raised {raised.value!r})")


def test_an_unreachable_registry_is_not_a_first_deploy_for_promote(registry, mlflow_name, monkeypatch,
                                                                   registry_unreachable):
    """A first-deploy report, while a champion has been promoted since; then the registry fails when
    promote reads the alias (MLflow's REST client: an MlflowException with error code INTERNAL_ERROR)."""
    registry.register_champion(mlflow_name)  # version 1 serves
    report = GateReport(registry.model_uris["better"], None, [Check(name, True, None, None, "ok") for name in CHECKS])
    registry_unreachable()
    try:
        version = promote(registry.tracking_uri, mlflow_name, report)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - any error will do: the outage is not taken for "no champion"
        version = None
    monkeypatch.undo()
    assert version is None and registry.aliases(mlflow_name) == {"champion": "1"} and (
        registry.versions(mlflow_name) == ["1"]), (
        f"reading the champion alias failed (the registry is unreachable), which is not 'no champion': promote "
        f"must not act on a first-deploy report then (version 1 serves); the error propagates and nothing "
        f"changes: promote returned {version!r}, aliases {registry.aliases(mlflow_name)}, versions "
        f"{registry.versions(mlflow_name)}")


@pytest.mark.parametrize("code", ["TEMPORARILY_UNAVAILABLE", "PERMISSION_DENIED", "ENDPOINT_NOT_FOUND"])
def test_a_registry_that_is_unavailable_or_refuses_is_not_a_first_deploy_for_promote(registry, mlflow_name, monkeypatch,
                                                                                      registry_unreachable, code):
    """As above, with a 503 from the registry's proxy, a 403 for the pipeline's token or a 404 from a misrouted
    registry URL: only RESOURCE_DOES_NOT_EXIST and INVALID_PARAMETER_VALUE mean "no such model or alias"."""
    registry.register_champion(mlflow_name)  # version 1 serves
    report = GateReport(registry.model_uris["better"], None, [Check(name, True, None, None, "ok") for name in CHECKS])
    registry_unreachable(code)  # MLflow's MlflowException for that HTTP status: its message quotes the body
    try:
        version = promote(registry.tracking_uri, mlflow_name, report)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - any error will do: the error is not taken for "no champion"
        version = None
    monkeypatch.undo()
    assert version is None and registry.aliases(mlflow_name) == {"champion": "1"} and (
        registry.versions(mlflow_name) == ["1"]), (
        f"reading the champion alias failed with {code}, which is not 'no such model or alias': promote must not "
        f"act on a first-deploy report then (version 1 serves); the error propagates and nothing changes: promote "
        f"returned {version!r}, aliases {registry.aliases(mlflow_name)}, versions {registry.versions(mlflow_name)}")


def test_through_the_server_gate_and_promotion_work(served, mlflow_name):
    from mlops_katas.infra.mlflow_env import isolated

    with isolated(served.store):
        served.register_champion(mlflow_name)
        report = gate(served, mlflow_name, "better")
        assert report.passed, f"through the server the better model should pass: {report}"
        assert promote(served.tracking_uri, mlflow_name, report) == "2", "through the server: version 2"
        assert served.aliases(mlflow_name) == {"champion": "2", "previous-champion": "1"}, "through the server"
