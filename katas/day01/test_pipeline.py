"""Day 01: the DAG pipeline runner. Read these tests as the specification.

How error messages are checked. "Naming the stages involved" means:
- an unknown dependency: the message contains the unknown name;
- a cycle: the message contains every stage of at least one cycle, and no stage that
  could still have run (one that neither sits on a cycle nor waits, directly or not,
  for a stage on one). Listing just one cycle is fine; so is listing every blocked stage.
A stage counts as named when its name appears anywhere in the message, so the random
tests use names like `st07` that cannot turn up by accident.
"""

import asyncio
import functools
import gc
import itertools
import logging
import sys
import threading
import time
import types
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pipeline as learner_module
from pipeline import Pipeline

NAMES = [f"st{i:02d}" for i in range(12)]


# --- helpers ------------------------------------------------------------------------


class Recorder:
    """Stage functions that log each call and return an output unique to their stage."""

    def __init__(self, failing=()):
        self.calls = []
        self.failing = set(failing)

    def stage(self, name):
        def fn(**kwargs):
            self.calls.append((name, kwargs))
            if name in self.failing:
                raise RuntimeError(f"{name} broke")
            return ("output of", name)

        return fn

    def called(self):
        return [name for name, _ in self.calls]


def build(stages, recorder=None):
    recorder = recorder or Recorder()
    pipeline = Pipeline()
    for name, deps in stages:
        pipeline.add_stage(name, recorder.stage(name), depends_on=deps)
    return pipeline


def runnable(stages):
    """Stages the take rule reaches at all: the rest sit on a cycle or wait for one."""
    done = set()
    progress = True
    while progress:
        progress = False
        for name, deps in stages:
            if name not in done and set(deps) <= done:
                done.add(name)
                progress = True
    return done


def contains_cycle(names, deps):
    """True when the dependencies among `names` alone form a cycle (peel off stages until stuck)."""
    left = set(names)
    while True:
        free = {n for n in left if not (set(deps[n]) & left)}
        if not free:
            return bool(left)
        left -= free


def parameter_names_in(module):
    """Every parameter name of every function, method and nested function or lambda the module defines."""
    todo = []
    for value in vars(module).values():
        members = list(vars(value).values()) if isinstance(value, type) else []
        for member in [value, *members]:
            for fn in (member, getattr(member, "__func__", None), getattr(member, "fget", None)):
                code = getattr(fn, "__code__", None)
                if isinstance(code, types.CodeType) and getattr(fn, "__module__", None) == module.__name__:
                    todo.append(code)
    names, seen = set(), set()
    while todo:
        code = todo.pop()
        if code not in seen:
            seen.add(code)
            names.update(n for n in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount] if n.isidentifier())
            todo.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return names


def brute_force_order(stages):
    """Of all orders that respect every dependency, the first when compared by add position.

    `itertools.permutations` of the add-ordered names yields orders in exactly that
    sequence, so the first valid one is the answer; taking the earliest-added ready
    stage each time must produce the same order.
    """
    deps = dict(stages)
    for order in itertools.permutations(name for name, _ in stages):
        position = {name: i for i, name in enumerate(order)}
        if all(position[d] < position[name] for name in order for d in deps[name]):
            return list(order)
    raise AssertionError("the generated graph has no valid order")


@st.composite
def dags(draw, min_stages=1, max_stages=8):
    """(name, depends_on) pairs in add order; acyclic, but stages often come before their dependencies.

    Names are shuffled, so alphabetical order is not add order.
    """
    n = draw(st.integers(min_stages, max_stages))
    names = draw(st.permutations(NAMES))[:n]
    rank = draw(st.permutations(range(n)))  # a hidden topological order
    return [
        (names[i], [names[j] for j in range(n) if rank[j] < rank[i] and draw(st.booleans())])
        for i in range(n)
    ]


@st.composite
def graphs_with_a_cycle(draw):
    stages = draw(dags(min_stages=2))
    names = [name for name, _ in stages]
    length = draw(st.integers(2, len(names)))
    ring = draw(st.permutations(names))[:length]
    deps = {name: list(d) for name, d in stages}
    for here, there in zip(ring, ring[1:] + ring[:1]):
        if there not in deps[here]:
            deps[here].append(there)
    return [(name, deps[name]) for name in names]


# --- task 1: add_stage ------------------------------------------------------------


@pytest.mark.task(taskno=1)
def test_a_duplicate_stage_name_is_rejected_at_once():
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: 1)
    with pytest.raises(ValueError):
        pipeline.add_stage("ingest", lambda: 2)


@pytest.mark.task(taskno=1)
def test_adding_the_very_same_stage_twice_is_a_duplicate():
    def ingest():
        return "rows"

    def train(*, ingest):
        return len(ingest)

    pipeline = Pipeline()
    pipeline.add_stage("ingest", ingest)
    pipeline.add_stage("train", train, depends_on=["ingest"])
    for name, fn, depends_on in [("ingest", ingest, ()), ("train", train, ["ingest"])]:
        with pytest.raises(ValueError):
            pipeline.add_stage(name, fn, depends_on=depends_on)
            pytest.fail(
                f"adding {name!r} a second time, even with the same function and dependencies, "
                "should raise ValueError: the name is taken"
            )
    assert pipeline.execution_order() == ["ingest", "train"], (
        f"the rejected second calls must not change the pipeline; got {pipeline.execution_order()}"
    )


@pytest.mark.task(taskno=1)
def test_names_are_compared_by_value_not_by_identity():
    def fresh(name):
        """An equal string that is a different object, like a name read from a config file."""
        return "".join(list(name))

    pipeline = Pipeline()
    pipeline.add_stage(fresh("ingest"), lambda: "rows")
    with pytest.raises(ValueError):
        pipeline.add_stage(fresh("ingest"), lambda: "other rows")
        pytest.fail("a second 'ingest' is a duplicate even when the two names are different string objects")
    with pytest.raises(ValueError):
        pipeline.add_stage(fresh("train"), lambda **_: 0, depends_on=[fresh("train")])
        pytest.fail("'train' listing 'train' depends on itself even when the two names are different string objects")
    assert pipeline.run().outputs == {"ingest": "rows"}, (
        "both rejected calls must leave the pipeline with the first 'ingest' only"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("depends_on", [["train"], ["ingest", "train"], ("train",)])
def test_a_stage_depending_on_itself_is_rejected_at_once(depends_on):
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: 1)
    with pytest.raises(ValueError):
        pipeline.add_stage("train", lambda **_: 2, depends_on=depends_on)


@pytest.mark.task(taskno=1)
def test_a_stage_may_be_added_before_its_dependencies():
    pipeline = Pipeline()
    pipeline.add_stage("train", lambda *, ingest: ingest + 1, depends_on=["ingest"])
    pipeline.add_stage("ingest", lambda: 1)
    assert pipeline.execution_order() == ["ingest", "train"], (
        "a dependency added after its dependant must still come first in the order"
    )


@pytest.mark.task(taskno=1)
def test_depends_on_may_be_passed_by_position():
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("train", lambda *, ingest: f"model({ingest})", ["ingest"])
    assert pipeline.execution_order() == ["ingest", "train"], (
        "add_stage(name, fn, depends_on) takes depends_on as its third positional argument too: "
        f"'train' depends on 'ingest'; got {pipeline.execution_order()}"
    )
    assert pipeline.run().outputs == {"ingest": "rows", "train": "model(rows)"}, (
        "'train' should be called with ingest='rows' when its dependencies were passed by position"
    )


@pytest.mark.task(taskno=1)
def test_name_and_fn_may_be_passed_by_keyword():
    pipeline = Pipeline()
    try:
        pipeline.add_stage(name="ingest", fn=lambda: "rows")
        pipeline.add_stage(fn=lambda *, ingest: f"model({ingest})", name="train", depends_on=["ingest"])
    except TypeError as error:
        pytest.fail(
            "add_stage(name, fn, depends_on) takes each argument by keyword too: "
            f"add_stage(name='ingest', fn=...) raised TypeError: {error}"
        )
    assert pipeline.run().outputs == {"ingest": "rows", "train": "model(rows)"}, (
        "stages added with name= and fn= as keywords should run like any other: 'train' gets ingest='rows'"
    )


@pytest.mark.task(taskno=1)
def test_a_rejected_stage_leaves_the_pipeline_unchanged():
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "first")
    with pytest.raises(ValueError):
        pipeline.add_stage("ingest", lambda **_: "second", depends_on=["missing_source"])
    with pytest.raises(ValueError):
        pipeline.add_stage("loop_stage", lambda **_: 0, depends_on=["loop_stage"])
    assert pipeline.execution_order() == ["ingest"], (
        "after two rejected add_stage calls the pipeline should hold only the original 'ingest'"
    )
    report = pipeline.run()
    assert report.outputs == {"ingest": "first"}, (
        "a rejected duplicate must not replace the function of the stage already there"
    )
    pipeline.add_stage("loop_stage", lambda *, ingest: ingest + " again", depends_on=["ingest"])
    assert pipeline.run().outputs == {"ingest": "first", "loop_stage": "first again"}, (
        "a name whose add_stage call was rejected was never added, so adding it properly later must work"
    )


@pytest.mark.task(taskno=1)
def test_a_rejected_stage_leaves_none_of_its_dependencies_behind():
    recorder = Recorder()
    pipeline = Pipeline()
    pipeline.add_stage("train", recorder.stage("train"), depends_on=["features"])
    with pytest.raises(ValueError):
        pipeline.add_stage("train", recorder.stage("train"), depends_on=["ingest"])
    with pytest.raises(ValueError):
        pipeline.add_stage("report", recorder.stage("report"), depends_on=["ingest", "report"])
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    pipeline.add_stage("report", recorder.stage("report"), depends_on=["train"])
    pipeline.add_stage("features", recorder.stage("features"), depends_on=["ingest"])
    assert pipeline.execution_order() == ["ingest", "features", "train", "report"], (
        "the rejected calls listed 'ingest' as a dependency of 'train' and of 'report'; a rejected call "
        "changes nothing, so 'train' still waits for 'features' and 'report' for 'train'; "
        f"got {pipeline.execution_order()}"
    )
    assert list(pipeline.run().succeeded) == ["ingest", "features", "train", "report"], (
        f"every stage should be called after its real dependencies and succeed; calls were {recorder.called()}"
    )


