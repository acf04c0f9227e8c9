"""Task 3: the gate, against a real MLflow registry. Every number is recomputed by the test."""

from __future__ import annotations

import inspect
import math
import re
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from gate import run_gate, signature_problems

pytestmark = [pytest.mark.task(taskno=3), pytest.mark.mlflow, pytest.mark.timeout(180)]

CHECKS = ["metric", "slices", "signature", "size", "latency"]
REGIONS = ("north", "south", "east", "west")


def fast(model, row):
    """An injected latency measure: 2 ms, whatever the clock says."""
    return 0.002


@pytest.fixture(scope="module")
def champion_name(trained):
    """One registered model whose champion is the `champion` model, shared by the tests that only read."""
    from mlops_katas.infra.mlflow_env import isolated

    name = f"day19-gate-{uuid.uuid4().hex[:8]}"
    with isolated(trained.store):
        trained.register_champion(name)
    return name


def gate(registry, name, which, **options):
    options.setdefault("measure_latency", fast)
    options.setdefault("slice_by", "region")
    return run_gate(registry.tracking_uri, name, registry.model_uris[which], registry.X, registry.y, **options)


def by_name(report) -> dict:
    names = [check.name for check in report.checks]
    assert names == CHECKS, f"the report should hold the five checks in this order: {CHECKS}, not {names}"
    return {check.name: check for check in report.checks}


def input_columns(registry, which) -> dict:
    """{column: type} of a logged model's input signature, read by the test."""
    with registry.pointed_at() as mlflow:
        signature = mlflow.models.get_model_info(registry.model_uris[which]).signature
    return {spec.name: spec.type.name for spec in signature.inputs.inputs}


def worst_drop(expected, which, metric="roc_auc"):
    scores = expected.region_auc if metric == "roc_auc" else expected.region_accuracy
    return max(scores["champion"][r] - scores[which][r] for r in REGIONS)


def test_a_better_candidate_passes_every_check_with_its_numbers(registry, champion_name, expected):
    report = gate(registry, champion_name, "better")
    checks = by_name(report)
    assert report.passed, f"the better model should pass every check: {checks}"
    assert report.candidate == registry.model_uris["better"], "report.candidate is the candidate's URI as given"
    assert report.champion == "1", f"report.champion is the version judged against, '1', not {report.champion!r}"
    metric = checks["metric"]
    assert metric.value == pytest.approx(expected.roc_auc["better"], abs=1e-9), (
        f"metric.value is the candidate's held-out ROC AUC {expected.roc_auc['better']:.4f}, not {metric.value}")
    assert metric.limit == pytest.approx(expected.roc_auc["champion"] + 0.01, abs=1e-9), (
        f"metric.limit is the champion's ROC AUC plus the default margin 0.01: "
        f"{expected.roc_auc['champion'] + 0.01:.4f}, not {metric.limit}")
    slices = checks["slices"]
    assert slices.value == pytest.approx(worst_drop(expected, "better"), abs=1e-9), (
        f"slices.value is the worst per-region drop {worst_drop(expected, 'better'):.4f}, not {slices.value}")
    assert slices.limit == pytest.approx(0.05), f"slices.limit is the default tolerance 0.05, not {slices.limit}"
    assert (checks["signature"].value, checks["signature"].limit) == (0, 0), (
        f"same columns and types: signature value 0 problems, limit 0: {checks['signature']}")
    assert checks["size"].value == expected.size["better"], (
        f"size.value is the bytes of the model's artifacts, {expected.size['better']}, not {checks['size'].value}")
    assert checks["size"].limit == 100_000_000, f"the default size budget is 100_000_000 bytes: {checks['size']}"
    assert checks["latency"].value == pytest.approx(2.0), f"2 ms measured: latency.value is in ms: {checks['latency']}"
    assert checks["latency"].limit == pytest.approx(50.0), f"the default latency budget is 50 ms: {checks['latency']}"


def test_a_worse_candidate_fails_on_the_metric_and_every_check_still_runs(registry, champion_name, expected):
    report = gate(registry, champion_name, "worse")
    checks = by_name(report)
    assert not report.passed, "a candidate worse than the champion must not pass"
    assert not checks["metric"].passed, f"the metric check should fail: {checks['metric']}"
    assert checks["metric"].value == pytest.approx(expected.roc_auc["worse"], abs=1e-9), (
        f"the failed check still reports the candidate's ROC AUC {expected.roc_auc['worse']:.4f}: {checks['metric']}")
    assert checks["signature"].passed and checks["size"].passed and checks["latency"].passed, (
        f"the other checks still run and pass (not stop-at-first): {checks}")
    regressed = [r for r in REGIONS if expected.region_auc["champion"][r] - expected.region_auc["worse"][r] > 0.05]
    assert len(regressed) >= 2, f"setup: the worse model regresses in several regions: {expected.region_auc}"
    slices = checks["slices"]
    assert not slices.passed and all(region in slices.message for region in regressed), (
        f"the slices message names every slice that regressed by more than the tolerance ({regressed}), "
        f"not only the worst: {slices.message!r}")
    for name in ("metric", "slices", "size", "latency"):
        assert re.search(r"\d", checks[name].message), (
            f"every message carries its numbers (what was measured, what it was held against): {checks[name]}")


def test_the_report_is_plain_python_for_the_pipelines_json(registry, champion_name):
    """The pipeline's gate step writes the report as JSON: a numpy.bool_ verdict (what comparing NumPy or
    pandas numbers gives) or a numpy.int64 count would make json.dumps fail in the middle of a release."""
    import numpy as np

    for which, options in (("better", {"measure_latency": None}), ("worse", {}), ("slice_regressor", {}),
                           ("incompatible", {})):
        assert_plain_python(gate(registry, champion_name, which, **options), which)
    assert_plain_python(gate(registry, champion_name, "better", measure_latency=lambda model, row: np.float32(0.002)),
                        "a measure_latency returning np.float32(0.002) (NumPy 2 keeps float32 * 1000.0 a float32)")


def assert_plain_python(report, what):
    """Every verdict a Python bool, every number an int, a float or None, and the report JSON-serialisable."""
    import dataclasses
    import json

    for check in report.checks:
        assert type(check.passed) is bool, (
            f"{what}: check {check.name!r} has passed={check.passed!r} of type "
            f"{type(check.passed).__module__}.{type(check.passed).__qualname__}: a Python bool (wrap a NumPy "
            f"comparison in bool(...)), or json.dumps fails in the pipeline: {check}")
        for field in ("value", "limit"):
            number = getattr(check, field)
            assert number is None or (isinstance(number, (int, float)) and not isinstance(number, bool)), (
                f"{what}: check {check.name!r} has {field}={number!r} of type "
                f"{type(number).__module__}.{type(number).__qualname__}: an int, a float or None: {check}")
    try:
        json.dumps(dataclasses.asdict(report))
    except TypeError as error:
        pytest.fail(f"{what}: json.dumps(dataclasses.asdict(report)) fails ({error}): {report}")


def test_a_regressed_slice_fails_even_when_overall_is_better(registry, champion_name, expected):
    report = gate(registry, champion_name, "slice_regressor")
    checks = by_name(report)
    assert checks["metric"].passed, f"overall the candidate is better by more than the margin: {checks['metric']}"
    assert not checks["slices"].passed and not report.passed, (
        f"the west region drops from {expected.region_auc['champion']['west']:.3f} to "
        f"{expected.region_auc['slice_regressor']['west']:.3f}: the slices check must fail: {checks['slices']}")
    assert checks["slices"].value == pytest.approx(worst_drop(expected, "slice_regressor"), abs=1e-9), (
        f"slices.value is the worst drop {worst_drop(expected, 'slice_regressor'):.4f}: {checks['slices']}")
    assert "west" in checks["slices"].message, f"the message names the slice that regressed: {checks['slices']}"


