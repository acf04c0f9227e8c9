"""Task 5: roll the champion back to the version that served before it."""

import pytest

from registry import compare_versions, evaluate, promote_if_better, register_challenger, rollback

pytestmark = [pytest.mark.task(taskno=5), pytest.mark.mlflow, pytest.mark.timeout(240)]


def _client(uri):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion(uri, name) -> str:
    return str(_client(uri).get_model_version_by_alias(name, "champion").version)


def _state(uri, name) -> dict:
    """Everything a rollback could record in the registry: aliases, model tags and every version's tags."""
    client = _client(uri)
    model = client.get_registered_model(name)
    versions = {str(v.version): dict(client.get_model_version(name, v.version).tags)
                for v in client.search_model_versions(f"name = '{name}'")}
    return {"aliases": {a: str(v) for a, v in model.aliases.items()}, "tags": dict(model.tags),
            "version tags": versions}


def _offer(registry, name, run) -> bool:
    register_challenger(registry.tracking_uri, registry.run_ids[run], name)
    return promote_if_better(registry.tracking_uri, name, registry.X_test, registry.y_test)


def _rollbacks(registry, name, most=3) -> list[str]:
    """The versions successive rollbacks return, until one raises LookupError (at most `most`)."""
    steps = []
    for _ in range(most):
        try:
            steps.append(rollback(registry.tracking_uri, name))
        except LookupError:
            break
    return steps


def test_goes_back_to_the_previous_champion_not_the_previous_number(registry, mlflow_name):
    assert _offer(registry, mlflow_name, "good"), "setup: version 1 should have become champion"
    assert not _offer(registry, mlflow_name, "overclaimed"), "setup: version 2 should have been rejected"
    assert _offer(registry, mlflow_name, "best"), "setup: version 3 should have been promoted"
    back_to = rollback(registry.tracking_uri, mlflow_name)
    assert back_to == "1", (f"version 2 was rejected and never served; rolling back from 3 should return to "
                            f"the previous champion '1', not {back_to!r}")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1 again"
    with pytest.raises(LookupError):
        rollback(registry.tracking_uri, mlflow_name)  # version 1 was the first champion; 2 never served


def test_repeated_rollbacks_walk_further_back(registry, mlflow_name):
    for run in ("weak", "good", "best"):
        assert _offer(registry, mlflow_name, run), f"setup: the {run} model should have been promoted"
    assert rollback(registry.tracking_uri, mlflow_name) == "2", "the first rollback from 3 should return to 2"
    assert rollback(registry.tracking_uri, mlflow_name) == "1", "a second rollback should return to 1"
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "'champion' should now point at version 1"
    with pytest.raises(LookupError):
        rollback(registry.tracking_uri, mlflow_name)


def test_a_champion_set_by_hand_is_where_a_rollback_returns(registry, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    client = _client(registry.tracking_uri)
    # An operator put version 1 in production by hand, before this code managed the model.
    client.set_registered_model_alias(mlflow_name, "champion", "1")
    client.delete_registered_model_alias(mlflow_name, "challenger")
    assert _offer(registry, mlflow_name, "best"), "setup: version 2 (best) should beat the hand-set champion 1"
    back_to = rollback(registry.tracking_uri, mlflow_name)
    assert back_to == "1", (
        f"version 1 served (set by hand) before version 2 was promoted; rolling back should return to '1', "
        f"not {back_to!r}: record the champion a promotion replaces, however it became champion")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1 again"


def test_a_champion_moved_back_by_hand_is_where_a_rollback_returns(registry, held_out, mlflow_name):
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "good"), (
        "setup: versions 1 (weak) and 2 (good) should have been promoted in turn")
    # An operator moved production back to version 1 by hand, without calling rollback.
    _client(registry.tracking_uri).set_registered_model_alias(mlflow_name, "champion", "1")
    assert _offer(registry, mlflow_name, "overclaimed"), (
        f"the champion is version 1 again ({held_out['weak']:.3f}, set by hand); version 3 scores "
        f"{held_out['overclaimed']:.3f} and should be promoted: compare with the version 'champion' points at "
        "now, not with the last one your history recorded")
    back_to = rollback(registry.tracking_uri, mlflow_name)
    assert back_to == "1", (
        f"version 1 was serving (put back by hand) when version 3 was promoted; rolling back should return to "
        f"'1', not {back_to!r}: record the champion a promotion replaces whenever it is not the last one recorded, "
        "even if it served earlier too")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1 again"
    steps = [back_to, *_rollbacks(registry, mlflow_name, most=3)]
    assert steps == ["1", "2", "1"], (
        f"versions 1, 2, 1 (put back by hand) and 3 served in turn: rollbacks from 3 should return '1', '2', then '1' "
        f"and then raise LookupError, not {steps}: add the hand-set champion to the history (a version that served "
        "twice counts twice), do not write it over the last champion recorded")