@pytest.mark.task(taskno=1)
def test_a_rejected_duplicate_keeps_the_first_stage_in_its_place():
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("audit", lambda: "log")
    pipeline.add_stage("train", lambda *, ingest: f"model({ingest})", depends_on=["ingest"])
    with pytest.raises(ValueError):
        pipeline.add_stage("ingest", lambda: "other rows")
    assert pipeline.execution_order() == ["ingest", "audit", "train"], (
        "'ingest' was added first and the rejected second 'ingest' changes nothing, also not its place in "
        "the add order the tie rule uses: 'ingest' still goes before 'audit'; "
        f"got {pipeline.execution_order()}"
    )


@pytest.mark.task(taskno=1)
def test_a_rejected_self_dependent_stage_takes_no_place_in_the_add_order():
    pipeline = Pipeline()
    with pytest.raises(ValueError):
        pipeline.add_stage("report", lambda **_: "loop", depends_on=["report"])
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("report", lambda: "summary")
    assert pipeline.execution_order() == ["ingest", "report"], (
        "the first 'report' call was rejected, so it left no trace: 'report' was added after 'ingest' and, "
        f"with both ready at once, the tie rule puts 'ingest' first; got {pipeline.execution_order()}"
    )


@pytest.mark.task(taskno=1)
def test_a_fn_that_cannot_be_called_is_not_rejected_but_fails_its_stage():
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("train", None, depends_on=["ingest"])
    pipeline.add_stage("deploy", lambda *, train: train, depends_on=["train"])
    pipeline.add_stage("report", lambda: "done")
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["ingest", "report"], ["train"], ["deploy"]
    ), (
        "add_stage checks only duplicate names and self-dependencies: a fn that is not callable is stored, "
        "and calling it raises TypeError, so 'train' fails, 'deploy' is skipped and 'report' still runs; "
        f"got {report}"
    )


@pytest.mark.task(taskno=1)
def test_a_dependency_listed_twice_counts_once():
    pipeline = Pipeline()
    pipeline.add_stage("train", lambda *, ingest: ingest + 1, depends_on=["ingest", "ingest"])
    pipeline.add_stage("ingest", lambda: 1)
    assert pipeline.execution_order() == ["ingest", "train"], (
        "'train' lists 'ingest' twice: that is still one dependency, not a cycle nor a stage that never runs"
    )
    report = pipeline.run()
    assert report.outputs == {"ingest": 1, "train": 2} and list(report.succeeded) == ["ingest", "train"], (
        f"'train' should be called once with ingest=1 and succeed; got {report}"
    )


@pytest.mark.task(taskno=1)
def test_a_dependency_listed_twice_does_not_stand_in_for_another():
    pipeline = Pipeline()
    pipeline.add_stage(
        "train", lambda *, ingest, labels: (ingest, labels), depends_on=["ingest", "ingest", "labels"]
    )
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("labels", lambda: "tags")
    assert pipeline.execution_order() == ["ingest", "labels", "train"], (
        "'train' lists 'ingest' twice and 'labels' once: taking 'ingest' satisfies one dependency only, so "
        f"'train' must still wait for 'labels'; got {pipeline.execution_order()}"
    )
    report = pipeline.run()
    assert report.outputs.get("train") == ("rows", "tags"), (
        f"'train' should be called once with ingest='rows' and labels='tags'; got {report}"
    )


@pytest.mark.task(taskno=1)
def test_a_name_need_not_be_a_python_identifier():
    pipeline = Pipeline()
    pipeline.add_stage("model.v2", lambda **inputs: sorted(inputs.items()), depends_on=["feature-store"])
    pipeline.add_stage("feature-store", lambda: "features")
    pipeline.add_stage("2024 snapshot", lambda: "rows")
    assert pipeline.execution_order() == ["feature-store", "model.v2", "2024 snapshot"], (
        "any string is a stage name: add_stage rejects only a duplicate name and a self-dependency; "
        f"got {pipeline.execution_order()}"
    )
    assert pipeline.run().outputs == {
        "feature-store": "features", "model.v2": [("feature-store", "features")], "2024 snapshot": "rows"
    }, "a stage whose dependency is not a Python identifier still gets its output as a keyword argument (**inputs)"


@pytest.mark.task(taskno=1)
def test_names_that_differ_only_in_case_or_spaces_and_the_empty_name_are_all_distinct():
    pipeline = Pipeline()
    pipeline.add_stage("", lambda: "blank")
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("Ingest", lambda: "ROWS")
    pipeline.add_stage(" ingest ", lambda **inputs: sorted(inputs.items()), depends_on=["", "ingest", "Ingest"])
    pipeline.add_stage("audit", lambda **inputs: sorted(inputs), depends_on=[" ingest "])
    assert pipeline.execution_order() == ["", "ingest", "Ingest", " ingest ", "audit"], (
        "any string is a stage name, exactly as given: the empty string, 'ingest', 'Ingest' and ' ingest ' "
        f"are four different stages; got {pipeline.execution_order()}"
    )
    outputs = pipeline.run().outputs
    assert outputs == {
        "": "blank", "ingest": "rows", "Ingest": "ROWS", " ingest ": [("", "blank"), ("Ingest", "ROWS"), ("ingest", "rows")],
        "audit": [" ingest "],
    }, (
        "each of the four stages should run under its own name and ' ingest ' should get the other three outputs; "
        "'audit' depends on ' ingest ' exactly as given (spaces included), so it gets that stage's output under "
        f"the key ' ingest ', not the output of 'ingest'; outputs were {outputs}"
    )


@pytest.mark.task(taskno=1)
def test_changing_the_callers_list_later_changes_nothing():
    depends_on = ["ingest"]
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: 1)
    pipeline.add_stage("train", lambda **inputs: sorted(inputs), depends_on=depends_on)
    depends_on.append("labels")
    assert pipeline.execution_order() == ["ingest", "train"], (
        "add_stage should keep its own copy of depends_on: appending 'labels' to the caller's list "
        "afterwards must not give 'train' a new (unknown) dependency"
    )
    assert pipeline.run().outputs == {"ingest": 1, "train": ["ingest"]}, (
        "'train' should still be called with ingest only after the caller changed its own list"
    )


# --- task 2: execution_order -----------------------------------------------------


@pytest.mark.task(taskno=2)
def test_an_empty_pipeline_has_an_empty_order():
    assert Pipeline().execution_order() == [], "a pipeline with no stages has nothing to order"


@pytest.mark.task(taskno=2)
def test_a_chain_added_backwards_is_ordered_forwards():
    stages = [("deploy", ["evaluate"]), ("evaluate", ["train"]), ("train", ["ingest"]), ("ingest", [])]
    assert build(stages).execution_order() == ["ingest", "train", "evaluate", "deploy"], (
        "each stage must come after the stage it depends on, whatever the add order"
    )


@pytest.mark.task(taskno=2)
def test_the_earliest_added_ready_stage_goes_next():
    # After 'ingest', both 'train' and 'report' are ready; 'train' was added first.
    stages = [("ingest", []), ("train", ["ingest"]), ("report", [])]
    assert build(stages).execution_order() == ["ingest", "train", "report"], (
        "when several stages are ready, the one added earliest goes next: 'train' was added "
        "before 'report' (not first-come-first-served, not alphabetical)"
    )


@pytest.mark.task(taskno=2)
def test_the_ml_lifecycle_added_out_of_order():
    stages = [
        ("monitor", ["deploy"]),
        ("deploy", ["evaluate"]),
        ("evaluate", ["train", "validate"]),
        ("train", ["validate"]),
        ("validate", ["ingest"]),
        ("ingest", []),
    ]
    assert build(stages).execution_order() == [
        "ingest", "validate", "train", "evaluate", "deploy", "monitor"
    ], "the lifecycle must run ingest → validate → train → evaluate → deploy → monitor"


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize(
    "stages, unknown",
    [
        ([("ingest", []), ("train", ["ingest", "feature_store_v2"])], ["feature_store_v2"]),
        ([("ingest", []), ("train", ["ingest", "feature_store_v2", "label_store"])], ["feature_store_v2", "label_store"]),
        ([("train", ["feature_store_v2"]), ("report", ["label_store"]), ("audit", ["feature_store_v2"])],
         ["feature_store_v2", "label_store"]),
        ([("ingest", []), ("modèle", ["ingest", "données_brutes"])], ["données_brutes"]),
    ],
    ids=["one", "two-in-one-stage", "two-in-two-stages", "non-ascii"],
)
def test_an_unknown_dependency_is_rejected_naming_it(stages, unknown):
    pipeline = build(stages)
    with pytest.raises(ValueError) as error:
        pipeline.execution_order()
        pytest.fail(f"{unknown} are not stages, so execution_order() should raise ValueError")
    assert any(name in str(error.value) for name in unknown), (
        f"the error should name the unknown dependency (with several, at least one of {unknown}); "
        f"it said: {error.value}"
    )


@pytest.mark.task(taskno=2)
def test_a_bare_string_depends_on_means_one_letter_stages():
    # A str is a sequence of one-letter names like any other sequence: one dependency is ["ingest"].
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "rows")
    try:
        pipeline.add_stage("train", lambda **_: "model", depends_on="ingest")
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the message names what came instead
        pytest.fail(f"add_stage('train', fn, depends_on='ingest') should be accepted, it raised {exc!r}")
    try:
        order = pipeline.execution_order()
    except ValueError:
        pass
    else:
        pytest.fail(f"depends_on='ingest' means the stages 'i', 'n', 'g', 'e', 's', 't', none of which exists yet: "
                    f"execution_order() should raise ValueError for them, it returned {order}")
    for letter in "ingest":
        pipeline.add_stage(letter, lambda: None)
    order = pipeline.execution_order()
    assert order == ["ingest", "i", "n", "g", "e", "s", "t", "train"], (
        "once the one-letter stages 'i', 'n', 'g', 'e', 's', 't' exist, 'train' (which depends on them, not on "
        f"'ingest') comes after all of them: expected ['ingest', 'i', 'n', 'g', 'e', 's', 't', 'train'], got {order}"
    )


