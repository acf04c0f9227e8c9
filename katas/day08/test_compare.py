"""Task 4: every version side by side, scored on the same rows, best first."""

import pytest

from registry import compare_versions, promote_if_better, register_challenger

pytestmark = [pytest.mark.task(taskno=4), pytest.mark.mlflow, pytest.mark.timeout(240)]


def test_one_row_per_version_best_score_first(registry, held_out, mlflow_name):
    for run in ("good", "weak", "best", "overclaimed"):
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    assert [row["version"] for row in table] == ["3", "1", "4", "2"], (
        "rows should be sorted by the score on the rows given, best first (best=3, good=1, overclaimed=4 "
        f"although its run logged 1.0, weak=2); got {[r['version'] for r in table]}")
    expected = {"1": held_out["good"], "2": held_out["weak"], "3": held_out["best"], "4": held_out["overclaimed"]}
    for row in table:
        assert row["score"] == pytest.approx(expected[row["version"]], abs=1e-9), (
            f"version {row['version']} scores {expected[row['version']]:.4f} on the rows given, not {row['score']:.4f}")


def test_rows_carry_run_ids_and_aliases(registry, mlflow_name, test_side_mlflow):
    import mlflow

    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    client = mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    client.set_registered_model_alias(mlflow_name, "shadow", "2")  # aliases other than yours count too
    with test_side_mlflow() as test_mlflow:
        test_mlflow.register_model(registry.model_uris["best"], mlflow_name)  # version 3: no alias at all

    def aliases_in_registry():
        found = {"1": [], "2": [], "3": []}
        for alias, version in client.get_registered_model(mlflow_name).aliases.items():
            found[str(version)].append(alias)
        return {v: sorted(a) for v, a in found.items()}

    table = {row["version"]: row for row in compare_versions(registry.tracking_uri, mlflow_name,
                                                             registry.X_test, registry.y_test)}
    assert set(table) == {"1", "2", "3"}, f"there should be a row for versions 1, 2 and 3, got {sorted(table)}"
    listed = {v: r["aliases"] for v, r in table.items()}
    assert "champion" in listed["1"] and {"challenger", "shadow"} <= set(listed["2"]), (
        "version 1 is 'champion' and version 2 'challenger' and 'shadow'; each row should list every alias of "
        f"its version: {listed}")
    in_registry = aliases_in_registry()
    assert listed == in_registry, (
        f"each row should list all of its version's aliases, sorted: {listed}, the registry has {in_registry}")
    assert table["1"]["run_id"] == registry.run_ids["weak"] and table["2"]["run_id"] == registry.run_ids["good"], (
        "each row should name the run its version came from")

    for row in table.values():
        row["aliases"].append("reviewed")  # the table is the caller's to annotate
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test), (
        "setup: version 2 (good) should beat the weak champion")
    listed = {row["version"]: row["aliases"] for row in compare_versions(registry.tracking_uri, mlflow_name,
                                                                         registry.X_test, registry.y_test)}
    in_registry = aliases_in_registry()
    assert listed == in_registry, (
        f"after version 2 was promoted (and the caller wrote a note into the first table's lists) a new table "
        f"should list the aliases the registry has now, {in_registry}, not {listed}: read them afresh on every call "
        "and give each row a list of its own")


def test_uses_the_metric_and_the_rows_asked_for(registry, mlflow_name, test_side_mlflow):
    from sklearn.metrics import accuracy_score

    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test, metric="accuracy")
    with test_side_mlflow() as mlflow:
        model = mlflow.sklearn.load_model(f"models:/{mlflow_name}/1")
    expected = accuracy_score(registry.y_test, model.predict(registry.X_test))
    assert table[0]["score"] == pytest.approx(expected, abs=1e-9), f"with metric='accuracy' the score should be {expected:.4f}"
    half = len(registry.y_test) // 2
    X, y = registry.X_test[:half], registry.y_test[:half]
    expected_half = accuracy_score(y, model.predict(X))
    assert expected_half != pytest.approx(expected, abs=1e-6), "setup: the first half should score differently"
    table = compare_versions(registry.tracking_uri, mlflow_name, X, y, "accuracy")  # metric by position: allowed
    assert table[0]["score"] == pytest.approx(expected_half, abs=1e-9), (
        f"called again with only the first {half} rows (and metric passed by position, as the contract allows), "
        f"the score should be {expected_half:.4f} on those rows, "
        f"not {table[0]['score']:.4f}: score the rows given on every call, never a remembered score")
    with pytest.raises(ValueError):
        compare_versions(registry.tracking_uri, mlflow_name, X, y, metric="precision_at_7")
        pytest.fail("metric='precision_at_7' cannot score any version: compare_versions should raise ValueError "
                    "(as evaluate does), not fill the table with empty or NaN scores")