@pytest.mark.parametrize("offset", [-0.002, 0.002], ids=["just-below-the-worst-drop", "just-above-the-worst-drop"])
def test_the_slices_message_names_only_the_slices_past_the_tolerance(registry, champion_name, expected, offset):
    drops = {r: expected.region_auc["champion"][r] - expected.region_auc["better"][r] for r in REGIONS}
    tolerance = max(drops.values()) + offset
    assert tolerance >= 0, f"setup: some region drops, so the tolerance is a valid one: {drops}"
    past = sorted(r for r in REGIONS if drops[r] > tolerance)
    assert len(past) < len(REGIONS), f"setup: some regions stay within the tolerance: {drops}"
    slices = by_name(gate(registry, champion_name, "better", slice_tolerance=tolerance))["slices"]
    assert slices.passed == (not past), (
        f"with a tolerance of {tolerance:.4f} the slices past it are {past} (drops {drops}): "
        f"slices.passed is {not past}, not {slices.passed}: {slices}")
    named = sorted(r for r in REGIONS if re.search(rf"\b{r}\b", slices.message))
    assert named == past, (
        f"with a tolerance of {tolerance:.4f} the slices past it are {past} (drops {drops}): the message names "
        f"those and no other (a passing check names no slice), not {named}: {slices.message!r}")


def test_a_small_slice_counts_as_much_as_a_large_one(registry, champion_name, expected):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = registry.y
    west = np.flatnonzero((registry.X["region"] == "west").to_numpy())
    small = np.concatenate([west[y[west] == 0][:12], west[y[west] == 1][:12]])  # 24 rows, both classes
    cut = np.full(len(registry.X), "rest", dtype=object)
    cut[small] = "small"
    X = registry.X.assign(cut=cut)
    champion, regressor = np.asarray(expected.proba["champion"]), np.asarray(expected.proba["slice_regressor"])
    drops = {}
    for value in ("small", "rest"):
        rows = cut == value
        drops[value] = roc_auc_score(y[rows], champion[rows]) - roc_auc_score(y[rows], regressor[rows])
    assert drops["small"] > drops["rest"], f"setup: the small slice holds the worst drop: {drops}"
    slices = by_name(run_gate(registry.tracking_uri, champion_name, registry.model_uris["slice_regressor"], X, y,
                              slice_by="cut", measure_latency=fast))["slices"]
    assert slices.value == pytest.approx(drops["small"], abs=1e-9), (
        f"every slice scored for both counts, however few its rows: the worst drop is the 24-row slice's "
        f"{drops['small']:.4f} (the rest's is {drops['rest']:.4f}), not {slices.value}: {slices}")


def test_the_slices_are_those_of_the_column_asked_for(registry, champion_name, expected):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    X = registry.X.assign(band=np.where(registry.X["f1"] > 0, "high", "low"))  # a column the models ignore
    champion, better = np.asarray(expected.proba["champion"]), np.asarray(expected.proba["better"])
    drops = {}
    for band in ("high", "low"):
        rows = (X["band"] == band).to_numpy()
        drops[band] = roc_auc_score(registry.y[rows], champion[rows]) - roc_auc_score(registry.y[rows], better[rows])
    assert abs(max(drops.values()) - worst_drop(expected, "better")) > 0.005, f"setup: bands are not regions: {drops}"
    slices = by_name(run_gate(registry.tracking_uri, champion_name, registry.model_uris["better"], X, registry.y,
                              slice_by="band", measure_latency=fast))["slices"]
    assert slices.value == pytest.approx(max(drops.values()), abs=1e-9), (
        f"slice_by='band': the worst drop over the bands high and low is {max(drops.values()):.4f} "
        f"(by region it would be {worst_drop(expected, 'better'):.4f}), not {slices.value}")


def test_labels_are_matched_to_the_rows_by_position(registry, champion_name, expected):
    import pandas as pd

    X = registry.X.set_axis(range(len(registry.X) - 1, -1, -1))  # an index in another order, as after a shuffle
    labels = pd.Series(registry.y)  # the i-th label belongs to the i-th row, whatever the index says
    metric = by_name(run_gate(registry.tracking_uri, champion_name, registry.model_uris["better"], X, labels,
                              slice_by="region", measure_latency=fast))["metric"]
    assert metric.value == pytest.approx(expected.roc_auc["better"], abs=1e-9), (
        f"labels are matched to the rows by position, as in score: the candidate's ROC AUC is "
        f"{expected.roc_auc['better']:.4f}, not {metric.value}")


def test_the_worst_drop_is_negative_when_every_slice_improved(registry, mlflow_name, expected):
    registry.register_champion(mlflow_name, "worse")  # a weak champion: the better model wins in every region
    drop = max(expected.region_auc["worse"][r] - expected.region_auc["better"][r] for r in REGIONS)
    assert drop < 0, f"setup: the better model improves every region on the worse one: {expected.region_auc}"
    slices = by_name(gate(registry, mlflow_name, "better"))["slices"]
    assert slices.passed and slices.value == pytest.approx(drop, abs=1e-9), (
        f"slices.value is the worst drop itself, {drop:.4f} here (every region improved, so it is negative), "
        f"not clamped at 0 nor an absolute change: {slices}")


def test_slices_pass_without_a_value_when_no_slice_can_be_scored(registry, champion_name):
    labels = (registry.X["region"] == REGIONS[0]).to_numpy().astype(int)  # each region holds one class only
    report = run_gate(registry.tracking_uri, champion_name, registry.model_uris["better"], registry.X, labels,
                      slice_by="region", measure_latency=fast)
    slices = by_name(report)["slices"]
    assert slices.passed and slices.value is None and slices.limit == pytest.approx(0.05), (
        "ROC AUC is undefined on every region here (each holds one class), so every slice is left out: nothing "
        f"regressed, and there is no drop to report: slices passes with value None, limit the tolerance: {slices}")


def test_the_margin_is_used_and_must_be_exceeded(registry, champion_name, expected):
    gain = expected.roc_auc["better"] - expected.roc_auc["champion"]
    above = by_name(gate(registry, champion_name, "better", margin=gain + 0.002))["metric"]
    assert not above.passed, f"a gain of {gain:.4f} does not exceed the margin {gain + 0.002:.4f}: {above}"
    assert above.limit == pytest.approx(expected.roc_auc["champion"] + gain + 0.002, abs=1e-9), (
        f"limit is the champion's score plus the margin given: {above}")
    below = by_name(gate(registry, champion_name, "better", margin=gain - 0.002))["metric"]
    assert below.passed, f"a gain of {gain:.4f} exceeds the margin {gain - 0.002:.4f}: {below}"
    hair = by_name(gate(registry, champion_name, "better", margin=gain - 1e-6))["metric"]
    assert hair.passed, (
        f"a gain of {gain!r} exceeds a margin of {gain - 1e-6!r}, if only by 0.000001: value and limit are compared "
        f"as they are (value > limit), not rounded first: {hair}")


def test_the_same_model_as_the_champion_does_not_pass_even_with_margin_zero(registry, champion_name, expected):
    metric = by_name(gate(registry, champion_name, "champion", margin=0))["metric"]
    assert not metric.passed, f"a tie is not an improvement: the candidate must score more than the champion: {metric}"
    assert metric.value == pytest.approx(metric.limit, abs=1e-12), f"a tie: value and limit are equal: {metric}"


def test_the_slice_tolerance_is_used(registry, champion_name, expected):
    drop = worst_drop(expected, "better")
    tight = by_name(gate(registry, champion_name, "better", slice_tolerance=drop - 0.002))["slices"]
    assert not tight.passed, f"a drop of {drop:.4f} is more than a tolerance of {drop - 0.002:.4f}: {tight}"
    hair = by_name(gate(registry, champion_name, "better", slice_tolerance=drop - 1e-6))["slices"]
    assert not hair.passed, (
        f"a drop of {drop!r} is more than a tolerance of {drop - 1e-6!r}, if only by 0.000001: the drop is compared "
        f"with the tolerance as it is (value <= limit), not rounded first: {hair}")
    assert tight.limit == pytest.approx(drop - 0.002), f"slices.limit is the tolerance given: {tight}"
    exact = by_name(gate(registry, champion_name, "better", slice_tolerance=tight.value))["slices"]
    assert exact.value == tight.value and exact.passed, (
        f"a worst drop of exactly the tolerance ({tight.value!r}) is within it (value <= limit): {exact}")