@pytest.mark.task(taskno=2)
def test_an_unknown_dependency_is_named_even_beside_a_cycle():
    pipeline = build([("fit_model", ["tune_hparams"]), ("tune_hparams", ["fit_model"]),
                      ("report", ["feature_store_v2"])])
    with pytest.raises(ValueError) as error:
        pipeline.execution_order()
    assert "feature_store_v2" in str(error.value), (
        "an unknown dependency always raises an error naming it, also when the pipeline has a cycle "
        f"as well; it said: {error.value}"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("first, second", [("fit_model", "tune_hparams"), ("modèle", "réglage")], ids=["ascii", "non-ascii"])
def test_a_two_stage_cycle_is_rejected_naming_both(first, second):
    pipeline = build([(first, [second]), (second, [first])])
    with pytest.raises(ValueError) as error:
        pipeline.execution_order()
    for name in (first, second):
        assert name in str(error.value), (
            f"{first!r} and {second!r} depend on each other; the error should name both, as they are (a name "
            f"escaped the way json.dumps or ascii() writes it, 'mod\\u00e8le', does not name it); it said: {error.value}"
        )


@pytest.mark.task(taskno=2)
def test_a_cycle_error_names_the_cycle_and_no_stage_that_could_run():
    stages = [
        ("ingest", []),
        ("fit_model", ["ingest", "score_model"]),
        ("score_model", ["tune_hparams"]),
        ("tune_hparams", ["fit_model"]),
        ("publish_report", ["ingest"]),
    ]
    with pytest.raises(ValueError) as error:
        build(stages).execution_order()
    message = str(error.value)
    for name in ("fit_model", "score_model", "tune_hparams"):
        assert name in message, f"the error should name every stage on the cycle, {name!r} is missing: {message}"
    for name in ("ingest", "publish_report"):
        assert name not in message, (
            f"{name!r} is not blocked by the cycle, so the error should not name it: {message}"
        )


@pytest.mark.task(taskno=2)
def test_a_long_cycle_is_named_in_full():
    ring = [f"step{i:02d}" for i in range(60)]
    stages = [("ingest", [])] + [(name, [ring[i - 1]]) for i, name in enumerate(ring)]
    with pytest.raises(ValueError) as error:
        build(stages).execution_order()
    missing = [name for name in ring if name not in str(error.value)]
    assert not missing, (
        f"the only cycle runs through all {len(ring)} 'step' stages, so the error should name every one of "
        f"them, also in a long pipeline; {missing} are missing: {error.value}"
    )


@pytest.mark.task(taskno=2)
def test_a_cycle_behind_many_waiting_stages_is_still_named():
    # 150 stages, added first, wait in a chain on the cycle 'fit_model' <-> 'tune_hparams', added last: a message
    # cut after the first 100 blocked stages (in add order) never reaches the cycle.
    chain = [f"wait{i:03d}" for i in range(150)]
    recorder = Recorder()
    pipeline = Pipeline()
    previous = ["fit_model"]
    for name in chain:
        pipeline.add_stage(name, recorder.stage(name), depends_on=previous)
        previous = [name]
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    pipeline.add_stage("fit_model", recorder.stage("fit_model"), depends_on=["ingest", "tune_hparams"])
    pipeline.add_stage("tune_hparams", recorder.stage("tune_hparams"), depends_on=["fit_model"])
    for call in (pipeline.execution_order, pipeline.run):
        with pytest.raises(ValueError) as error:
            call()
            pytest.fail(f"{call.__name__}() should raise ValueError: 'fit_model' and 'tune_hparams' form a cycle")
        message = str(error.value)
        missing = [name for name in ("fit_model", "tune_hparams") if name not in message]
        assert not missing, (
            f"{call.__name__}() should name both stages of the cycle 'fit_model' <-> 'tune_hparams' however many "
            f"stages wait on it (here 150): the message must not be cut short; {missing} are missing from a "
            f"message ending ...{message[-200:]}"
        )
        assert "ingest" not in message, (
            f"'ingest' could still run, so {call.__name__}() should not name it; it said: ...{message[-200:]}"
        )
    assert recorder.called() == [], f"no stage may be called; calls were {recorder.called()}"


def _assert_only_the_cycle_is_named(pipeline, recorder, *, runnable):
    """Both calls raise a ValueError naming the cycle 'fit_model' <-> 'tune_hparams' and no stage whose name
    contains `runnable` (those could still run); no stage is called."""
    for call in (pipeline.execution_order, pipeline.run):
        with pytest.raises(ValueError) as error:
            call()
            pytest.fail(f"{call.__name__}() should raise ValueError: 'fit_model' and 'tune_hparams' form a cycle")
        message = str(error.value)
        assert "fit_model" in message and "tune_hparams" in message, (
            f"{call.__name__}() should name both stages of the cycle 'fit_model' <-> 'tune_hparams'; "
            f"it said: {message[:300]}"
        )
        assert runnable not in message, (
            f"the '{runnable}' stages could still run, so {call.__name__}() should name none of them; "
            f"it said: {message[:300]}"
        )
    assert recorder.called() == [], f"no stage may be called; calls were {recorder.called()}"


@pytest.mark.task(taskno=2)
@pytest.mark.timeout(10)  # a walk over every upstream path never ends; the check needs milliseconds
def test_a_densely_connected_pipeline_waiting_on_a_cycle_is_rejected_without_walking_every_path():
    # The first step waits on the cycle 'fit_model' <-> 'tune_hparams' and every later step depends on
    # the whole step before it: 3**29 upstream paths lead from the last step to the cycle, so an
    # error message built by following every path never gets written.
    steps = [[f"step{k:02d}_{i}" for i in range(3)] for k in range(30)]
    recorder = Recorder()
    pipeline = Pipeline()
    previous = ["fit_model"]
    for step in steps:
        for name in step:
            pipeline.add_stage(name, recorder.stage(name), depends_on=previous)
        previous = step
    pipeline.add_stage("fit_model", recorder.stage("fit_model"), depends_on=["ingest", "tune_hparams"])
    pipeline.add_stage("tune_hparams", recorder.stage("tune_hparams"), depends_on=["fit_model"])
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    _assert_only_the_cycle_is_named(pipeline, recorder, runnable="ingest")


@pytest.mark.task(taskno=2)
@pytest.mark.timeout(10)  # a walk over every upstream path never ends; the check needs milliseconds
def test_a_cycle_waiting_on_a_densely_connected_pipeline_is_rejected_without_walking_every_path():
    # The cycle 'fit_model' <-> 'tune_hparams' sits below 30 densely connected steps that could all run:
    # 3**29 upstream paths lead from 'fit_model' to the first step, so a search for the cycle that
    # walks into the steps again for every path never comes back.
    steps = [[f"step{k:02d}_{i}" for i in range(3)] for k in range(30)]
    recorder = Recorder()
    pipeline = Pipeline()
    previous = []
    for step in steps:
        for name in step:
            pipeline.add_stage(name, recorder.stage(name), depends_on=previous)
        previous = step
    pipeline.add_stage("fit_model", recorder.stage("fit_model"), depends_on=[*steps[-1], "tune_hparams"])
    pipeline.add_stage("tune_hparams", recorder.stage("tune_hparams"), depends_on=["fit_model"])
    _assert_only_the_cycle_is_named(pipeline, recorder, runnable="step")


@pytest.mark.task(taskno=2)
def test_pipelines_share_no_order_even_with_as_many_stages():
    # Each round builds a new pipeline of two independent stages, added in the other order than the round
    # before, and drops it: the next one is often allocated at the same address (the same id()), so an
    # order cached per id() or per number of stages, or anywhere outside the pipeline, comes back stale.
    kept = Pipeline()
    kept.add_stage("audit", lambda: "log")
    kept.add_stage("ingest", lambda: "rows")
    assert kept.execution_order() == ["audit", "ingest"], "'audit' was added first and both are ready at once"
    for round_no in range(20):
        first, second = ("ingest", "audit") if round_no % 2 == 0 else ("notify", "ingest")
        pipeline = Pipeline()
        pipeline.add_stage(first, lambda: "first")
        pipeline.add_stage(second, lambda: "second")
        assert pipeline.execution_order() == [first, second], (
            f"a new pipeline with {first!r} added before {second!r} should order them so (round {round_no}): "
            "pipelines share nothing, also not an order cached for another pipeline with as many stages "
            f"(or at the same id()); got {pipeline.execution_order()}"
        )
        report = pipeline.run()
        assert list(report.succeeded) == [first, second] and report.outputs == {first: "first", second: "second"}, (
            f"run() of the new pipeline should call its own two stages, {first!r} then {second!r}; got {report}"
        )
        del pipeline, report
    assert kept.execution_order() == ["audit", "ingest"], (
        f"the first pipeline still has its own order; got {kept.execution_order()}"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.timeout(40)
def test_threads_asking_one_pipeline_for_its_order_at_once_each_get_the_whole_order():
    # 40 stages, each depending on the three before it, added backwards. Four threads ask for the order again and
    # again for a second while Python switches threads every microsecond, so the calls overlap: an order computed
    # in scratch state kept on the pipeline (self._indegree, self._ready, self._taken) is shared and comes out wrong.
    names = [f"st{i:02d}" for i in range(40)]
    pipeline = build([(name, names[max(0, i - 3):i]) for i, name in reversed(list(enumerate(names)))])
    start = threading.Barrier(4, timeout=15)
    wrong = []

    def ask():
        try:
            try:
                start.wait()
            except threading.BrokenBarrierError:
                pass  # a thread that started late only makes the overlap shorter
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and not wrong:
                order = pipeline.execution_order()
                if order != names:
                    wrong.append(order)
        except Exception as error:  # reported below, in the test's own thread
            wrong.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=ask, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=25)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads), "four threads asking for a 40-stage order should finish in seconds"
    assert not wrong, (
        "every execution_order() call, also one made while another thread asks the same pipeline, should return "
        f"the whole order st00 ... st39 (keep the order's working state in execution_order(), not on the "
        f"pipeline); {len(wrong)} calls got something else, the first: {wrong[0]!r:.300}"
    )