@pytest.mark.parametrize("moved_to", ["3", "1"], ids=["to-a-version-never-promoted", "back-to-an-earlier-champion"])
def test_a_champion_moved_by_hand_since_the_last_promotion_rolls_back_to_the_last_promoted(
        registry, mlflow_name, moved_to):
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "good"), (
        "setup: versions 1 (weak) and 2 (good) should have been promoted in turn")
    register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    # An operator put version `moved_to` in production by hand, without promote_if_better: 1, 2, then it served.
    _client(registry.tracking_uri).set_registered_model_alias(mlflow_name, "champion", moved_to)
    first = rollback(registry.tracking_uri, mlflow_name)
    assert first == "2", (
        f"versions 1, 2 and (moved by hand) {moved_to} served in turn: the first rollback should return '2', the last "
        f"champion your history recorded, not {first!r}. The champion points at another version than the last one "
        "recorded, so it was moved by hand, even to a version that served earlier: do not pop the history then")
    assert _champion(registry.tracking_uri, mlflow_name) == "2", "the 'champion' alias should point at version 2 again"
    steps = [first, *_rollbacks(registry, mlflow_name)]
    assert steps == ["2", "1"], (
        f"versions 1, 2 and (moved by hand) {moved_to} served in turn: rollbacks should return '2', the champion "
        f"before the current one, then '1', then raise LookupError; got {steps}. When the champion is not the last "
        "one your history recorded, the last recorded one is the champion before it: do not pop it as if 2 were "
        "serving")


def test_one_promotion_then_a_champion_moved_by_hand_rolls_back_to_the_promoted(registry, mlflow_name):
    assert _offer(registry, mlflow_name, "good"), "setup: version 1 (good) should be the first champion"
    register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name)
    # An operator put version 2 in production by hand: 1, then 2 served, though only 1 was ever promoted.
    _client(registry.tracking_uri).set_registered_model_alias(mlflow_name, "champion", "2")
    steps = _rollbacks(registry, mlflow_name)
    assert steps == ["1"], (
        f"version 1 was promoted and then version 2 put in production by hand: two champions have served, so a "
        f"rollback should return to '1' and the next raise LookupError, not {steps}: check for a champion moved by "
        "hand before deciding there is no earlier champion")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1 again"


def test_a_promotion_after_a_rollback_builds_on_the_restored_champion(registry, held_out, mlflow_name):
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "good"), (
        "setup: versions 1 (weak) and 2 (good) should have been promoted in turn")
    assert rollback(registry.tracking_uri, mlflow_name) == "1", "setup: rolling back from 2 should return to 1"
    assert _offer(registry, mlflow_name, "overclaimed"), (
        f"after the rollback the champion is version 1 ({held_out['weak']:.3f}); version 3 scores "
        f"{held_out['overclaimed']:.3f} and should be promoted: compare with the current champion, "
        "not with a version that was rolled back")
    assert rollback(registry.tracking_uri, mlflow_name) == "1", (
        "rolling back from 3 should return to 1, the champion before it (2 was rolled back)")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1"