def test_the_metric_asked_for_is_used_overall_and_per_slice(registry, champion_name, expected):
    gain_auc = expected.roc_auc["slice_regressor"] - expected.roc_auc["champion"]
    gain_acc = expected.accuracy["slice_regressor"] - expected.accuracy["champion"]
    margin = (gain_auc + gain_acc) / 2
    report = gate(registry, champion_name, "slice_regressor", metric="accuracy", margin=margin, slice_tolerance=1)
    checks = by_name(report)
    assert checks["metric"].value == pytest.approx(expected.accuracy["slice_regressor"], abs=1e-9), (
        f"with metric='accuracy' the value is the candidate's accuracy: {checks['metric']}")
    assert checks["metric"].limit == pytest.approx(expected.accuracy["champion"] + margin, abs=1e-9), (
        f"with metric='accuracy' the limit is the champion's accuracy plus the margin, "
        f"{expected.accuracy['champion'] + margin:.4f} (both models scored with the same metric): {checks['metric']}")
    assert not checks["metric"].passed, (
        f"its accuracy gain {gain_acc:.4f} is below the margin {margin:.4f} (its ROC AUC gain {gain_auc:.4f} is "
        f"above): {checks['metric']}")
    assert checks["slices"].value == pytest.approx(worst_drop(expected, "slice_regressor", "accuracy"), abs=1e-9), (
        f"slices are compared with the same metric: {checks['slices']}")
    auc = by_name(gate(registry, champion_name, "slice_regressor", margin=margin, slice_tolerance=1))
    assert auc["metric"].passed and auc["slices"].passed, f"with roc_auc the same margin is met: {auc}"


def test_an_incompatible_candidate_fails_the_signature_and_the_gate_still_reports(registry, champion_name, expected):
    report = gate(registry, champion_name, "incompatible")
    checks = by_name(report)
    assert not report.passed, "a candidate with another signature must not pass"
    signature = checks["signature"]
    assert not signature.passed and signature.value == 2, (
        f"region changed type (string -> long) and f3 is new: two problems, not {signature}")
    assert "region" in signature.message and "f3" in signature.message, f"the message names both columns: {signature}"
    problems = signature_problems(input_columns(registry, "champion"), input_columns(registry, "incompatible"))
    assert all(problem in signature.message for problem in problems), (
        f"the message lists the problems of signature_problems(champion's, candidate's), champion first: "
        f"{problems} (f3 is new in the candidate, region went from string to long): {signature.message!r}")
    assert not checks["metric"].passed and checks["metric"].value is None, (
        f"the candidate cannot score the held-out rows (it needs f3): the metric check fails with value None: "
        f"{checks['metric']}")
    assert not checks["slices"].passed and checks["slices"].value is None, (
        f"the candidate cannot score any slice either: the slices check fails with value None (a slice "
        f"whose scoring raises is not a slice to leave out): {checks['slices']}")
    assert checks["size"].passed and checks["size"].value == expected.size["incompatible"], (
        f"the size check still runs: {checks['size']}")
    with registry.pointed_at() as mlflow:
        model = mlflow.sklearn.load_model(registry.model_uris["incompatible"])
    with pytest.raises(Exception) as raised:  # what the candidate says on the held-out rows
        model.predict_proba(registry.X)
    for name in ("metric", "slices"):
        assert str(raised.value) in checks[name].message, (
            f"a check that cannot be computed carries the error in its message, so the reader knows why: the "
            f"candidate raised {raised.value!r} on the held-out rows, but the {name} message says "
            f"{checks[name].message!r}")


def test_the_signature_message_holds_every_problem(registry, champion_name):
    """A candidate whose signature breaks the champion's callers in five ways: the message lists all five
    (the reader fixes every one at once), however long it gets."""
    import sklearn
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    columns = {"f0": "float", "f1": "float", "f2": "float", "region": "string", "account_age": "long",
               "zip": "string"}
    with registry.pointed_at() as mlflow:
        model = mlflow.sklearn.load_model(registry.model_uris["champion"])
        outputs = mlflow.models.get_model_info(registry.model_uris["champion"]).signature.outputs
        signature = ModelSignature(inputs=Schema([ColSpec(kind, name) for name, kind in columns.items()]),
                                   outputs=outputs)
        with mlflow.start_run(run_name="wide-signature"):
            uri = mlflow.sklearn.log_model(model, name="model", signature=signature,
                                           pip_requirements=[f"scikit-learn=={sklearn.__version__}"]).model_uri
    problems = signature_problems(input_columns(registry, "champion"), columns)
    assert len(problems) == 5, f"setup: f0, f1, f2 changed type, account_age and zip are new: {problems}"
    signature_check = by_name(run_gate(registry.tracking_uri, champion_name, uri, registry.X, registry.y,
                                       slice_by="region", measure_latency=fast))["signature"]
    assert not signature_check.passed and signature_check.value == 5, (
        f"five columns differ from the champion's: five problems: {signature_check}")
    missing = [problem for problem in problems if problem not in signature_check.message]
    assert not missing, (
        f"the signature message holds every message of signature_problems(champion's, candidate's), not the first "
        f"few: {missing} missing from {signature_check.message!r}")


def test_each_gate_reads_the_champion_from_its_own_store(registry, served, mlflow_name, expected):
    """Two registries (staging and production, say) in one process, each with a version 1 of the same model
    name that is not the same model: each gate judges against the champion of the store it was given."""
    from mlops_katas.infra.mlflow_env import isolated

    registry.register_champion(mlflow_name)  # version 1 in the embedded store: the champion model
    first = by_name(gate(registry, mlflow_name, "better"))["metric"]
    assert first.limit == pytest.approx(expected.roc_auc["champion"] + 0.01, abs=1e-9), f"setup: {first}"
    with isolated(served.store):
        served.register_champion(mlflow_name, "better")  # version 1 in the server's store: the better model
        auc = served.auc_of(served.model_uris["better"])
        report = run_gate(served.tracking_uri, mlflow_name, served.model_uris["better"], served.X, served.y,
                          slice_by="region", measure_latency=fast)
    metric = by_name(report)["metric"]
    assert report.champion == "1" and metric.limit == pytest.approx(auc + 0.01, abs=1e-9), (
        f"the second gate reads version 1 of {mlflow_name!r} from the store at its own tracking_uri, the better "
        f"model there (limit {auc + 0.01:.4f}), not a model kept from the first store's version 1 (limit "
        f"{expected.roc_auc['champion'] + 0.01:.4f}): {metric}")
    assert not metric.passed, f"the same model as the champion is no improvement: {metric}"


def test_a_champion_that_cannot_score_the_rows_fails_the_checks_not_the_gate(registry, mlflow_name):
    registry.register_champion(mlflow_name, "incompatible")  # another schema: it needs f3 and an integer region
    report = gate(registry, mlflow_name, "better")
    checks = by_name(report)
    assert not checks["metric"].passed and not checks["slices"].passed, (
        f"the champion raises on the held-out rows, so the candidate cannot be compared with it: the metric and "
        f"slices checks fail (the gate does not crash): {checks}")
    signature = checks["signature"]
    assert not signature.passed and signature.value == 2 and "f3" in signature.message, (
        f"the candidate is compared with the champion's signature (f3 missing from the candidate, region went "
        f"from long to string), not with the held-out rows' columns: two problems: {signature}")
    assert checks["size"].passed and checks["latency"].passed, f"the budgets are still judged: {checks}"
    for name in ("metric", "slices"):
        assert checks[name].value is None, (
            f"the champion cannot score the held-out rows, so there is no comparison to report: {name} fails with "
            f"value None (not the candidate's own score, which was never compared with anything): {checks[name]}")