def test_scores_the_rows_given_even_after_a_promotion_scored_them(registry, held_out, mlflow_name, test_side_mlflow):
    from sklearn.metrics import roc_auc_score

    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test), (
        "setup: the first challenger should become champion")
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test), (
        "setup: the good version 2 should beat the weak champion on all the test rows")
    half = len(registry.y_test) // 2
    with test_side_mlflow() as mlflow:
        models = {v: mlflow.sklearn.load_model(f"models:/{mlflow_name}/{v}") for v in ("1", "2")}
    previous = {"2": held_out["good"]}
    # The second half, then the first: as many rows as each other, so a score remembered by shape would be reused.
    for where, rows in (("last", slice(half, 2 * half)), ("first", slice(0, half))):
        X, y = registry.X_test[rows], registry.y_test[rows]
        expected = {v: roc_auc_score(y, model.predict_proba(X)[:, 1]) for v, model in models.items()}
        assert expected["2"] != pytest.approx(previous["2"], abs=1e-6), "setup: each half should score differently"
        scores = {row["version"]: row["score"] for row in compare_versions(registry.tracking_uri, mlflow_name, X, y)}
        assert scores == pytest.approx(expected, abs=1e-9), (
            f"on the {where} {len(y)} rows the versions score {expected}, got {scores}: the table scores the rows it "
            "is given now, on every call (a score recorded at a promotion, or by an earlier call on as many other "
            "rows, is not a score on these rows)")
        previous = expected


def test_a_model_created_again_under_its_old_name_is_scored_afresh(registry, held_out, mlflow_name):
    import mlflow

    def scores():
        table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
        return {row["version"]: row["score"] for row in table}

    for run in ("weak", "best"):
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
    before = scores()
    assert before == pytest.approx({"1": held_out["weak"], "2": held_out["best"]}, abs=1e-9), (
        f"setup: version 1 is the weak model and version 2 the best one: {before}")
    # A team starts the model over: deleted, then created again, its versions numbered from 1 again.
    mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri
                        ).delete_registered_model(mlflow_name)
    for run in ("best", "weak"):
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
    expected = {"1": held_out["best"], "2": held_out["weak"]}
    after = scores()
    assert after == pytest.approx(expected, abs=1e-9), (
        f"{mlflow_name!r} was deleted and created again: on the same rows as before, version 1 is now the best model "
        f"and version 2 the weak one, {expected}, but the table says {after}, the scores of the versions that had "
        "those numbers before: score every version on every call, never reuse a score kept from an earlier call "
        "(a version number names a model only while its registered model lives)")


def test_ties_are_ordered_by_version_number_not_text(registry, mlflow_name, test_side_mlflow):
    with test_side_mlflow() as mlflow:
        for _ in range(11):
            mlflow.register_model(registry.model_uris["weak"], mlflow_name)
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    versions = [row["version"] for row in table]
    assert versions == [str(v) for v in range(1, 12)], (
        f"equal scores should be ordered by version number (1, 2, …, 10, 11), not as text; got {versions}")


def test_nearly_equal_scores_are_not_treated_as_ties(registry, mlflow_name, rows_one_apart):
    for run in ("good", "best"):
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
    # accuracy 0.49998 for version 1 and 0.50002 for version 2, a real difference of 1/20001.
    rows = rows_one_apart(mlflow_name, 10_000)
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test[rows], registry.y_test[rows],
                             metric="accuracy")
    scores = {row["version"]: row["score"] for row in table}
    assert scores["2"] > scores["1"], f"setup: version 2 should score a little higher: {scores}"
    assert [row["version"] for row in table] == ["2", "1"], (
        f"version 2 scores {scores['2']!r} and version 1 {scores['1']!r}: not equal, so the higher one comes first "
        "(sort by the score itself, not a rounded copy)")


def test_scores_apart_by_less_than_a_millionth_are_still_ordered(registry, mlflow_name, runs_one_pair_apart):
    # ROC AUC on 1,500 negative and 1,500 positive rows: version 2 ranks one pair more right, 1/1500² = 4.4e-7 higher.
    run_ids, X, y, scores = runs_one_pair_apart(1_500)
    assert round(scores[0], 6) == round(scores[1], 6), f"setup: both scores should round alike at 6 decimals: {scores}"
    for run_id in run_ids:
        register_challenger(registry.tracking_uri, run_id, mlflow_name)
    table = compare_versions(registry.tracking_uri, mlflow_name, X, y)
    versions = [row["version"] for row in table]
    assert versions == ["2", "1"], (
        f"version 2 scores {scores[1]!r} and version 1 {scores[0]!r}: less than a millionth apart, but not equal, so "
        f"version 2 comes first; got the order {versions} (sort by the exact score, not a copy rounded to 6 decimals)")


def test_lists_only_the_versions_of_the_model_asked_for(registry, mlflow_name, other_name):
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], other_name)
    register_challenger(registry.tracking_uri, registry.run_ids["best"], other_name)
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    rows = [(row["version"], row["run_id"]) for row in table]
    assert rows == [("1", registry.run_ids["good"])], (
        f"{mlflow_name!r} has one version (1, from the good run); the versions of {other_name!r} belong to another "
        f"model and must not be listed: got {len(rows)} rows {[v for v, _ in rows]} (match the name exactly: not "
        "as a prefix, not as a LIKE pattern, where '_' and '%' are wildcards, and neither trimmed nor case-folded)")