@pytest.mark.task(taskno=2)
def test_changing_the_returned_order_changes_nothing():
    recorder = Recorder()
    pipeline = build([("ingest", []), ("train", ["ingest"])], recorder)
    order = pipeline.execution_order()
    order.clear()
    assert pipeline.execution_order() == ["ingest", "train"], (
        "the list execution_order() returns is the caller's: clearing it must not change the pipeline's order; "
        f"it is now {pipeline.execution_order()}"
    )
    assert list(pipeline.run().succeeded) == ["ingest", "train"] and recorder.called() == ["ingest", "train"], (
        f"run() must still call both stages after the caller cleared a returned order; calls were {recorder.called()}"
    )


@pytest.mark.task(taskno=2)
def test_a_cycle_is_an_error_on_every_call():
    pipeline = build([("ingest", []), ("fit_model", ["tune_hparams"]), ("tune_hparams", ["fit_model"])])
    for attempt in ("first", "second"):
        with pytest.raises(ValueError):
            pipeline.execution_order()
            pytest.fail(f"the {attempt} execution_order() call on a pipeline with a cycle should raise ValueError")
    with pytest.raises(ValueError):
        pipeline.run()
        pytest.fail("run() on a pipeline with a cycle should raise ValueError, even after execution_order() raised")


@pytest.mark.task(taskno=2)
def test_an_unknown_dependency_is_named_on_every_call():
    pipeline = build([("ingest", []), ("train", ["ingest", "feature_store_v2"])])
    for attempt in ("first", "second"):
        with pytest.raises(ValueError) as error:
            pipeline.execution_order()
            pytest.fail(f"the {attempt} execution_order() call with an unknown dependency should raise ValueError")
        assert "feature_store_v2" in str(error.value), (
            f"the {attempt} execution_order() call should name the unknown dependency 'feature_store_v2' "
            f"(nothing was added in between); it said: {error.value}"
        )
    with pytest.raises(ValueError) as error:
        pipeline.run()
    assert "feature_store_v2" in str(error.value), (
        f"run() after execution_order() raised should still name the unknown dependency; it said: {error.value}"
    )


@pytest.mark.task(taskno=2)
def test_adding_the_missing_dependency_gives_the_pipeline_an_order():
    recorder = Recorder()
    pipeline = build([("train", ["ingest"]), ("report", ["train"])], recorder)
    with pytest.raises(ValueError):
        pipeline.execution_order()
        pytest.fail("'ingest' is not added yet, so execution_order() should raise ValueError")
    with pytest.raises(ValueError):
        pipeline.run()
        pytest.fail("'ingest' is not added yet, so run() should raise ValueError")
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    assert pipeline.execution_order() == ["ingest", "train", "report"], (
        "once the missing 'ingest' is added the pipeline is valid: an earlier error must not be remembered"
    )
    assert list(pipeline.run().succeeded) == ["ingest", "train", "report"], (
        f"run() should now call every stage; calls were {recorder.called()}"
    )


@pytest.mark.task(taskno=2)
def test_a_stage_added_after_an_order_was_computed_is_checked_like_the_others():
    recorder = Recorder()
    pipeline = build([("ingest", []), ("train", ["ingest"])], recorder)
    assert pipeline.execution_order() == ["ingest", "train"], "two stages, in dependency order"
    pipeline.run()
    pipeline.add_stage("deploy", recorder.stage("deploy"), depends_on=["train", "model_registry"])
    with pytest.raises(ValueError) as error:
        pipeline.execution_order()
        pytest.fail(
            "'deploy' was added after the order was computed and needs 'model_registry', which does not exist: "
            "execution_order() should raise ValueError, not extend the earlier order"
        )
    assert "model_registry" in str(error.value), (
        f"the error should name the unknown dependency 'model_registry'; it said: {error.value}"
    )
    calls_before = recorder.called()
    with pytest.raises(ValueError):
        pipeline.run()
        pytest.fail("run() should raise ValueError: 'deploy' depends on the unknown 'model_registry'")
    assert recorder.called() == calls_before, (
        "run() must raise before calling any stage when a stage added since the last run has an unknown "
        f"dependency; calls were {recorder.called()}"
    )


@pytest.mark.task(taskno=2)
def test_an_unknown_dependency_added_after_a_cycle_error_is_named():
    recorder = Recorder()
    pipeline = build([("fit_model", ["tune_hparams"]), ("tune_hparams", ["fit_model"])], recorder)
    with pytest.raises(ValueError):
        pipeline.execution_order()
        pytest.fail("'fit_model' and 'tune_hparams' depend on each other, so execution_order() should raise")
    pipeline.add_stage("report", recorder.stage("report"), depends_on=["feature_store_v2"])
    for call in (pipeline.execution_order, pipeline.run):
        with pytest.raises(ValueError) as error:
            call()
        assert "feature_store_v2" in str(error.value), (
            f"{call.__name__}() should name the unknown dependency 'feature_store_v2' of the stage added after "
            "the cycle error: errors are not remembered, every call checks the stages as they are now; "
            f"it said: {error.value}"
        )
    assert recorder.called() == [], f"no stage may be called; calls were {recorder.called()}"


@pytest.mark.task(taskno=2)
@given(dags(max_stages=6))
def test_order_matches_a_brute_force_reference(stages):
    expected = brute_force_order(stages)
    got = build(stages).execution_order()
    assert got == expected, (
        f"stages {stages} (in add order) should run as {expected}, got {got}"
    )


@pytest.mark.task(taskno=2)
@given(dags(max_stages=12))
def test_order_respects_every_dependency_and_the_tie_rule(stages):
    order = build(stages).execution_order()
    deps = dict(stages)
    assert sorted(order) == sorted(deps), f"the order {order} should hold every stage exactly once"
    taken = set()
    for name in order:
        assert set(deps[name]) <= taken, f"{name!r} comes before its dependencies {deps[name]} in {order}"
        earlier_ready = [
            other for other, _ in stages[: [n for n, _ in stages].index(name)]
            if other not in taken and set(deps[other]) <= taken
        ]
        assert not earlier_ready, (
            f"{earlier_ready[0]!r} was ready and added before {name!r}, so it should go first ({order})"
        )
        taken.add(name)


@pytest.mark.task(taskno=2)
@given(graphs_with_a_cycle())
def test_cycles_are_rejected_naming_a_cycle_and_only_blocked_stages(stages):
    with pytest.raises(ValueError) as error:
        build(stages).execution_order()
    message = str(error.value)
    named = {name for name, _ in stages if name in message}
    could_run = named & runnable(stages)
    assert not could_run, f"{sorted(could_run)} could still run, so the cycle error should not name them: {message}"
    assert contains_cycle(named, dict(stages)), (
        f"the cycle error should name every stage of at least one cycle in {stages}; it said: {message}"
    )


@pytest.mark.task(taskno=2)
@given(dags(), st.data())
def test_unknown_dependencies_are_rejected_naming_them(stages, data):
    index = data.draw(st.integers(0, len(stages) - 1))
    name, deps = stages[index]
    stages[index] = (name, deps + ["st99"])
    with pytest.raises(ValueError) as error:
        build(stages).execution_order()
    assert "st99" in str(error.value), f"the error should name the unknown dependency 'st99': {error.value}"


# --- task 3: run ---------------------------------------------------------------------


@pytest.mark.task(taskno=3)
def test_an_empty_pipeline_runs_nothing():
    report = Pipeline().run()
    assert report.outputs == {}, "an empty pipeline has no outputs"
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == ([], [], []), (
        "an empty pipeline has no succeeded, failed or skipped stages"
    )


@pytest.mark.task(taskno=3)
def test_an_empty_pipeline_returns_a_new_report_on_every_run():
    pipeline = Pipeline()
    first = pipeline.run()
    first.outputs["note"] = "annotated by its caller"
    first.succeeded.append("note")
    for again in (pipeline.run(), Pipeline().run()):
        assert again is not first and again.outputs == {} and list(again.succeeded) == [], (
            f"each run() returns a new report of that run only, also with no stages: a caller changed the first "
            f"report, and a later run returned {again}"
        )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize(
    "stages, named",
    [
        ([("ingest", []), ("train", ["ingest", "feature_store_v2"]), ("report", [])], ["feature_store_v2"]),
        ([("ingest", []), ("fit_model", ["ingest", "tune_hparams"]), ("tune_hparams", ["fit_model"])],
         ["fit_model", "tune_hparams"]),
    ],
    ids=["unknown-dependency", "cycle"],
)
def test_run_rejects_a_pipeline_that_has_no_execution_order(stages, named):
    recorder = Recorder()
    with pytest.raises(ValueError) as error:
        build(stages, recorder).run()
    for name in named:
        assert name in str(error.value), (
            f"run() has no execution order to follow, so it should raise the ValueError execution_order() "
            f"raises, naming {name!r}; it said: {error.value}"
        )
    assert recorder.called() == [], (
        "run() must raise before calling any stage: a pipeline with no execution order runs nothing, "
        f"not even the stages that could come first; calls were {recorder.called()}"
    )


@pytest.mark.task(taskno=3)
def test_each_stage_receives_its_dependencies_outputs_as_keyword_arguments():
    pipeline = Pipeline()
    pipeline.add_stage("train", lambda *, clean, features: f"model({clean},{features})", depends_on=["clean", "features"])
    pipeline.add_stage("clean", lambda *, ingest: ingest.strip(), depends_on=["ingest"])
    pipeline.add_stage("ingest", lambda: "  rows  ")
    pipeline.add_stage("features", lambda *, ingest: len(ingest), depends_on=["ingest"])
    report = pipeline.run()
    assert report.outputs == {
        "ingest": "  rows  ", "clean": "rows", "features": 8, "train": "model(rows,8)"
    }, "each stage should get exactly its dependencies' outputs as keyword arguments named after them"
    assert list(report.succeeded) == ["ingest", "clean", "features", "train"], (
        "succeeded should list the stages in execution order"
    )


@pytest.mark.task(taskno=3)
def test_a_stage_without_dependencies_is_called_with_no_arguments():
    received = []

    def ingest(*args, **kwargs):
        received.append((args, kwargs))
        return "rows"

    pipeline = Pipeline()
    pipeline.add_stage("ingest", ingest)
    pipeline.add_stage("train", lambda *, ingest: ingest, depends_on=["ingest"])
    pipeline.run()
    assert received == [((), {})], f"'ingest' has no dependencies and should be called as ingest(), got {received}"