def test_a_rollback_run_by_another_process_finds_the_history(registry, held_out, mlflow_name, tmp_path):
    import inspect
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    # The other process runs a copy of your code in another folder, with its own home and temp folders,
    # as a rollback on another machine would: only what is in the registry is shared.
    code_dir = tmp_path / "elsewhere"
    code_dir.mkdir()
    for source in Path(inspect.getfile(rollback)).resolve().parent.glob("*.py"):
        shutil.copy(source, code_dir / source.name)
    env = {**os.environ, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp")}
    for folder in ("home", "tmp", "cwd"):
        (tmp_path / folder).mkdir()

    assert _offer(registry, mlflow_name, "good") and _offer(registry, mlflow_name, "best"), (
        "setup: versions 1 (good) and 2 (best) should have been promoted in turn")
    # Renamed, as a team might: what is kept with the registered model moves with it.
    renamed = f"{mlflow_name}-renamed"
    _client(registry.tracking_uri).rename_registered_model(mlflow_name, renamed)
    alias_uri = f"models:/{renamed}@champion"
    before = evaluate(registry.tracking_uri, alias_uri, registry.X_test, registry.y_test)
    assert before == pytest.approx(held_out["best"], abs=1e-9), f"{alias_uri} should load version 2 (best)"
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from registry import rollback; "
              "print('ROLLED_BACK_TO', rollback(sys.argv[2], sys.argv[3]))")
    done = subprocess.run([sys.executable, "-c", script, str(code_dir), registry.tracking_uri, renamed],
                          cwd=tmp_path / "cwd", env=env, capture_output=True, text=True, timeout=180)
    answer = [line for line in done.stdout.splitlines() if line.startswith("ROLLED_BACK_TO ")]
    assert done.returncode == 0 and answer == ["ROLLED_BACK_TO 1"], (
        f"a rollback of {renamed!r} (the model renamed after its promotions) run by another process (another "
        "folder) should find the history in the registry and return '1'; keep the history with the registered "
        "model (its tags, aliases or versions), not in your process or a file on this machine (not even one "
        "beside your code, in the temp folder or under /tmp). "
        f"exit {done.returncode}, stdout {done.stdout[-300:]!r}, stderr {done.stderr[-800:]!r}")
    assert _champion(registry.tracking_uri, renamed) == "1", "the 'champion' alias should point at version 1"
    after = evaluate(registry.tracking_uri, alias_uri, registry.X_test, registry.y_test)
    assert after == pytest.approx(held_out["good"], abs=1e-9), (
        f"after the rollback {alias_uri} should load version 1 (score {held_out['good']:.4f}), not {after:.4f}: "
        "an alias moves, so do not cache what it resolved to")


def _elsewhere(mlflow_name):
    """A second, independent copy of your module: it stands for code running in another process and
    shares nothing with this one but the registry."""
    import importlib.util
    import inspect

    spec = importlib.util.spec_from_file_location(f"registry_elsewhere_{mlflow_name.replace('-', '_')}",
                                                  inspect.getfile(rollback))
    elsewhere = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(elsewhere)
    return elsewhere


def test_each_call_reads_the_history_from_the_registry(registry, mlflow_name):
    elsewhere = _elsewhere(mlflow_name)
    for run in ("weak", "good", "best"):
        assert _offer(registry, mlflow_name, run), f"setup: the {run} model should have been promoted"
    assert elsewhere.rollback(registry.tracking_uri, mlflow_name) == "2", (
        "setup: a rollback made elsewhere from 3 should return to 2")
    back_to = rollback(registry.tracking_uri, mlflow_name)
    assert back_to == "1", (
        f"champions were 1, 2, 3 and a rollback made elsewhere already returned to 2; rolling back here should "
        f"return to '1', not {back_to!r}: read the history from the registry on every call, never a copy kept "
        "in this process")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1"