def test_a_champion_logged_without_a_signature_fails_the_signature_check(registry, mlflow_name):
    registry.register_champion(mlflow_name, "unsigned")
    signature = by_name(gate(registry, mlflow_name, "better"))["signature"]
    assert not signature.passed and signature.value is None and signature.limit == 0, (
        f"a model logged without a signature fails the signature check with value None (and the check's limit, "
        f"0 problems, as always), the champion as much as the candidate: its callers' contract is unknown: "
        f"{signature}")


def test_checks_that_cannot_be_computed_fail_alone_with_their_error(registry, champion_name):
    calls = []

    def broken(model, row):
        calls.append(row)
        raise RuntimeError("the profiler crashed")

    report = gate(registry, champion_name, "unsigned", measure_latency=broken)
    checks = by_name(report)
    assert not checks["signature"].passed and checks["signature"].value is None, (
        f"a candidate logged without a signature fails the signature check with value None: {checks['signature']}")
    latency = checks["latency"]
    assert not latency.passed and latency.value is None and "the profiler crashed" in latency.message, (
        f"a latency measure that raises fails the latency check with value None and the error in its "
        f"message; it does not crash the gate: {latency}")
    assert len(calls) == 1, (
        f"the measure is called once per gate, a measure that raises too (not tried again): {len(calls)} calls")
    assert checks["metric"].passed and checks["slices"].passed and checks["size"].passed, (
        f"the other checks still run (the unsigned model is the better recipe): {checks}")


def test_the_size_budget_is_inclusive(registry, champion_name, expected):
    size = expected.size["better"]
    exact = by_name(gate(registry, champion_name, "better", max_size_bytes=size))["size"]
    assert exact.passed and exact.limit == size, f"a model of exactly the budget ({size} bytes) fits: {exact}"
    under = by_name(gate(registry, champion_name, "better", max_size_bytes=size - 1))["size"]
    assert not under.passed and under.value == size, f"{size} bytes is over a budget of {size - 1}: {under}"


def test_a_one_byte_budget_is_a_valid_budget(registry, champion_name):
    size = by_name(gate(registry, champion_name, "better", max_size_bytes=1))["size"]
    assert not size.passed and size.limit == 1, (
        f"max_size_bytes=1 is a positive int, so a valid (if harsh) budget: the gate runs and the model is over it: "
        f"{size}")


def log_with_code(registry, tmp_path):
    """The champion model logged again with `code_paths`: (its URI, the artifacts' root, every file in it)."""
    import sklearn

    helper = tmp_path / "day19_features.py"
    helper.write_text("# feature helpers shipped with the model\n" + "SCALE = 1.0\n" * 2000, encoding="utf-8")
    with registry.pointed_at() as mlflow:
        model = mlflow.sklearn.load_model(registry.model_uris["champion"])
        with mlflow.start_run(run_name="with-code"):
            uri = mlflow.sklearn.log_model(
                model, name="model", signature=mlflow.models.get_model_info(registry.model_uris["champion"]).signature,
                code_paths=[str(helper)], pip_requirements=[f"scikit-learn=={sklearn.__version__}"]).model_uri
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path / "artifacts")))
    return uri, local, [path for path in local.rglob("*") if path.is_file()]


def test_the_size_counts_the_files_in_sub_folders_too(registry, champion_name, tmp_path, monkeypatch):
    """A model logged with `code_paths` keeps that code in a `code/` sub-folder of its artifacts."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading the model puts its code folder on sys.path
    uri, local, files = log_with_code(registry, tmp_path)
    nested = sum(path.stat().st_size for path in files if path.parent != local)
    assert nested > 20_000, f"setup: the code folder holds {nested} bytes: {sorted(map(str, files))}"
    size = by_name(run_gate(registry.tracking_uri, champion_name, uri, registry.X, registry.y, slice_by="region",
                            measure_latency=fast))["size"]
    total = sum(path.stat().st_size for path in files)
    assert size.value == total, (
        f"size.value is the bytes of every file of the artifacts, those in sub-folders included ({total}, of which "
        f"{nested} in sub-folders), not {size.value}")


def test_the_size_is_of_the_candidate_judged_alone(registry, champion_name, expected, tmp_path, monkeypatch):
    """Two gates in one process, a model with a `code/` sub-folder first: the second candidate's size counts
    its own artifacts only, not files left over from an earlier download."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading the model puts its code folder on sys.path
    uri, _, files = log_with_code(registry, tmp_path)
    first = by_name(run_gate(registry.tracking_uri, champion_name, uri, registry.X, registry.y, slice_by="region",
                             measure_latency=fast))["size"]
    assert first.value == sum(path.stat().st_size for path in files), f"setup: the model with code: {first}"
    size = by_name(gate(registry, champion_name, "better"))["size"]
    assert size.value == expected.size["better"], (
        f"size.value is the bytes of this candidate's artifacts, {expected.size['better']}, downloaded afresh for "
        f"each gate (a temporary folder of its own), not {size.value}: files of an earlier candidate's download "
        f"must not be counted")


def test_the_size_download_is_removed_when_the_gate_returns(registry, champion_name, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where tempfile (and MLflow) put temporary files
    size = by_name(gate(registry, champion_name, "better"))["size"]
    monkeypatch.undo()
    assert size.passed, f"setup: the better model fits the default budget: {size}"
    left = sorted(str(path.relative_to(scratch)) for path in scratch.rglob("*") if path.is_file())
    assert not left, (
        f"the candidate's artifacts are downloaded for the size check into a folder of the gate's own, removed "
        f"before run_gate returns (a TemporaryDirectory); a gate that runs on every merge must not leave a copy "
        f"of every candidate on the runner's disk: {left[:5]} ({len(left)} files) were left in the temp folder")


def replace_in_learner(monkeypatch, real, fake):
    """Every name of the learner's module bound to `real` (`from time import perf_counter`) now gives `fake`."""
    learner = sys.modules[run_gate.__module__]
    for name, value in list(vars(learner).items()):
        if value is real:
            monkeypatch.setattr(learner, name, fake)


def test_the_size_download_is_removed_when_it_fails_half_way(registry, champion_name, tmp_path, monkeypatch):
    """The artifact store drops the connection after the files arrived: the size check fails, and the partial
    copy goes as a successful one does."""
    import tempfile

    import mlflow.artifacts

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    real = mlflow.artifacts.download_artifacts
    calls = []

    def half_way(*args, **kwargs):
        calls.append(real(*args, **kwargs))  # the files are on disk...
        raise ConnectionError("connection reset by the artifact store")  # ...and then the download fails

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", half_way)
    replace_in_learner(monkeypatch, real, half_way)  # `from mlflow.artifacts import download_artifacts` too
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    work = tmp_path / "work"  # the runner's working folder: a copy left there stays on its disk just as much
    work.mkdir()
    monkeypatch.chdir(work)
    size = by_name(gate(registry, champion_name, "better"))["size"]
    monkeypatch.undo()
    if calls:  # the size check downloads with mlflow.artifacts.download_artifacts, as the README says
        assert not size.passed and size.value is None and "connection reset" in size.message, (
            f"a download that fails is a size check that cannot be computed: failed, value None, the error in its "
            f"message: {size}")
    left = sorted(str(path.relative_to(tmp_path)) for folder in (scratch, work) for path in folder.rglob("*")
                  if path.is_file())
    assert not left, (
        f"the folder of the size download is removed before run_gate returns even when the download fails "
        f"half-way (a TemporaryDirectory, or try/finally): {left[:5]} ({len(left)} files) were left in the temp "
        f"folder or the working folder")


def test_each_gate_downloads_the_candidate_into_a_folder_of_its_own(registry, champion_name, expected, tmp_path,
                                                                    monkeypatch):
    """A gate killed mid-way (an out-of-memory kill) leaves its download behind: here, a file put back into the
    folder the first gate downloaded into. The second gate must neither reuse that folder nor count that file."""
    import tempfile

    import mlflow.artifacts

    real = mlflow.artifacts.download_artifacts
    calls = []  # (dst_path resolved, or None, and the folder the download returned), for every download

    def recorded(*args, **kwargs):
        dst = inspect.signature(real).bind(*args, **kwargs).arguments.get("dst_path")
        local = real(*args, **kwargs)
        calls.append((None if dst is None else Path(dst).resolve(), Path(local)))
        return local

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", recorded)
    replace_in_learner(monkeypatch, real, recorded)  # `from mlflow.artifacts import download_artifacts` too
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # a fixed folder in the temp folder stays in tmp_path
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    by_name(gate(registry, champion_name, "better"))
    first = list(calls)
    for dst, local in first:  # what a killed gate would have left where it downloaded
        # Only folders this test made may be written to: without a dst_path, a local store answers with its own folder.
        outside = [str(f) for f in ([dst] if dst is not None else []) + [local]
                   if not f.resolve().is_relative_to(tmp_path.resolve())]
        assert not outside, (
            f"the README: the candidate is downloaded \"into a folder of its own for each gate\"; the first gate's "
            f"download landed in {outside}, which is no folder the gate made (without a dst_path, MLflow answers a "
            f"local store's download with the store's own folder): download into a temporary folder of your own")
        for folder in ([dst] if dst is not None else []) + [local]:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "left-by-an-earlier-gate.bin").write_bytes(b"x" * 10_000)
    size = by_name(gate(registry, champion_name, "better"))["size"]
    second = calls[len(first):]
    monkeypatch.undo()
    earlier = {str(dst) for dst, _ in first if dst is not None}  # None: MLflow makes a fresh folder each time
    reused = sorted(str(dst) for dst, _ in second if dst is not None and str(dst) in earlier)
    assert not reused, (
        f"the README: the candidate is downloaded \"into a folder of its own for each gate\"; the second gate "
        f"downloaded into {reused}, a folder an earlier gate had used")
    assert size.value == expected.size["better"], (
        f"the README: the candidate is downloaded \"into a folder of its own for each gate: nothing left from an "
        f"earlier download is counted\"; size.value should be this candidate's {expected.size['better']} bytes, "
        f"not {size.value} (10000 bytes were left where the first gate downloaded)")