@pytest.mark.task(taskno=3)
def test_a_stage_receives_the_very_object_its_dependency_returned():
    dataset = {"rows": [1, 2, 3]}
    received = {}

    def keep(name):
        def fn(*, ingest):
            received[name] = ingest
            return len(ingest["rows"])

        return fn

    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: dataset)
    pipeline.add_stage("train", keep("train"), depends_on=["ingest"])
    pipeline.add_stage("profile", keep("profile"), depends_on=["ingest"])
    report = pipeline.run()
    assert list(report.succeeded) == ["ingest", "train", "profile"], (
        f"all three stages should succeed; got {report}"
    )
    for name in ("train", "profile"):
        assert received[name] is dataset, (
            f"{name!r} should receive the object 'ingest' returned itself, not a copy of it"
        )
    assert report.outputs["ingest"] is dataset, "outputs should hold the object 'ingest' returned itself"


@pytest.mark.task(taskno=3)
def test_an_array_output_is_passed_on_without_being_compared():
    import numpy as np

    features = np.arange(6.0)  # like a DataFrame: no single truth value, and == compares cell by cell
    pipeline = Pipeline()
    pipeline.add_stage("features", lambda: features)
    pipeline.add_stage("train", lambda *, features: float(features.mean()), depends_on=["features"])
    report = pipeline.run()
    assert list(report.succeeded) == ["features", "train"] and not report.failed and not report.skipped, (
        "an array is an output like any other: the runner must not test its truth or compare it with "
        f"anything; got {report}"
    )
    assert report.outputs["features"] is features and report.outputs["train"] == 2.5, (
        f"'train' should get the array 'features' returned and output its mean 2.5; outputs were {report.outputs}"
    )


@pytest.mark.task(taskno=3)
def test_an_input_may_have_the_name_of_any_parameter():
    names = ["fn", "func", "f", "function", "target", "callback", "self", "name", "stage", "step", "task", "inputs",
             "kwargs", "kw", "args", "deps", "outputs", "value", "result", "report"]
    pipeline = Pipeline()
    for name in names:
        pipeline.add_stage(name, lambda name=name: name.upper())
    pipeline.add_stage("train", lambda **inputs: inputs, depends_on=names)
    report = pipeline.run()
    assert report.outputs.get("train") == {name: name.upper() for name in names}, (
        "'train' should be called with one keyword argument per dependency, whatever its name, also names "
        f"like 'fn' or 'self' that the runner may use for its own parameters; got {report}"
    )


@pytest.mark.task(taskno=3)
def test_an_input_may_share_its_name_with_a_parameter_of_the_runners_own_helpers():
    names = sorted(parameter_names_in(learner_module) | {"stage_fn", "stage_name", "callable_", "kwargs_"})
    pipeline = Pipeline()
    for name in names:
        pipeline.add_stage(name, lambda name=name: f"output of {name}")
    pipeline.add_stage("collect all inputs", lambda **inputs: inputs, depends_on=names)
    report = pipeline.run()
    assert report.outputs.get("collect all inputs") == {name: f"output of {name}" for name in names}, (
        "a stage should get one keyword argument per dependency whatever its name, also the name of a parameter "
        f"of a function in pipeline.py (a call helper such as _invoke(stage_fn, **inputs) clashes with an "
        f"input named 'stage_fn'; make such parameters positional-only with '/'); names were {names}; "
        f"failed={report.failed}"
    )


@pytest.mark.task(taskno=3)
def test_any_callable_can_be_a_stage():
    class Scale:
        def __init__(self, factor):
            self.factor = factor

        def __call__(self, *, ingest):
            return [x * self.factor for x in ingest]

        def shift(self, *, ingest):
            return [x + self.factor for x in ingest]

    pipeline = Pipeline()
    pipeline.add_stage("ingest", functools.partial(list, (1, 2, 3)))
    pipeline.add_stage("scaled", Scale(10), depends_on=["ingest"])
    pipeline.add_stage("shifted", Scale(1).shift, depends_on=["ingest"])
    pipeline.add_stage("bundle", dict, depends_on=["scaled", "shifted"])
    report = pipeline.run()
    assert list(report.succeeded) == ["ingest", "scaled", "shifted", "bundle"] and not report.failed, (
        "a stage function may be any callable (a functools.partial, an object with __call__, a bound method, "
        f"a class): each should be called like a function and succeed; got {report}"
    )
    assert report.outputs["bundle"] == {"scaled": [10, 20, 30], "shifted": [2, 3, 4]}, (
        f"'bundle' is dict(scaled=..., shifted=...); outputs were {report.outputs}"
    )


@pytest.mark.task(taskno=3)
def test_a_failing_stage_may_be_any_callable():
    class Gate:
        def __call__(self, **inputs):
            raise QualityGateFailed("accuracy below baseline")

        def check(self, **inputs):
            raise QualityGateFailed("no labels")

    pipeline = Pipeline()
    pipeline.add_stage("ingest", functools.partial(int, "not a number"))
    pipeline.add_stage("evaluate", Gate())
    pipeline.add_stage("labels", Gate().check)
    pipeline.add_stage("report", functools.partial(dict, status="done"))
    pipeline.add_stage("train", lambda **inputs: "model", depends_on=["ingest"])
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["report"], ["ingest", "evaluate", "labels"], ["train"]
    ), (
        "a functools.partial, an object with __call__ and a bound method that raise have failed like any "
        "stage (they have no __name__, so the runner must not need one); 'train' is skipped and 'report' "
        f"still runs; got {report}"
    )
    assert report.outputs == {"report": {"status": "done"}}, f"only 'report' succeeded; outputs were {report.outputs}"


@pytest.mark.task(taskno=3)
def test_one_function_may_serve_several_stages():
    def load(**inputs):
        return len(inputs)

    pipeline = Pipeline()
    pipeline.add_stage("ingest", load)
    pipeline.add_stage("labels", load)
    pipeline.add_stage("train", load, depends_on=["ingest", "labels"])
    report = pipeline.run()
    assert report.outputs == {"ingest": 0, "labels": 0, "train": 2}, (
        "the same function may be registered under several names; each stage is called once with its own "
        f"inputs; got {report}"
    )