def test_a_promotion_reads_the_history_from_the_registry(registry, held_out, mlflow_name):
    elsewhere = _elsewhere(mlflow_name)
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "good"), (
        "setup: versions 1 (weak) and 2 (good) should have been promoted in turn here")
    assert elsewhere.rollback(registry.tracking_uri, mlflow_name) == "1", (
        "setup: a rollback made elsewhere from 2 should return to 1")
    assert _offer(registry, mlflow_name, "best"), (
        f"the champion is version 1 again ({held_out['weak']:.3f}); version 3 ({held_out['best']:.3f}) should be promoted")
    steps = _rollbacks(registry, mlflow_name)
    assert steps == ["1"], (
        "champions were 1, 2, then 1 again after a rollback made elsewhere (2 no longer counts), then 3: rolling back "
        f"from 3 should return to '1' and then raise LookupError, but the rollbacks returned {steps}: a promotion "
        "reads the recorded history from the registry too, not a copy this process wrote at its last promotion")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1"


@pytest.mark.timeout(1200)  # 210 promotions and rollbacks: a correct history kept in many tags is slow, not hung
def test_a_long_history_rolls_back_all_the_way_to_the_first_champion(registry, mlflow_name):
    uri = registry.tracking_uri
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "best"), (
        "setup: versions 1 (weak) and 2 (best) should have been promoted in turn")
    # 208 more promotions, each cheap: with 'champion' removed by hand there is nothing to score (and, as the
    # contract says, removing it erases no history).
    for number, run in enumerate(["weak", "best"] * 104, start=3):
        register_challenger(uri, registry.run_ids[run], mlflow_name)
        _client(uri).delete_registered_model_alias(mlflow_name, "champion")
        assert promote_if_better(uri, mlflow_name, registry.X_test, registry.y_test) is True, (
            f"setup: with 'champion' removed by hand, version {number} should be promoted unscored")
    assert _champion(uri, mlflow_name) == "210", "setup: version 210 should be champion after 210 promotions"
    steps = _rollbacks(registry, mlflow_name, most=210)
    numbers = [int(step) for step in steps]
    assert steps[-1:] == ["1"] and numbers == sorted(set(numbers), reverse=True) and numbers[0] < 210, (
        f"versions 1, 2, …, 210 were champion in turn ('champion' removed by hand before each promotion from 3 on, "
        f"which erases no history): rollbacks from 210 should walk back in the order they served to the first "
        f"champion, '1', then raise LookupError; got {len(steps)} steps, starting {steps[:4]} and ending {steps[-4:]}. "
        "Keep the whole history however long it grows (do not trim it to the last 64, 100, 200 or any other "
        "number) and order it by when each version became champion (numbers, not text: 100 comes after 99)")


def test_a_rollback_leaves_a_pending_challenger_where_it_is(registry, mlflow_name):
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "good"), (
        "setup: versions 1 (weak) and 2 (good) should have been promoted in turn")
    assert register_challenger(registry.tracking_uri, registry.run_ids["best"], mlflow_name) == "3", (
        "setup: version 3 should be registered as the challenger")
    assert rollback(registry.tracking_uri, mlflow_name) == "1", "rolling back from 2 should return to 1"
    aliases = _state(registry.tracking_uri, mlflow_name)["aliases"]
    assert (aliases.get("champion"), aliases.get("challenger")) == ("1", "3"), (
        "a rollback moves 'champion' only: 'champion' should point at version 1 again and the pending "
        f"'challenger', version 3, stay where it is for the next promotion decision: {aliases}")