def log_unloadable(registry, which="champion"):
    """A model with the signature of `which`, logged with another flavor than scikit-learn's."""
    import mlflow.pyfunc

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [0.5] * len(model_input)

    with registry.pointed_at() as mlflow:
        signature = mlflow.models.get_model_info(registry.model_uris[which]).signature
        with mlflow.start_run(run_name="pyfunc"):
            return mlflow.pyfunc.log_model(name="model", python_model=Constant(), signature=signature,
                                           pip_requirements=["mlflow"]).model_uri


def test_a_champion_that_cannot_be_loaded_fails_the_checks_not_the_gate(registry, mlflow_name):
    uri = log_unloadable(registry)
    with registry.pointed_at() as mlflow:
        version = str(mlflow.register_model(uri, mlflow_name).version)
        with pytest.raises(Exception) as raised:  # what mlflow.sklearn says about it
            mlflow.sklearn.load_model(f"models:/{mlflow_name}/{version}")
    registry.set_alias(mlflow_name, "champion", version)
    report = gate(registry, mlflow_name, "better")  # must not raise: the gate reports every reason
    checks = by_name(report)
    for name in ("metric", "slices"):
        assert not checks[name].passed and checks[name].value is None, (
            f"the champion (logged with another flavor) cannot be loaded with mlflow.sklearn.load_model, so the "
            f"candidate cannot be compared with it: {name} fails with value None: {checks[name]}")
        assert str(raised.value).splitlines()[0][:60] in checks[name].message, (
            f"a check that cannot be computed carries the error in its message ({raised.value!r}): {checks[name]}")
    assert checks["signature"].passed and checks["size"].passed and checks["latency"].passed, (
        f"the other checks still run: the champion's signature is read from the registry, the budgets are the "
        f"candidate's: {checks}")
    assert report.champion == version and not report.passed, f"the report names the champion read: {report}"


def test_latency_is_measured_on_one_held_out_row_of_the_candidate(registry, champion_name, expected):
    import numpy as np

    seen = []

    def measure(model, row):
        seen.append((model, row))
        return 0.025

    exact = by_name(gate(registry, champion_name, "better", measure_latency=measure, max_latency_ms=25))["latency"]
    assert exact.passed and exact.value == pytest.approx(25.0), f"25 ms is within a 25 ms budget: {exact}"
    assert len(seen) == 1, f"the measure is called once per gate, not {len(seen)} times"
    model, row = seen[0]
    assert len(row) == 1 and list(row.columns) == list(registry.X.columns), (
        f"the measure gets one held-out row as a one-row DataFrame, not {row!r}")
    assert row.iloc[0].tolist() == registry.X.iloc[0].tolist(), "the row is the first held-out row"
    assert np.allclose(model.predict_proba(registry.X)[:, 1], expected.proba["better"]), (
        "the measure gets the candidate model, not the champion")
    over = by_name(gate(registry, champion_name, "better", measure_latency=measure, max_latency_ms=24.9))["latency"]
    assert not over.passed and over.limit == pytest.approx(24.9), f"25 ms is over a 24.9 ms budget: {over}"
    assert len(seen) == 2, (
        f"the measure is called once per gate, over budget too (not measured again in the hope of a better "
        f"number): {len(seen) - 1} calls in the second gate")


def test_a_latency_that_is_not_a_number_fails_the_budget(registry, champion_name):
    def no_samples(model, row):
        return float("nan")  # what np.median([]) gives when a profiler collected nothing

    latency = by_name(gate(registry, champion_name, "better", measure_latency=no_samples))["latency"]
    assert not latency.passed, (
        f"latency passes when value <= limit; NaN <= 50 is false, so a measurement that is not a number never "
        f"fits the budget (`not value > limit` would let it pass): {latency}")


def test_the_latency_row_is_the_first_held_out_row_by_position(registry, champion_name):
    X = registry.X.set_axis(range(len(registry.X) - 1, -1, -1))  # the row labelled 0 is the last one here
    seen = []

    def measure(model, row):
        seen.append(row)
        return 0.002

    run_gate(registry.tracking_uri, champion_name, registry.model_uris["better"], X, registry.y, slice_by="region",
             measure_latency=measure)
    assert len(seen) == 1 and seen[0].iloc[0].tolist() == X.iloc[0].tolist(), (
        "the latency is measured on the first held-out row by position (X.iloc[[0]]), whatever the index says, "
        f"not on {[rows.iloc[0].tolist() for rows in seen]}")


def test_without_a_measure_the_model_itself_is_timed(registry, champion_name):
    generous = by_name(gate(registry, champion_name, "better", measure_latency=None, max_latency_ms=60_000))["latency"]
    assert generous.passed and generous.value is not None and 0 < generous.value < 60_000, (
        f"one prediction takes more than 0 ms and far less than a minute: {generous}")
    tiny = by_name(gate(registry, champion_name, "better", measure_latency=None, max_latency_ms=1e-6))["latency"]
    assert not tiny.passed, f"no prediction takes under a nanosecond: {tiny}"