@pytest.mark.task(taskno=3)
def test_a_stage_that_cannot_take_one_of_its_inputs_fails():
    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("labels", lambda: "tags")
    pipeline.add_stage("train", lambda *, ingest: f"model({ingest})", depends_on=["ingest", "labels"])
    pipeline.add_stage("deploy", lambda *, train: train, depends_on=["train"])
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["ingest", "labels"], ["train"], ["deploy"]
    ), (
        "'train' depends on 'ingest' and 'labels' but takes only ingest: called with both, it raises "
        f"TypeError, so it has failed and 'deploy' is skipped (inputs are never left out); got {report}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("takes", ["no parameters", "a positional parameter under another name"])
def test_a_stage_that_cannot_take_its_inputs_by_name_is_never_called_another_way(takes):
    bodies_run = []

    def no_parameters():
        bodies_run.append(())
        return "sent"

    def positional(data):
        bodies_run.append((data,))
        return f"model({data})"

    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "rows")
    pipeline.add_stage("train", no_parameters if takes == "no parameters" else positional, depends_on=["ingest"])
    pipeline.add_stage("deploy", lambda *, train: train, depends_on=["train"])
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["ingest"], ["train"], ["deploy"]
    ), (
        f"'train' depends on 'ingest' but takes {takes}: called as train(ingest='rows') it raises TypeError, "
        "so it has failed and 'deploy' is skipped; the runner must not drop the input nor pass it "
        f"positionally instead; got {report}"
    )
    assert bodies_run == [], (
        f"the call train(ingest='rows') fails before the function body runs; the body ran as {bodies_run}, "
        "so the runner called 'train' another way"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("falsy", [None, 0, False, "", [], {}], ids=repr)
def test_falsy_and_none_outputs_count_as_success(falsy):
    pipeline = Pipeline()
    pipeline.add_stage("notify", lambda: None)
    pipeline.add_stage("gate", lambda: falsy)
    pipeline.add_stage("check", lambda *, notify, gate: (notify, gate), depends_on=["notify", "gate"])
    report = pipeline.run()
    assert report.outputs == {"notify": None, "gate": falsy, "check": (None, falsy)}, (
        f"a stage that returns {falsy!r} without raising has succeeded (only raising is failing), and its "
        f"output is passed on; outputs were {report.outputs}"
    )
    assert list(report.succeeded) == ["notify", "gate", "check"] and not report.failed and not report.skipped, (
        f"all three stages should succeed in order notify, gate, check; got {report}"
    )


@pytest.mark.task(taskno=3)
def test_a_returned_exception_is_an_output_not_a_failure():
    found = ValueError("3 rows failed validation")
    pipeline = Pipeline()
    pipeline.add_stage("validate", lambda: found)
    pipeline.add_stage("report", lambda *, validate: f"report: {validate}", depends_on=["validate"])
    report = pipeline.run()
    assert list(report.succeeded) == ["validate", "report"] and not report.failed and not report.skipped, (
        "only raising is failing: a stage that returns an exception object has succeeded and its "
        f"dependants run; got {report}"
    )
    assert report.outputs == {"validate": found, "report": "report: 3 rows failed validation"}, (
        "the returned exception is the stage's output and is passed on like any other value; "
        f"outputs were {report.outputs}"
    )


@pytest.mark.task(taskno=3)
def test_stages_run_once_each_in_execution_order():
    stages = [("report", ["evaluate"]), ("ingest", []), ("evaluate", ["train"]), ("train", ["ingest"]), ("audit", [])]
    recorder = Recorder()
    pipeline = build(stages, recorder)
    order = pipeline.execution_order()
    pipeline.run()
    assert recorder.called() == order, f"stages should be called once each, in execution order {order}; calls were {recorder.called()}"


@pytest.mark.task(taskno=3)
def test_a_failure_skips_everything_downstream_and_nothing_else():
    stages = [
        ("ingest", []),
        ("validate", ["ingest"]),
        ("train", ["validate"]),
        ("deploy", ["train"]),
        ("profile", ["ingest"]),
        ("drift_report", ["profile"]),
        ("notify", []),
    ]
    recorder = Recorder(failing={"validate"})
    report = build(stages, recorder).run()
    assert list(report.failed) == ["validate"], f"only 'validate' raised, so only it has failed: {report.failed}"
    assert list(report.skipped) == ["train", "deploy"], (
        "'train' needs 'validate' and 'deploy' needs 'train': both must be skipped "
        f"(transitively), got {report.skipped}"
    )
    assert list(report.succeeded) == ["ingest", "profile", "drift_report", "notify"], (
        f"branches that do not need 'validate' must still run, got succeeded={report.succeeded}"
    )
    assert not {"train", "deploy"} & set(recorder.called()), "skipped stages must never be called"
    assert set(report.outputs) == {"ingest", "profile", "drift_report", "notify"}, (
        "outputs should hold the succeeded stages only"
    )


@pytest.mark.task(taskno=3)
def test_the_report_holds_plain_lists_that_stay_put():
    recorder = Recorder(failing={"labels"})
    stages = [("ingest", []), ("labels", []), ("train", ["ingest", "labels"]), ("profile", ["ingest"])]
    report = build(stages, recorder).run()
    expected = {"succeeded": ["ingest", "profile"], "failed": ["labels"], "skipped": ["train"]}
    for kind, names in expected.items():
        got = getattr(report, kind)
        assert isinstance(got, list) and got == names, (
            f"report.{kind} should be a plain list of names, {names}; got {got!r} ({type(got).__name__})"
        )
    report.outputs.clear()  # a caller freeing the artifacts once it has used them
    for kind, names in expected.items():
        assert getattr(report, kind) == names, (
            f"report.{kind} is the run's own list: clearing report.outputs must not change it; "
            f"it is now {getattr(report, kind)!r}"
        )


@pytest.mark.task(taskno=3)
def test_every_run_is_fresh_and_sees_stages_added_since():
    recorder = Recorder(failing={"labels"})
    pipeline = build([("ingest", []), ("labels", []), ("train", ["ingest", "labels"])], recorder)
    assert pipeline.execution_order() == ["ingest", "labels", "train"], "three stages, in add order"
    first = pipeline.run()
    second = pipeline.run()
    for kind in ("succeeded", "failed", "skipped"):
        assert list(getattr(second, kind)) == list(getattr(first, kind)), (
            f"a second run of the same pipeline should report the same .{kind} "
            f"({getattr(first, kind)}), not add to the first run's report; got {getattr(second, kind)}"
        )
    assert second.outputs == first.outputs == {"ingest": ("output of", "ingest")}, (
        "each run's outputs should hold that run's succeeded stages only"
    )
    assert recorder.called() == ["ingest", "labels"] * 2, (
        f"each run should call every stage that is not skipped again; calls were {recorder.called()}"
    )
    pipeline.add_stage("monitor", recorder.stage("monitor"), depends_on=["ingest"])
    assert pipeline.execution_order() == ["ingest", "labels", "train", "monitor"], (
        "a stage added after the order was computed must appear in the next execution_order()"
    )
    third = pipeline.run()
    assert list(third.succeeded) == ["ingest", "monitor"], (
        f"a stage added after a run must run in the next one; succeeded={third.succeeded}"
    )
    assert (list(first.succeeded), list(first.failed), list(first.skipped)) == (
        ["ingest"], ["labels"], ["train"]
    ) and first.outputs == {"ingest": ("output of", "ingest")}, (
        "each run() returns a new report: a report already handed out must not change when the "
        f"pipeline runs again; the first report now says {first}"
    )


@pytest.mark.task(taskno=3)
def test_the_pipeline_keeps_no_reference_to_a_runs_outputs():
    class Artifact:
        """A stand-in for a large dataset or model: only its lifetime matters here."""

    def evaluate(*, train):
        # The exception carries the model it judged (as many libraries' errors carry their input): a runner that
        # keeps the exception, even stripped of its traceback, keeps the model alive.
        raise QualityGateFailed("accuracy below baseline", train)

    pipeline = Pipeline()
    pipeline.add_stage("ingest", Artifact)
    pipeline.add_stage("train", lambda *, ingest: Artifact(), depends_on=["ingest"])
    pipeline.add_stage("evaluate", evaluate, depends_on=["train"])  # fails with the model as its input
    # pytest keeps every log record of a test, and a failure's record holds its traceback (and so the run's
    # variables): switch logging off here, so only what the runner itself keeps can hold an output.
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        for _ in range(2):  # the second run replaces nothing the first run left behind: both must be freed
            report = pipeline.run()
            assert (list(report.succeeded), list(report.failed)) == (["ingest", "train"], ["evaluate"]), (
                f"'ingest' and 'train' should succeed and 'evaluate' fail; got {report}"
            )
            alive = {name: weakref.ref(output) for name, output in report.outputs.items()}
            del report
            gc.collect()
            kept = sorted(name for name, ref in alive.items() if ref() is not None)
            assert not kept, (
                f"once run() has returned and its report is dropped, the outputs of {kept} should be freed: the "
                "pipeline must not keep a run's outputs (e.g. in self._outputs), nor the inputs or the exception "
                "of the failed 'evaluate' after run() returns (an exception's traceback holds run()'s variables, "
                "and this exception holds the model in its args, so keeping it without its traceback keeps the "
                "model too)"
            )
    finally:
        logging.disable(previous)


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(300)  # a hang guard only: correct runners that print tracebacks take 60 s+ on a busy machine
def test_pipelines_built_run_and_dropped_leave_nothing_behind():
    import tracemalloc

    def evaluate(*, train):
        raise QualityGateFailed("accuracy below baseline")

    def build_run_and_drop(number):
        # Each pipeline has stage names of its own (as real pipelines do): whatever is kept per stage name, per
        # graph or per failure outside the pipeline (a logger, a cached order, a failure history) then grows.
        ingest, train, evaluate_, deploy = (
            f"nightly_{stage}_{number:06d}" for stage in ("ingest", "train", "evaluate", "deploy")
        )
        pipeline = Pipeline()
        pipeline.add_stage(ingest, lambda: "rows")
        pipeline.add_stage(train, lambda **inputs: f"model({inputs[ingest]})", depends_on=[ingest])
        pipeline.add_stage(evaluate_, lambda **inputs: evaluate(train=inputs[train]), depends_on=[train])
        pipeline.add_stage(deploy, lambda **inputs: inputs[evaluate_], depends_on=[evaluate_])
        report = pipeline.run()
        assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
            [ingest, train], [evaluate_], [deploy]
        ), f"{ingest!r} and {train!r} should succeed, {evaluate_!r} fail and {deploy!r} be skipped; got {report}"
        return weakref.ref(pipeline)

    # pytest keeps every log record of a test: switch logging off, so only what the runner itself keeps can grow.
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        for number in range(100):  # warm up whatever Python itself caches
            build_run_and_drop(-number - 1)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for number in range(5000):
                build_run_and_drop(number)
            last = build_run_and_drop(5000)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    finally:
        logging.disable(previous)
    assert last() is None, (
        "a pipeline that was built, run and dropped should be freed: nothing outside it may keep it alive "
        "(a module-level registry, a functools.cache on a method)"
    )
    assert grown < 200_000, (
        f"5000 pipelines (each with stage names of its own) built, run and dropped left {grown} bytes behind: a "
        "pipeline leaves nothing outside itself (no logging handler added per pipeline or per run, no logger per "
        "stage name, no registry or history of failures, no cache of orders that outlives it)"
    )


class StageName(str):
    """A stage name that can be watched: unlike a plain str, it takes a weak reference."""


@pytest.mark.task(taskno=3)
def test_a_dropped_pipeline_keeps_none_of_its_stage_names_alive():
    # A bounded cache (functools.lru_cache(maxsize=128)) or history (deque(maxlen=...)) stays small, but it still keeps
    # the last pipelines' names: the README asks for none at all ("no cache of orders", "no history of failures").
    names = [StageName(stage) for stage in ("ingest", "train", "evaluate", "deploy")]
    watched = [weakref.ref(name) for name in names]

    def evaluate(**inputs):
        raise QualityGateFailed("accuracy below baseline")

    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # pytest keeps every log record of a test, and with it the names logged
    try:
        pipeline = Pipeline()
        pipeline.add_stage(names[0], lambda: "rows")
        pipeline.add_stage(names[1], lambda **inputs: "model", depends_on=[names[0]])
        pipeline.add_stage(names[2], evaluate, depends_on=[names[1]])
        pipeline.add_stage(names[3], lambda **inputs: "deployed", depends_on=[names[2]])
        order = pipeline.execution_order()
        assert order == names, f"the stages form a chain, so the order is {names}, got {order}"
        report = pipeline.run()
        assert list(report.failed) == [names[2]], f"{names[2]!r} should fail, got {report}"
        del pipeline, order, report, names, evaluate
    finally:
        logging.disable(previous)
    gc.collect()
    alive = [ref() for ref in watched if ref() is not None]
    assert not alive, (
        f"a pipeline that was built, ordered, run and dropped still keeps its stage names {alive} alive: nothing "
        "outside the pipeline may hold them, not even a bounded cache of orders (functools.lru_cache) or a short "
        "history of failures"
    )


@pytest.mark.task(taskno=3)
def test_pipelines_register_no_logger_of_their_own():
    def evaluate(**inputs):
        raise QualityGateFailed("accuracy below baseline")

    def build_and_run(number):
        # Each pipeline has stage names of its own (as real pipelines do), so a logger per stage name shows too.
        pipeline = Pipeline()
        pipeline.add_stage(f"ingest_{number}", lambda: "rows")
        pipeline.add_stage(f"evaluate_{number}", evaluate, depends_on=[f"ingest_{number}"])
        pipeline.run()
        return pipeline

    alive = [build_and_run(-number) for number in range(1, 6)]  # whatever the first pipelines set up once
    names = set(logging.Logger.manager.loggerDict)
    alive += [build_and_run(number) for number in range(50)]  # alive together: none shares an id() with another
    grown = sorted(set(logging.Logger.manager.loggerDict) - names)
    assert not grown, (
        f"50 more pipelines, each with stage names of its own, registered {len(grown)} more logger names "
        f"({grown[:3]}...): logging keeps every logger it ever made, so a logger per pipeline, per run or per "
        "stage name is never freed; log through one module-level logger"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, asyncio.CancelledError])