def test_rolls_back_with_aliases_not_the_deprecated_stages(registry, mlflow_name):
    import warnings

    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "good"), (
        "setup: versions 1 (weak) and 2 (good) should have been promoted in turn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert rollback(registry.tracking_uri, mlflow_name) == "1", "rolling back from 2 should return to 1"
    deprecated = [str(w.message) for w in caught if issubclass(w.category, FutureWarning) and "deprecated" in str(w.message)]
    assert not deprecated, f"registry stages are deprecated since MLflow 2.9; roll back by moving the alias: {deprecated}"
    stages = {v.version: v.current_stage for v in _client(registry.tracking_uri).search_model_versions(f"name = '{mlflow_name}'")}
    assert set(stages.values()) == {"None"}, (
        f"a rollback moves the 'champion' alias only; no version should be moved to a stage: {stages}")


def test_with_only_one_champion_ever_is_a_lookup_error(registry, mlflow_name):
    assert _offer(registry, mlflow_name, "good"), "the good model should be promoted to champion"
    with pytest.raises(LookupError):
        rollback(registry.tracking_uri, mlflow_name)
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "a failed rollback must leave the champion alone"
    assert _offer(registry, mlflow_name, "best"), "setup: version 2 (best) should have been promoted"
    assert rollback(registry.tracking_uri, mlflow_name) == "1", (
        "after a failed rollback, promoting version 2 and rolling back should return to version 1: "
        "a rollback that finds no earlier champion must leave the recorded history as it was")


def test_a_failed_rollback_leaves_the_registry_as_it_was(registry, mlflow_name):
    assert _offer(registry, mlflow_name, "good"), "setup: version 1 (good) should be the first champion"
    register_challenger(registry.tracking_uri, registry.run_ids["weak"], mlflow_name)
    before = _state(registry.tracking_uri, mlflow_name)
    with pytest.raises(LookupError):
        rollback(registry.tracking_uri, mlflow_name)
        pytest.fail("version 1 is the only champion there ever was: rollback should raise LookupError")
    after = _state(registry.tracking_uri, mlflow_name)
    assert after == before, (
        "a rollback that finds no earlier champion changes nothing: no alias moves and no recorded history is "
        f"dropped or rewritten (look before you pop). before: {before}, after: {after}")


def test_a_champion_removed_by_hand_keeps_the_earlier_champions(registry, mlflow_name):
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "good"), (
        "setup: versions 1 (weak) and 2 (good) should have been promoted in turn")
    # An operator takes the model out of service for a while: no champion at all.
    _client(registry.tracking_uri).delete_registered_model_alias(mlflow_name, "champion")
    assert _offer(registry, mlflow_name, "best"), "with no champion, the challenger (version 3) should be promoted"
    steps = _rollbacks(registry, mlflow_name)
    assert steps in (["2", "1"], ["1"]), (
        f"champions in turn were 1, 2 and (after a pause with no champion) 3: rollbacks should walk back to the first "
        f"champion, '1' (through '2' if your history kept the champion that was removed), then raise LookupError; got "
        f"{steps}: a promotion with no champion adds to the recorded history, it does not start a new one")
    assert _champion(registry.tracking_uri, mlflow_name) == "1", "the 'champion' alias should point at version 1"


def test_process_uris_left_pointing_elsewhere_do_not_change_the_workflow(registry, mlflow_name, second_store):
    import mlflow

    def elsewhere():
        # As other code in the same process might have left them, before every call: another store.
        mlflow.set_tracking_uri(second_store)
        mlflow.set_registry_uri(second_store)

    for run in ("good", "best"):
        elsewhere()
        register_challenger(registry.tracking_uri, registry.run_ids[run], mlflow_name)
        elsewhere()
        assert promote_if_better(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test), (
            f"the {run} model should be promoted in the store at tracking_uri, whatever the process URIs say")
    elsewhere()
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    assert [r["version"] for r in table] == ["2", "1"] and "champion" in table[0]["aliases"], (
        f"the table of the test store should list versions 2 (champion, best) and 1: {table}")
    elsewhere()
    assert rollback(registry.tracking_uri, mlflow_name) == "1", "rolling back from 2 should return to 1"
    assert _champion(registry.tracking_uri, mlflow_name) == "1", (
        "the 'champion' alias of the test store should point at version 1 again")
    left = _client(second_store).search_registered_models(filter_string=f"name = '{mlflow_name}'")
    assert not left, (
        "MLflow's process-wide tracking and registry URIs pointed at another store before every call; nothing "
        f"should have been registered there, but it has {mlflow_name!r}: build clients with registry_uri=tracking_uri "
        "(or point both process URIs at tracking_uri) in every function")