def test_the_default_measure_is_one_prediction_timed_with_perf_counter(registry, champion_name, monkeypatch):
    """A clock the test controls: time.perf_counter (and timeit's default timer, which is it) stands
    still except inside the candidate's predict, which takes exactly 2**-8 s = 3.90625 ms."""
    import sys
    import time
    import timeit

    from sklearn.pipeline import Pipeline

    clock = [1024.0]
    real_counter, real_counter_ns = time.perf_counter, time.perf_counter_ns
    real_predict = Pipeline.__dict__["predict"]

    def perf_counter():
        return clock[0]

    def perf_counter_ns():
        return int(clock[0] * 1_000_000_000)

    predicted = []

    def predict(self, X, **params):
        predicted.append(X)
        clock[0] += 2 ** -8 * len(X)  # each row predicted takes 3.90625 ms
        return real_predict.__get__(self, type(self))(X, **params)

    monkeypatch.setattr(Pipeline, "predict", predict)
    monkeypatch.setattr(time, "perf_counter", perf_counter)
    monkeypatch.setattr(time, "perf_counter_ns", perf_counter_ns)
    monkeypatch.setattr(timeit, "default_timer", perf_counter)
    for function in (timeit.Timer.__init__, timeit.timeit, timeit.repeat):  # each binds the timer as a default
        monkeypatch.setattr(function, "__defaults__",
                            tuple(perf_counter if d is real_counter else d for d in function.__defaults__))
    replace_in_learner(monkeypatch, real_counter, perf_counter)  # `from time import perf_counter` too
    replace_in_learner(monkeypatch, real_counter_ns, perf_counter_ns)
    latency = by_name(gate(registry, champion_name, "better", measure_latency=None, max_latency_ms=4.0))["latency"]
    assert latency.value == pytest.approx(3.90625, abs=1e-6), (
        f"each predict takes 3.90625 ms on the test's clock: the default measure reports the time of one "
        f"call in ms (not the sum of several calls, not milliseconds times 1000): {latency}")
    assert latency.passed, f"3.90625 ms is within a 4 ms budget: {latency}"
    assert predicted and all(len(rows) == 1 and rows.iloc[0].tolist() == registry.X.iloc[0].tolist()
                             for rows in predicted), (
        f"the default measure times predict on the first held-out row alone, not on "
        f"{sorted({len(rows) for rows in predicted})} rows")