def test_a_run_stopped_half_way_leaves_no_output_on_the_pipeline(interrupt):
    class Artifact:
        """A stand-in for a large dataset: only its lifetime matters here."""

    made = []

    def ingest():
        made.append(Artifact())
        return made[-1]

    def train(*, ingest):
        raise interrupt()

    pipeline = Pipeline()
    pipeline.add_stage("ingest", ingest)
    pipeline.add_stage("train", train, depends_on=["ingest"])
    try:
        pipeline.run()
    except interrupt:
        pass  # the exception, its traceback and with it run()'s variables are dropped here
    else:
        pytest.fail(f"{interrupt.__name__} in 'train' should stop the run")
    dataset = weakref.ref(made.pop())
    gc.collect()
    assert dataset() is None, (
        f"after {interrupt.__name__} stopped the run and the exception was dropped, the output of 'ingest' should be "
        "freed: the pipeline must not keep a stopped run's outputs (clear run state in a finally, or keep it in "
        "run()'s local variables)"
    )


@pytest.mark.task(taskno=3)
def test_a_stage_may_run_a_sub_pipeline_without_disturbing_the_outer_run():
    def features(*, ingest):
        inner = Pipeline()  # a sub-pipeline that reuses the outer names 'ingest' and 'train'
        inner.add_stage("ingest", lambda: ingest.strip())
        inner.add_stage("train", lambda *, ingest: len(ingest), depends_on=["ingest"])
        inner.add_stage("lint", lambda *, ingest: ingest.no_such_method(), depends_on=["ingest"])  # fails
        inner_report = inner.run()
        return inner_report.outputs["train"], list(inner_report.failed)

    pipeline = Pipeline()
    pipeline.add_stage("ingest", lambda: "  rows  ")
    pipeline.add_stage("features", features, depends_on=["ingest"])
    pipeline.add_stage("train", lambda *, ingest, features: (ingest, features), depends_on=["ingest", "features"])
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["ingest", "features", "train"], [], []
    ), (
        "'features' runs a sub-pipeline of its own (with a failing stage): pipelines share nothing, so the outer "
        f"run's stages all succeed and its report lists only its own stages; got {report}"
    )
    assert report.outputs == {
        "ingest": "  rows  ", "features": (4, ["lint"]), "train": ("  rows  ", (4, ["lint"]))
    }, (
        "the inner run must not change the outer outputs: outer 'train' gets the outer 'ingest' output and what "
        f"'features' returned; outputs were {report.outputs}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(20)
def test_a_stage_may_wait_for_another_pipeline_running_in_another_thread():
    # A stage hands a second, independent pipeline to a worker thread and waits for its report (as a stage that
    # fans work out to a pool does). Pipelines share nothing, not even a lock: a runner that lets only one run of
    # any pipeline in at a time keeps the second pipeline waiting until the first one's run ends.
    inner = Pipeline()
    inner.add_stage("ingest", lambda: "rows")
    inner.add_stage("train", lambda *, ingest: f"model({ingest})", depends_on=["ingest"])
    reports = []

    def fan_out():
        worker = threading.Thread(target=lambda: reports.append(inner.run()), name="inner-run", daemon=True)
        worker.start()
        worker.join(timeout=10)  # a deadline, so a blocked inner run fails this test instead of hanging it
        return not worker.is_alive()

    outer = Pipeline()
    outer.add_stage("fan_out", fan_out)
    report = outer.run()
    assert report.outputs.get("fan_out") is True, (
        "'fan_out' ran a second pipeline in another thread and waited 10 seconds for it: pipelines share nothing, "
        "also no lock, so that run should finish while the first pipeline's run waits for it (a lock shared by "
        f"all pipelines keeps it waiting); the outer run reported {report}"
    )
    assert [(list(r.succeeded), r.outputs) for r in reports] == [(["ingest", "train"], {"ingest": "rows", "train": "model(rows)"})], (
        f"the second pipeline's run should call its own two stages and report them; got {reports}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(20)
def test_two_runs_of_one_pipeline_at_once_each_get_their_own_outputs():
    # Both runs meet inside 'wait', after each ran its own 'ingest' and 'labels' ('labels' fails in run-0 only).
    # A runner that keeps a run's outputs on the pipeline (self._outputs, even one cleared in a finally) lets the
    # second run replace the first one's; one that keeps which stages failed or must be skipped there (reset when
    # a run starts) skips 'audit' in the run where 'labels' succeeded, or calls it in the run where 'labels' failed.
    # A runner that lets only one run in at a time passes too: the meeting then times out and 'wait' goes on.
    meeting = threading.Barrier(2, timeout=2)

    def ingest():
        return threading.current_thread().name

    def labels():
        if threading.current_thread().name == "run-0":
            raise ConnectionError("label store unreachable from this worker")
        return "tags"

    def wait(*, ingest):
        try:
            meeting.wait()
        except threading.BrokenBarrierError:
            pass
        return ingest

    pipeline = Pipeline()
    pipeline.add_stage("ingest", ingest)
    pipeline.add_stage("labels", labels)
    pipeline.add_stage("wait", wait, depends_on=["ingest"])
    pipeline.add_stage("train", lambda *, ingest, wait: (ingest, wait), depends_on=["ingest", "wait"])
    pipeline.add_stage("audit", lambda *, labels: labels, depends_on=["labels"])
    results = {}

    def run_once():
        try:
            results[threading.current_thread().name] = pipeline.run()
        except Exception as error:  # reported below, in the test's own thread
            results[threading.current_thread().name] = error

    threads = [threading.Thread(target=run_once, name=f"run-{i}", daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads), "both runs should finish within seconds"
    expected = {
        "run-0": ({"ingest": "run-0", "wait": "run-0", "train": ("run-0", "run-0")},
                  ["ingest", "wait", "train"], ["labels"], ["audit"]),
        "run-1": ({"ingest": "run-1", "labels": "tags", "wait": "run-1", "train": ("run-1", "run-1"), "audit": "tags"},
                  ["ingest", "labels", "wait", "train", "audit"], [], []),
    }
    for name, (outputs, succeeded, failed, skipped) in expected.items():
        report = results.get(name)
        assert isinstance(report, learner_module.RunReport), f"run() in thread {name} should return a report; got {report!r}"
        assert report.outputs == outputs, (
            "two runs of one pipeline at the same time share nothing: each calls its stages with its own run's "
            f"outputs and returns its own report (keep a run's state in run(), not on the pipeline); the run in "
            f"thread {name} reported {report}"
        )
        assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (succeeded, failed, skipped), (
            "two runs at the same time each skip by their own failures: 'labels' failed in run-0 only, so 'audit' is "
            f"skipped in run-0 and runs in run-1 (keep which stages failed or are skipped in run(), not on the "
            f"pipeline); the run in thread {name} reported {report}"
        )


@pytest.mark.task(taskno=3)
def test_a_stage_that_failed_last_run_and_succeeds_now_lets_its_dependants_run():
    attempts = []

    def ingest():
        attempts.append("ingest")
        if len(attempts) == 1:
            raise ConnectionError("feature store unreachable")  # a flaky source: down on the first run only
        return "rows"

    recorder = Recorder()
    pipeline = Pipeline()
    pipeline.add_stage("ingest", ingest)
    pipeline.add_stage("train", recorder.stage("train"), depends_on=["ingest"])
    pipeline.add_stage("deploy", recorder.stage("deploy"), depends_on=["train"])
    first = pipeline.run()
    assert (list(first.failed), list(first.skipped)) == (["ingest"], ["train", "deploy"]), (
        f"in the first run 'ingest' raised, so 'train' and 'deploy' are skipped; got {first}"
    )
    second = pipeline.run()
    assert list(second.succeeded) == ["ingest", "train", "deploy"] and not second.failed and not second.skipped, (
        "outcomes are not remembered between runs: 'ingest' succeeded this time, so 'train' and 'deploy' must run "
        f"in this run and succeed, not stay skipped because of the earlier failure; got {second}"
    )
    assert recorder.called() == ["train", "deploy"], (
        f"'train' and 'deploy' should be called once each, in the second run; calls were {recorder.called()}"
    )


class WorkerShutdown(BaseException):
    """A BaseException that is not an Exception, as a job scheduler may raise to stop work."""


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize(
    "interrupt", [KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit, WorkerShutdown]
)
def test_ctrl_c_in_a_stage_stops_the_run(interrupt):
    recorder = Recorder()
    pipeline = Pipeline()
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    interrupted = []

    def train(**_):
        if not interrupted:  # only the first run is stopped, so a second one fails an assertion, not the session
            interrupted.append(interrupt)
            raise interrupt()
        return "model"

    pipeline.add_stage("train", train, depends_on=["ingest"])
    pipeline.add_stage("report", recorder.stage("report"))
    with pytest.raises(interrupt):
        pipeline.run()
    assert recorder.called() == ["ingest"], (
        f"{interrupt.__name__} is not a stage failure: it must stop the run, not be caught "
        f"(catch Exception, not BaseException); calls were {recorder.called()}"
    )
    recorder.failing.add("ingest")  # the next run fails at once
    pipeline.add_stage("monitor", recorder.stage("monitor"))
    report = pipeline.run()
    assert report.outputs == {"report": ("output of", "report"), "monitor": ("output of", "monitor")} and list(
        report.failed
    ) == ["ingest"], (
        "a run stopped half-way must leave nothing behind: the next run reports its own results only "
        "(ingest failed this time, so no ingest output) over every stage added so far ('monitor', added after "
        f"the stopped run, runs too); got {report}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("code", [0, None, 1, "usage error"], ids=repr)
def test_sys_exit_in_a_stage_stops_the_run_whatever_its_code(code):
    recorder = Recorder()
    pipeline = Pipeline()
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    pipeline.add_stage("train", lambda **_: sys.exit(code), depends_on=["ingest"])  # like a CLI's main()
    pipeline.add_stage("report", recorder.stage("report"))
    with pytest.raises(SystemExit) as exit_info:
        pipeline.run()
        pytest.fail(f"sys.exit({code!r}) in a stage should stop the run, not be read as the stage's outcome")
    assert exit_info.value.code == code, f"the SystemExit should leave run() as raised; got code {exit_info.value.code!r}"
    assert recorder.called() == ["ingest"], (
        f"SystemExit({code!r}) is not a stage result, also with code 0: it must stop the run before "
        f"'report'; calls were {recorder.called()}"
    )


class QualityGateFailed(Exception):
    """A project's own exception type, as a real stage would raise."""


class UnprintableError(Exception):
    """An exception whose message itself fails, as a half-initialised library error can."""

    def __str__(self):
        raise RuntimeError("the message of this error cannot be built")


class UnrepresentableError(Exception):
    """An exception whose repr() fails, as a library error whose __repr__ reads an attribute never set can."""

    def __repr__(self):
        raise RuntimeError("the repr of this error cannot be built")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize(
    "unprintable, which", [(UnprintableError, "str()"), (UnrepresentableError, "repr()")], ids=["str-raises", "repr-raises"]
)
def test_a_stage_raising_an_exception_that_cannot_be_printed_has_failed(unprintable, which, monkeypatch):
    # Outside pytest, logging reports a record it cannot format and goes on; do the same here, so only a
    # message the runner builds itself (an f-string, str() or repr() of the error) can break the run.
    monkeypatch.setattr(logging, "raiseExceptions", False)

    def evaluate(*, ingest):
        raise unprintable()

    recorder = Recorder()
    pipeline = Pipeline()
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    pipeline.add_stage("evaluate", evaluate, depends_on=["ingest"])
    pipeline.add_stage("deploy", recorder.stage("deploy"), depends_on=["evaluate"])
    pipeline.add_stage("report", recorder.stage("report"))
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["ingest", "report"], ["evaluate"], ["deploy"]
    ), (
        f"'evaluate' raised an Exception, so it has failed even though {which} of that exception raises: "
        "the runner's own failure message must not break the run (log lazily, e.g. log.exception('%s', name)); "
        f"got {report}"
    )


@pytest.mark.task(taskno=3)
def test_an_output_that_cannot_be_printed_is_a_success_passed_on(monkeypatch):
    # As in the test above: logging outside pytest reports a record it cannot format and goes on.
    monkeypatch.setattr(logging, "raiseExceptions", False)

    class Model:
        """A half-built object whose str(), repr() and format() raise, as a lazy proxy's can."""

        def __repr__(self):
            raise RuntimeError("the repr of this model cannot be built")

        __str__ = __repr__

        def __format__(self, spec):
            raise RuntimeError("this model cannot be formatted")

    model = Model()
    pipeline = Pipeline()
    pipeline.add_stage("train", lambda: model)
    pipeline.add_stage("deploy", lambda *, train: type(train).__name__, depends_on=["train"])
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (["train", "deploy"], [], []), (
        "'train' returned an object without raising, so it has succeeded even though str() and repr() of that "
        "object raise: the runner must not print outputs eagerly (an f-string log line inside the try turns a "
        f"success into a failure); got succeeded={report.succeeded}, failed={report.failed}, skipped={report.skipped}"
    )
    assert report.outputs["train"] is model and report.outputs["deploy"] == "Model", (
        "'deploy' should get the very object 'train' returned and output its type name 'Model'"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize(
    "error",
    [ZeroDivisionError("division by zero"), OSError("disk full"), AssertionError("check failed"),
     LookupError("no such column"), KeyError("user_id"), TypeError("expected a DataFrame"),
     ValueError("3 rows failed validation"), TimeoutError("feature store did not answer"),
     ConnectionError("connection reset by the feature store"), MemoryError("batch does not fit"),
     RecursionError("tree too deep"), StopIteration("no more batches"),
     QualityGateFailed("accuracy below baseline")],
    ids=lambda error: type(error).__name__,
)
def test_any_exception_from_a_stage_is_a_failure(error):
    recorder = Recorder()
    pipeline = Pipeline()
    pipeline.add_stage("ingest", recorder.stage("ingest"))
    calls = []

    def evaluate(*args, **kwargs):
        calls.append((args, kwargs))
        raise error

    pipeline.add_stage("evaluate", evaluate, depends_on=["ingest"])
    pipeline.add_stage("deploy", recorder.stage("deploy"), depends_on=["evaluate"])
    pipeline.add_stage("report", recorder.stage("report"))
    report = pipeline.run()
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["ingest", "report"], ["evaluate"], ["deploy"]
    ), (
        f"a stage raising {type(error).__name__} (an Exception) has failed, like any other exception, and is "
        f"not retried; the run must go on; got {report}"
    )
    assert calls == [((), {"ingest": ("output of", "ingest")})], (
        f"a stage that raises {type(error).__name__} is called once, with its inputs as keyword arguments, "
        f"and never again in the same run; calls were {calls}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(10)  # a walk over every path never ends; the runner needs milliseconds
def test_a_densely_connected_pipeline_is_ordered_and_run_without_walking_every_path():
    # 30 steps of 3 stages, each depending on all 3 stages of the step before: 3**29 upstream paths
    # end at every stage of the last step, so a runner that walks each path again never finishes.
    steps = [[f"step{k:02d}_{i}" for i in range(3)] for k in range(30)]
    pipeline = Pipeline()
    previous = []
    for step in steps:
        for name in step:
            pipeline.add_stage(name, lambda **inputs: sorted(inputs), depends_on=previous)
        previous = step
    names = [name for step in steps for name in step]
    assert pipeline.execution_order() == names, (
        f"each step's three stages go in add order after the step before; got {pipeline.execution_order()}"
    )
    report = pipeline.run()
    assert list(report.succeeded) == names and not report.failed and not report.skipped, (
        f"every stage of the 90 should succeed, in add order; got {report}"
    )
    assert report.outputs["step29_2"] == steps[28], (
        f"'step29_2' should be called with the outputs of the three stages of step 28; got {report.outputs['step29_2']}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(10)  # a walk over every downstream path never ends; the runner needs milliseconds
def test_a_failure_atop_a_densely_connected_pipeline_is_contained_without_walking_every_path():
    # 'step00_0' fails and every later step depends on the whole step before it: 3**29 downstream
    # paths leave 'step00_0', so a runner that marks dependants path by path never finishes.
    steps = [[f"step{k:02d}_{i}" for i in range(3)] for k in range(30)]
    recorder = Recorder(failing={"step00_0"})
    pipeline = Pipeline()
    previous = []
    for step in steps:
        for name in step:
            pipeline.add_stage(name, recorder.stage(name), depends_on=previous)
        previous = step
    pipeline.add_stage("notify", recorder.stage("notify"))
    report = pipeline.run()
    below = [name for step in steps[1:] for name in step]
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (
        ["step00_1", "step00_2", "notify"], ["step00_0"], below
    ), (
        "'step00_0' failed and every later step needs the step before it, so all 87 later stages are "
        "skipped (once each, in execution order) while 'step00_1', 'step00_2' and the independent 'notify' "
        f"succeed; got succeeded={report.succeeded}, failed={report.failed}, skipped={report.skipped}"
    )
    assert recorder.called() == ["step00_0", "step00_1", "step00_2", "notify"], (
        f"skipped stages must never be called; calls were {recorder.called()}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(10)  # a walk over every upstream path never ends; the runner needs milliseconds
def test_a_failure_beside_a_densely_connected_pipeline_does_not_slow_it_down():
    # 'audit' fails first and nothing depends on it; the 30 densely connected steps below all succeed.
    # A runner that, once anything has failed, asks of each stage "does any stage upstream of me, on any
    # path, appear among the failures?" walks 3**29 paths for the last step and never finishes.
    steps = [[f"step{k:02d}_{i}" for i in range(3)] for k in range(30)]
    recorder = Recorder(failing={"audit"})
    pipeline = Pipeline()
    pipeline.add_stage("audit", recorder.stage("audit"))
    previous = []
    for step in steps:
        for name in step:
            pipeline.add_stage(name, recorder.stage(name), depends_on=previous)
        previous = step
    report = pipeline.run()
    names = [name for step in steps for name in step]
    assert (list(report.succeeded), list(report.failed), list(report.skipped)) == (names, ["audit"], []), (
        "'audit' failed but no stage depends on it, so all 90 stages of the steps succeed, in add order; "
        f"got succeeded={report.succeeded}, failed={report.failed}, skipped={report.skipped}"
    )


@pytest.mark.task(taskno=3)
def test_a_stage_needing_one_failed_and_one_good_input_is_skipped():
    stages = [("ingest", []), ("labels", []), ("features", ["ingest"]), ("train", ["features", "labels"])]
    recorder = Recorder(failing={"labels"})
    report = build(stages, recorder).run()
    assert list(report.skipped) == ["train"], "'train' needs the failed 'labels', so it is skipped"
    assert list(report.succeeded) == ["ingest", "features"] and list(report.failed) == ["labels"], (
        f"ingest and features should succeed and labels fail; got {report}"
    )
    assert "train" not in recorder.called(), "a skipped stage must never be called"


@pytest.mark.task(taskno=3)
@given(dags(max_stages=10), st.data())
def test_random_failures_skip_exactly_their_transitive_dependants(stages, data):
    names = [name for name, _ in stages]
    failing = data.draw(st.sets(st.sampled_from(names)), label="failing")
    deps = dict(stages)

    status = {}

    def status_of(name):
        if name not in status:
            if any(status_of(d) != "succeeded" for d in deps[name]):
                status[name] = "skipped"
            else:
                status[name] = "failed" if name in failing else "succeeded"
        return status[name]

    recorder = Recorder(failing)
    pipeline = build(stages, recorder)
    order = pipeline.execution_order()
    report = pipeline.run()
    for kind in ("succeeded", "failed", "skipped"):
        expected = [name for name in order if status_of(name) == kind]
        got = list(getattr(report, kind))
        assert got == expected, f"with {sorted(failing)} raising, .{kind} should be {expected}, got {got}"
    expected_outputs = {name: ("output of", name) for name in order if status_of(name) == "succeeded"}
    assert report.outputs == expected_outputs, "outputs should map every succeeded stage to what it returned"
    expected_calls = [name for name in order if status_of(name) != "skipped"]
    assert recorder.called() == expected_calls, (
        f"each stage that is not skipped should be called once, in order: expected {expected_calls}, "
        f"got {recorder.called()}"
    )
    for name, kwargs in recorder.calls:
        assert kwargs == {d: ("output of", d) for d in deps[name]}, (
            f"{name!r} should get exactly its dependencies' outputs as keyword arguments, got {kwargs}"
        )