def test_a_model_that_never_had_a_champion_has_nothing_to_roll_back(registry, mlflow_name):
    register_challenger(registry.tracking_uri, registry.run_ids["good"], mlflow_name)
    with pytest.raises(LookupError):
        rollback(registry.tracking_uri, mlflow_name)
        pytest.fail("nothing was ever promoted: rollback has no earlier champion and should raise LookupError")
    aliases = {a: str(v) for a, v in _client(registry.tracking_uri).get_registered_model(mlflow_name).aliases.items()}
    assert aliases.get("challenger") == "1" and "champion" not in aliases, (
        f"a failed rollback changes nothing: 'challenger' stays on 1 and there is still no champion: {aliases}")


def test_a_version_that_served_twice_is_rolled_back_in_the_order_it_served(registry, mlflow_name, test_side_mlflow):
    uri = registry.tracking_uri
    with test_side_mlflow() as mlflow:
        right = {run: mlflow.sklearn.load_model(registry.model_uris[run]).predict(registry.X_test) == registry.y_test
                 for run in ("weak", "best")}
    only_weak = right["weak"] & ~right["best"]
    assert only_weak.any(), "setup: the weak model should get some rows the best one misses"
    assert _offer(registry, mlflow_name, "weak") and _offer(registry, mlflow_name, "best"), (
        "setup: versions 1 (weak) and 2 (best) should have been promoted in turn")
    # The team offers version 1 again; on the rows only it gets right it wins 1.0 to 0.0.
    _client(uri).set_registered_model_alias(mlflow_name, "challenger", "1")
    assert promote_if_better(uri, mlflow_name, registry.X_test[only_weak], registry.y_test[only_weak],
                             metric="accuracy"), "setup: version 1, offered again, should win back 'champion'"
    assert _champion(uri, mlflow_name) == "1", "setup: version 1 should be champion again"
    steps = [rollback(uri, mlflow_name), rollback(uri, mlflow_name)]
    assert steps == ["2", "1"], (
        f"champions in turn were 1, 2, then 1 again: two rollbacks should return '2' then '1', not {steps} "
        "(keep every promotion in the history, in the order it happened, even of a version that served before)")
    with pytest.raises(LookupError):
        rollback(uri, mlflow_name)


def test_through_the_server_the_whole_workflow_works(served_registry, mlflow_name):
    registry = served_registry
    assert _offer(registry, mlflow_name, "good"), "through the server: the first challenger should become champion"
    assert not _offer(registry, mlflow_name, "overclaimed"), "through the server: a worse challenger must not be promoted"
    assert _offer(registry, mlflow_name, "best"), "through the server: a better challenger should be promoted"
    table = compare_versions(registry.tracking_uri, mlflow_name, registry.X_test, registry.y_test)
    assert table[0]["version"] == "3" and "champion" in table[0]["aliases"], (
        f"through the server: version 3 should lead the table as champion: {table}")
    assert rollback(registry.tracking_uri, mlflow_name) == "1", "through the server: rollback should return to version 1"
    champion_score = evaluate(registry.tracking_uri, f"models:/{mlflow_name}@champion", registry.X_test, registry.y_test)
    assert champion_score == pytest.approx(next(r["score"] for r in table if r["version"] == "1"), abs=1e-9), (
        "models:/<name>@champion should load the rolled-back version")