def test_versions_without_a_champion_alias_are_no_champion(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    registry.delete_alias(mlflow_name, "champion")
    with pytest.raises(LookupError) as raised:
        gate(registry, mlflow_name, "better")  # version 1 exists, but nothing says it serves
    assert mlflow_name in str(raised.value), f"the error names the model without a champion: {raised.value}"
    report = gate(registry, mlflow_name, "better", first_deploy=True)
    assert report.champion is None and by_name(report)["metric"].value is None, (
        f"without the alias there is no champion, whatever versions exist: nothing to compare with: {report}")


def test_without_a_champion_is_a_lookup_error_unless_it_is_the_first_deploy(registry, mlflow_name, expected):
    with pytest.raises(LookupError) as raised:
        gate(registry, mlflow_name, "better")
    assert mlflow_name in str(raised.value), f"the error names the model without a champion: {raised.value}"
    report = gate(registry, mlflow_name, "better", first_deploy=True, max_size_bytes=expected.size["better"] - 1)
    checks = by_name(report)
    for name in ("metric", "slices", "signature"):
        assert checks[name].passed and checks[name].value is None, (
            f"on a first deploy there is nothing to compare with: {name} passes with value None: {checks[name]}")
    assert not checks["size"].passed and report.champion is None, (
        f"the budgets still apply on a first deploy, and report.champion is None: {report}")
    assert checks["latency"].passed and checks["latency"].value == pytest.approx(2.0), (
        f"the latency budget applies on a first deploy too: the measure is called and its 2 ms reported: "
        f"{checks['latency']}")


def test_a_first_deploy_does_not_judge_the_candidates_signature(registry, mlflow_name):
    report = gate(registry, mlflow_name, "unsigned", first_deploy=True)
    signature = by_name(report)["signature"]
    assert signature.passed and signature.value is None and report.passed, (
        f"on a first deploy metric, slices and signature pass with value None: there is no champion whose callers' "
        f"contract the candidate could break, so a candidate logged without a signature passes too: {report}")


def test_without_a_measure_a_candidate_that_cannot_predict_fails_the_latency(registry, champion_name):
    latency = by_name(gate(registry, champion_name, "incompatible", measure_latency=None))["latency"]
    assert not latency.passed and latency.value is None, (
        f"the default measure times model.predict on the first held-out row, and this candidate raises there (it "
        f"needs f3): latency cannot be computed, so it fails with value None and the error in its message, never "
        f"a time measured around a call that failed: {latency}")


def test_the_report_names_the_champion_it_was_compared_with(registry, mlflow_name, expected):
    """The alias moves while the gate runs (another pipeline promoted): the report must not claim a
    champion its numbers were not computed against, or a stale report would pass promote's check."""
    import mlflow

    registry.register_champion(mlflow_name)  # version 1: the champion model
    moved = []

    def measure_and_promote(model, row):
        if not moved:
            tracking, registry_uri = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
            moved.append(registry.register_champion(mlflow_name, "worse"))  # version 2 becomes champion
            mlflow.set_tracking_uri(tracking)  # leave the gate's own settings as they were
            mlflow.set_registry_uri(registry_uri)
        return 0.002

    metric = by_name(report := gate(registry, mlflow_name, "better", measure_latency=measure_and_promote))["metric"]
    assert moved == ["2"], "setup: the alias moved to version 2 during the gate"
    judged = {"1": expected.roc_auc["champion"], "2": expected.roc_auc["worse"]}
    assert report.champion in judged and metric.limit == pytest.approx(judged[report.champion] + 0.01, abs=1e-9), (
        f"report.champion ({report.champion!r}) must be the version whose model the candidate was compared with "
        f"(limit {metric.limit}; version 1 would give {judged['1'] + 0.01:.4f}, version 2 {judged['2'] + 0.01:.4f})")


def test_the_champion_is_the_version_the_alias_names_not_the_newest(registry, mlflow_name, expected):
    registry.register_champion(mlflow_name)  # version 1, the champion
    registry.register(mlflow_name, "worse")  # version 2, registered but never promoted
    metric = by_name(report := gate(registry, mlflow_name, "better"))["metric"]
    assert report.champion == "1" and metric.limit == pytest.approx(expected.roc_auc["champion"] + 0.01, abs=1e-9), (
        "the candidate is compared with the version the alias champion points at (1), not the newest version (2): "
        f"report.champion {report.champion!r}, limit {metric.limit} (version 1 gives "
        f"{expected.roc_auc['champion'] + 0.01:.4f})")


def promote_after_first_alias_read(registry, mlflow_name, monkeypatch) -> None:
    """Another pipeline moves `champion` to version 2 just after the gate first reads the alias."""
    from mlflow.tracking._model_registry.client import ModelRegistryClient

    read = ModelRegistryClient.get_model_version_by_alias
    moved = []

    def read_then_promote(self, name, alias):
        version = read(self, name, alias)
        if not moved:
            moved.append(version.version)
            registry.set_alias(mlflow_name, "champion", "2")
        return version

    monkeypatch.setattr(ModelRegistryClient, "get_model_version_by_alias", read_then_promote)


def test_the_alias_is_read_once(registry, mlflow_name, expected, monkeypatch):
    """Another pipeline promotes just after the gate first reads the alias: the gate must compare with the
    version it read, not read the alias again (say, by loading models:/<name>@champion) and get another."""
    registry.register_champion(mlflow_name)  # version 1: the champion model
    registry.register(mlflow_name, "worse")  # version 2, about to be promoted by someone else
    promote_after_first_alias_read(registry, mlflow_name, monkeypatch)
    metric = by_name(report := gate(registry, mlflow_name, "better"))["metric"]
    monkeypatch.undo()
    judged = {"1": expected.roc_auc["champion"], "2": expected.roc_auc["worse"]}
    assert report.champion in judged and metric.limit == pytest.approx(judged[report.champion] + 0.01, abs=1e-9), (
        f"the alias moved from 1 to 2 right after the gate first read it: report.champion ({report.champion!r}) "
        f"must be the version whose model gave the numbers (limit {metric.limit}; version 1 would give "
        f"{judged['1'] + 0.01:.4f}, version 2 {judged['2'] + 0.01:.4f}); read the alias once")


def test_the_signature_compared_is_that_of_the_champion_read(registry, mlflow_name, monkeypatch):
    """As above, but the version promoted right after the gate reads the alias has another schema: the
    candidate's signature must be compared with the version the gate read, not with the alias read again."""
    registry.register_champion(mlflow_name)  # version 1: the champion model
    registry.register(mlflow_name, "incompatible")  # version 2, another schema, about to be promoted
    promote_after_first_alias_read(registry, mlflow_name, monkeypatch)
    report = gate(registry, mlflow_name, "better")
    monkeypatch.undo()
    signature = by_name(report)["signature"]
    problems = 0 if report.champion == "1" else 2
    assert signature.value == problems, (
        f"the report names version {report.champion!r}, whose signature has {problems} problems with the "
        f"candidate's; the gate compared another version's: {signature}")


def test_the_slices_compared_are_those_of_the_champion_read(registry, mlflow_name, expected, monkeypatch):
    """As above, for the per-slice comparison: every check compares with the one version the gate read,
    not with a model loaded again through the alias (models:/<name>@champion) by one of the checks."""
    registry.register_champion(mlflow_name)  # version 1: the champion model
    registry.register(mlflow_name, "worse")  # version 2, about to be promoted by someone else
    promote_after_first_alias_read(registry, mlflow_name, monkeypatch)
    report = gate(registry, mlflow_name, "better")
    monkeypatch.undo()
    slices = by_name(report)["slices"]
    drops = {"1": worst_drop(expected, "better"),
             "2": max(expected.region_auc["worse"][r] - expected.region_auc["better"][r] for r in REGIONS)}
    assert report.champion in drops and slices.value == pytest.approx(drops[report.champion], abs=1e-9), (
        f"the report names version {report.champion!r}: slices.value is the worst drop from that version, "
        f"{drops.get(report.champion)} (version 1 gives {drops['1']:.4f}, version 2 {drops['2']:.4f}), "
        f"not {slices.value}: every check compares with the version the gate read once")


def test_first_deploy_changes_nothing_when_there_is_a_champion(registry, champion_name):
    report = gate(registry, champion_name, "worse", first_deploy=True)
    assert report.champion == "1" and not by_name(report)["metric"].passed, (
        f"with a champion in place the candidate is compared with it, first_deploy or not: {report}")


def registry_state(registry, name) -> dict:
    """What a write to the registry would change: the model's and every version's tags, description, aliases."""
    client = registry._client()
    model = client.get_registered_model(name)
    versions = {str(v.version): (dict(v.tags), v.description or "", sorted(v.aliases))
                for v in client.search_model_versions(f"name = '{name}'")}
    return {"tags": dict(model.tags), "description": model.description or "",
            "aliases": dict(model.aliases), "versions": versions}


def test_the_gate_only_reads_the_registry(registry, mlflow_name):
    registry.register_champion(mlflow_name)
    before = registry_state(registry, mlflow_name)
    assert gate(registry, mlflow_name, "better").passed, "setup: the better model should pass"
    assert registry.aliases(mlflow_name) == {"champion": "1"} and registry.versions(mlflow_name) == ["1"], (
        "run_gate only judges: promotion is task 4's job")
    assert registry_state(registry, mlflow_name) == before, (
        f"run_gate never writes the registry, not even a tag or a description: {before} became "
        f"{registry_state(registry, mlflow_name)}")


def test_the_gate_does_not_modify_its_inputs(registry, champion_name):
    import pandas as pd

    X = registry.X.set_axis(range(len(registry.X) - 1, -1, -1))  # an index in another order, as after a shuffle
    labels = pd.Series(registry.y, index=X.index)
    before_X, before_labels = X.copy(), labels.copy()
    run_gate(registry.tracking_uri, champion_name, registry.model_uris["better"], X, labels, slice_by="region",
             measure_latency=fast)
    pd.testing.assert_frame_equal(X, before_X, obj="the held-out rows after the gate (values, columns and index)")
    pd.testing.assert_series_equal(labels, before_labels, obj="the labels after the gate (values and index)")


def test_each_gate_compares_with_the_champion_of_the_moment(registry, mlflow_name, expected):
    registry.register_champion(mlflow_name)  # version 1: the champion model
    assert gate(registry, mlflow_name, "better").champion == "1", "setup: the first gate judges against version 1"
    registry.register_champion(mlflow_name, "worse")  # version 2 is promoted between two gates
    metric = by_name(report := gate(registry, mlflow_name, "better"))["metric"]
    assert report.champion == "2" and metric.limit == pytest.approx(expected.roc_auc["worse"] + 0.01, abs=1e-9), (
        f"a second gate compares with the champion of the moment, version 2 (limit "
        f"{expected.roc_auc['worse'] + 0.01:.4f}), not a model kept from an earlier gate: report.champion "
        f"{report.champion!r}, limit {metric.limit}")


def test_an_unreachable_registry_is_not_a_first_deploy(registry, champion_name, registry_unreachable):
    registry_unreachable(ConnectionError("the registry is unreachable"))
    try:
        report = gate(registry, champion_name, "better", first_deploy=True)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - any error will do: the outage is not hidden
        return
    pytest.fail(f"reading the champion alias failed (the registry is unreachable), which is not 'no champion': the "
                f"error propagates, first_deploy or not, instead of a report judged as a first deploy: {report}")


def assert_the_registry_error_propagates(registry, champion_name, what):
    """The gate, first_deploy or not, lets `what` (a registry error that is not "no such model or
    alias") propagate: never a LookupError, never a report judged as a first deploy."""
    for first_deploy in (True, False):
        try:
            report = gate(registry, champion_name, "better", first_deploy=first_deploy)
        except NotImplementedError:
            raise
        except LookupError as error:
            pytest.fail(f"{what} was reported as a model without a champion (first_deploy={first_deploy}): "
                        f"{error!r}; only RESOURCE_DOES_NOT_EXIST and INVALID_PARAMETER_VALUE mean that, this "
                        f"error should propagate")
        except Exception:  # noqa: BLE001 - the error propagates, as MlflowException or wrapped
            continue
        pytest.fail(f"reading the champion alias failed with {what}, which is not 'no such model or alias': the "
                    f"error propagates, first_deploy or not, instead of a report judged as a first deploy: {report}")


def test_an_mlflow_error_from_an_unreachable_registry_is_not_a_first_deploy(registry, champion_name,
                                                                             registry_unreachable):
    """MLflow's REST client reports a registry it cannot reach as an MlflowException (error code
    INTERNAL_ERROR), the same class as "no such alias": only the error code tells them apart."""
    registry_unreachable()
    assert_the_registry_error_propagates(
        registry, champion_name, "an MlflowException with error code INTERNAL_ERROR (the registry is unreachable)")


@pytest.mark.parametrize("code", ["TEMPORARILY_UNAVAILABLE", "PERMISSION_DENIED", "ENDPOINT_NOT_FOUND"])
def test_a_registry_that_is_unavailable_or_refuses_is_not_a_first_deploy(registry, champion_name,
                                                                         registry_unreachable, code):
    """A 503 from the registry's proxy (TEMPORARILY_UNAVAILABLE), a 403 for the pipeline's token
    (PERMISSION_DENIED) or a 404 from a misrouted registry URL (ENDPOINT_NOT_FOUND, an HTTP 404 like a
    missing model's): only RESOURCE_DOES_NOT_EXIST and INVALID_PARAMETER_VALUE mean "no such model or alias".
    The message is MLflow's, with the response body: a proxy's 404 page says "404 Not Found", so reading
    the message instead of the error code takes an outage for a missing alias."""
    registry_unreachable(code)  # MLflow's MlflowException for that HTTP status, see REGISTRY_REFUSALS
    assert_the_registry_error_propagates(registry, champion_name, f"an MlflowException with error code {code}")


def test_an_unknown_candidate_is_a_lookup_error(registry, champion_name):
    """Every form of model URI that resolves to no model: MLflow's message differs from one to the next
    (only some say "not found"), its error code does not."""
    with registry.pointed_at() as mlflow:
        run_id = mlflow.models.get_model_info(registry.model_uris["better"]).run_id
    for uri in ("models:/m-0123456789abcdef0123456789abcdef", f"models:/day19-never-registered-{uuid.uuid4().hex[:8]}/1",
                f"runs:/{run_id}/no-such-model", "runs:/0123456789abcdef0123456789abcdef/model"):
        try:
            report = run_gate(registry.tracking_uri, champion_name, uri, registry.X, registry.y, slice_by="region",
                              measure_latency=fast)
        except LookupError:
            continue
        except NotImplementedError:
            raise
        except Exception as error:  # noqa: BLE001 - the wrong error is the failure reported here
            pytest.fail(f"the candidate URI {uri!r} resolves to no model: that is a LookupError, whatever MLflow's "
                        f"message says, not {error!r}")
        pytest.fail(f"the candidate URI {uri!r} resolves to no model: a LookupError, not a report: {report}")


def test_a_missing_slice_column_is_a_key_error(registry, champion_name):
    with pytest.raises(KeyError):
        gate(registry, champion_name, "better", slice_by="country")


@pytest.mark.parametrize("option, value", [
    ("metric", "f1"), ("metric", "ROC_AUC"), ("metric", " accuracy"), ("margin", -0.01), ("margin", math.nan), ("margin", math.inf), ("margin", True),
    ("margin", "0.01"), ("slice_tolerance", -0.1), ("slice_tolerance", math.nan), ("slice_tolerance", math.inf),
    ("slice_tolerance", True), ("slice_tolerance", "0.05"), ("max_size_bytes", 0), ("max_size_bytes", -5),
    ("max_size_bytes", 1.5), ("max_size_bytes", 1e8), ("max_size_bytes", True), ("max_latency_ms", 0), ("max_latency_ms", -1.0),
    ("max_latency_ms", math.inf), ("max_latency_ms", math.nan), ("max_latency_ms", "50"), ("max_latency_ms", True),
    pytest.param("margin", Decimal("0.01"), id="margin-Decimal"),
    pytest.param("slice_tolerance", Decimal("0.05"), id="slice_tolerance-Decimal"),
])
def test_bad_options_are_value_errors(registry, champion_name, option, value):
    with pytest.raises(ValueError):
        gate(registry, champion_name, "better", **{option: value})


def test_bad_options_are_value_errors_before_the_registry_is_read(registry, mlflow_name):
    """mlflow_name has no registered model at all: the options are refused before anything is looked up."""
    for option, value in (("metric", "f1"), ("margin", -0.01), ("slice_tolerance", math.inf), ("max_size_bytes", 0),
                          ("max_latency_ms", math.nan)):
        with pytest.raises(ValueError):
            gate(registry, mlflow_name, "better", **{option: value})  # not LookupError (no champion)
    for rows, labels in ((registry.X.iloc[:0], registry.y[:0]), (registry.X, registry.y[:-1]),
                         (registry.X.iloc[:-1], registry.y)):
        with pytest.raises(ValueError):  # no rows, or labels that do not match them: before the registry too
            run_gate(registry.tracking_uri, mlflow_name, registry.model_uris["better"], rows, labels,
                     slice_by="region", measure_latency=fast)
    with pytest.raises(KeyError):
        gate(registry, mlflow_name, "better", slice_by="country")


def test_numpy_floats_are_valid_options(registry, champion_name, expected):
    import numpy as np

    gain = expected.roc_auc["better"] - expected.roc_auc["champion"]
    margin = np.float64(gain) - np.float64(0.002)  # as a margin computed from bootstrapped scores is
    report = gate(registry, champion_name, "better", margin=margin, slice_tolerance=np.float64(0.05),
                  max_latency_ms=np.float64(50.0), measure_latency=lambda model, row: np.float64(0.002))
    metric = by_name(report)["metric"]
    assert report.passed and metric.limit == pytest.approx(expected.roc_auc["champion"] + margin, abs=1e-9), (
        f"np.float64 values are finite numbers (a subclass of float), so valid options: the gate runs with them "
        f"as with Python floats: {report}")
    assert_plain_python(report, "np.float64 margin, slice_tolerance and max_latency_ms, and a measure_latency "
                        "returning np.float64")


@pytest.mark.parametrize("option", ["margin", "slice_tolerance", "max_latency_ms"])
def test_numpy_float32_options_are_refused_or_used_as_floats(registry, champion_name, option):
    import numpy as np

    value = {"margin": np.float32(0.001), "slice_tolerance": np.float32(0.05), "max_latency_ms": np.float32(50.0)}
    try:
        report = gate(registry, champion_name, "better", **{option: value[option]})
    except ValueError:
        return  # refused: np.float32 is not a subclass of float
    assert report.passed, f"{option}={value[option]!r} taken as the float it holds lets the better model ship: {report}"
    assert_plain_python(report, f"with {option}=np.float32({float(value[option])}) (accepted, so taken as a float)")


def test_a_numpy_integer_size_budget_is_refused_or_used_as_an_int(registry, champion_name, expected):
    import numpy as np

    size = expected.size["better"]
    try:
        report = gate(registry, champion_name, "better", max_size_bytes=np.int64(size))
    except ValueError:
        return  # refused: np.int64 is not a Python int
    checks = by_name(report)
    assert checks["size"].passed and checks["size"].limit == size, (
        f"a budget of np.int64({size}) taken as the int it holds fits a model of exactly {size} bytes: "
        f"{checks['size']}")
    assert_plain_python(report, f"with max_size_bytes=np.int64({size}) (accepted, so taken as an int)")


def test_the_candidate_may_be_any_model_uri_and_is_reported_as_given(registry, mlflow_name, expected):
    """runs:/<run id>/model and models:/<name>/<version> name the same logged model as its models:/m-... URI:
    the gate judges it the same, and report.candidate is the URI the pipeline gave, not another form of it."""
    registry.register_champion(mlflow_name)  # version 1: the champion
    registry.register(mlflow_name, "better")  # version 2: the candidate, registered but not promoted
    with registry.pointed_at() as mlflow:
        run_id = mlflow.models.get_model_info(registry.model_uris["better"]).run_id
    for uri in (f"runs:/{run_id}/model", f"models:/{mlflow_name}/2"):
        report = run_gate(registry.tracking_uri, mlflow_name, uri, registry.X, registry.y, slice_by="region",
                          measure_latency=fast)
        metric = by_name(report)["metric"]
        assert report.candidate == uri, (
            f"report.candidate is the candidate's URI as given to run_gate, {uri!r}, not {report.candidate!r}")
        assert report.passed and metric.value == pytest.approx(expected.roc_auc["better"], abs=1e-9), (
            f"{uri} is the better model: it passes with its held-out ROC AUC {expected.roc_auc['better']:.4f}: "
            f"{report}")


def test_zero_margin_and_tolerance_are_allowed(registry, champion_name, expected):
    report = gate(registry, champion_name, "better", margin=0, slice_tolerance=0.0)
    assert by_name(report)["metric"].passed, "a margin of 0 is allowed: better by anything passes"
    slices = by_name(report)["slices"]
    assert slices.limit == 0 and not slices.passed, (
        f"a tolerance of 0 is a tolerance of 0, not the default: the better model drops "
        f"{worst_drop(expected, 'better'):.4f} in one region, so the slices check fails: {slices}")


def test_mismatched_rows_are_a_value_error(registry, champion_name):
    with pytest.raises(ValueError):
        run_gate(registry.tracking_uri, champion_name, registry.model_uris["better"], registry.X, registry.y[:-1],
                 slice_by="region", measure_latency=fast)


def test_no_held_out_rows_is_a_value_error(registry, champion_name):
    with pytest.raises(ValueError):  # not a report whose checks failed: there is nothing to judge on
        run_gate(registry.tracking_uri, champion_name, registry.model_uris["better"], registry.X.iloc[:0],
                 registry.y[:0], slice_by="region", measure_latency=fast)