@pytest.mark.parametrize("shape", ["with-a-quote", "with-both-quotes", "written-like-a-filter"])
def test_lists_only_its_own_versions_when_the_name_holds_quotes(registry, mlflow_name, shape):
    # The registry accepts any name without '/' or ':', quotes too. Beside it: the model named like its
    # part before the quote, and one whose name differs only where the quotes are.
    name = {"with-a-quote": f"{mlflow_name}'s model",
            "with-both-quotes": f"{mlflow_name}'s \"best\" model",
            "written-like-a-filter": f"{mlflow_name}' AND name != '"}[shape]
    look_alike = name.replace("'", "_").replace('"', "_")
    register_challenger(registry.tracking_uri, registry.run_ids["good"], name)
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    register_challenger(registry.tracking_uri, registry.run_ids["best"], look_alike)
    table = compare_versions(registry.tracking_uri, name, registry.X_test, registry.y_test)
    run_names = {run_id: run for run, run_id in registry.run_ids.items()}
    rows = [(row["version"], run_names.get(row["run_id"], row["run_id"])) for row in table]
    assert rows == [("1", "good")], (
        f"{name!r} has one version (1, from the good run); {mlflow_name!r} and {look_alike!r} are other models "
        f"and their versions must not be listed: got rows (version, run) {rows}. A name may hold "
        "' and \" both, and a search filter has no escape for either: match the name exactly, not by pasting it "
        "into a filter string")


def test_a_deleted_version_has_no_row(registry, mlflow_name):
    import mlflow

    for run in ("good", "weak", "best"):
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
    client = mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    client.delete_model_version(mlflow_name, "2")  # a team cleaning up: the numbers 1 and 3 stay
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    versions = [row["version"] for row in table]
    assert versions == ["3", "1"], (
        f"after version 2 was deleted, {mlflow_name!r} has versions 1 and 3 only: list the versions the registry "
        f"has (not every number up to the latest), best first; got {versions}")


def test_lists_the_versions_on_every_page_of_a_search(registry, mlflow_name, monkeypatch):
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    for run in ("good", "weak", "best", "weak", "good"):
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
    search = SqlAlchemyStore.search_model_versions

    def in_pages_of_two(self, filter_string=None, max_results=10000, order_by=None, page_token=None):
        return search(self, filter_string, min(max_results, 2), order_by, page_token)

    # A registry answers a search one page at a time; this one as if its page held 2 versions.
    monkeypatch.setattr(SqlAlchemyStore, "search_model_versions", in_pages_of_two)
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    versions = sorted(row["version"] for row in table)
    assert versions == ["1", "2", "3", "4", "5"], (
        f"{mlflow_name!r} has versions 1 to 5, and the registry answers a search two versions at a time: read every "
        f"page (call again with page_token=page.token until the token is empty), not the first; got {versions}")


@pytest.mark.parametrize("store", ["registry", "served_registry"], ids=["direct store", "through the server"])
def test_aliases_are_sorted_whatever_order_the_registry_gives_them(request, store, mlflow_name, monkeypatch):
    import mlflow
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

    registry = request.getfixturevalue(store)
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    client = mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    for alias in ("zeta", "alpha", "mid"):
        client.set_registered_model_alias(mlflow_name, alias, "1")
    # This registry happens to answer in alphabetical order; another may answer in any order, as if this one
    # answered back to front.
    by_model, by_version = RegisteredModel.aliases.fget, ModelVersion.aliases.fget
    monkeypatch.setattr(RegisteredModel, "aliases", property(lambda self: dict(reversed(list(by_model(self).items()))),
                                                             RegisteredModel.aliases.fset))
    monkeypatch.setattr(ModelVersion, "aliases", property(lambda self: list(reversed(list(by_version(self) or []))),
                                                          ModelVersion.aliases.fset))
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    aliases = table[0]["aliases"]
    assert aliases == ["alpha", "challenger", "mid", "zeta"], (
        f"version 1 has the aliases 'zeta', 'alpha', 'mid' and 'challenger', and the registry gave them back to front; "
        f"the row should list them sorted, ['alpha', 'challenger', 'mid', 'zeta'], not {aliases}")


def test_rows_of_one_table_do_not_share_an_aliases_list(registry, mlflow_name):
    for run in ("weak", "good", "best"):
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
    # Version 3 is 'challenger'; versions 1 and 2 carry no alias at all.
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    before = {row["version"]: list(row["aliases"]) for row in table}
    assert before == {"1": [], "2": [], "3": ["challenger"]}, (
        f"setup: only version 3 should carry an alias ('challenger'); the table lists {before}")
    noted = next(row for row in table if row["version"] == "1")
    noted["aliases"].append("reviewed")  # the caller annotates one row of the table it got
    others = {row["version"]: row["aliases"] for row in table if row is not noted}
    expected = {v: a for v, a in before.items() if v != "1"}
    assert others == expected, (
        f"the caller wrote 'reviewed' into version 1's aliases only; the other rows should still list {expected}, "
        f"but they list {others}: give every row a list of its own, even rows with no alias")
