"""Task 1: the orchestration, `run(steps, clock=...)`, against a fake world (see conftest.py).

Each fake step moves the fake clock by a known number of seconds (COSTS), so the stage
timings are exact; the tests check the world after the run (the champion alias, the images,
the version serving), not only the calls.
"""

from __future__ import annotations

import pytest

from capstone import Report, format_report, run
from fake_world import COSTS, FAILED
from mlops_katas.fakes import FakeClock

pytestmark = pytest.mark.task(taskno=1)

FORWARD = ["train", "gate", "register", "package", "deploy", "load", "monitor"]


def stage_names(report: Report) -> list[str]:
    return [stage.name for stage in report.stages]


def undos_after(steps, stage):
    """The calls made after `stage` (the one that failed, or the monitor that judged the release bad),
    the `serving` probes left out: the undos, in the order they ran."""
    return [call for call in steps.calls[steps.names.index(stage) + 1:] if call[0] != "serving"]


def test_a_healthy_candidate_goes_through_every_stage_in_order(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3")
    report = run(steps, clock=clock)
    assert [n for n in steps.names if n != "serving"] == FORWARD, f"the stages run in this order, got {steps.names}"
    assert stage_names(report) == FORWARD, f"the report lists the stages run, in order: {stage_names(report)}"
    assert all(stage.ok for stage in report.stages), f"every stage of a promoted run is ok: {report.stages}"
    assert (report.outcome, report.exit_code) == ("promoted", 0), f"a healthy run is promoted: {report}"
    assert (report.version, report.previous, report.serving) == ("4", "3", "v4"), (
        f"version is what register returned, previous the champion the gate judged against, serving what "
        f"steps.serving() says: {report}")
    assert report.reason == "", f"a promoted run has no reason to report, got {report.reason!r}"
    assert steps.alias == "4" and steps.serving_version == "v4" and "v4" in steps.images, (
        "the world after a promotion: the champion is the new version, which serves from its image")


def test_each_stage_passes_what_the_one_before_returned(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3")
    run(steps, clock=clock)
    calls = {call[0]: call[1:] for call in steps.calls}
    assert calls["gate"] == ("models:/m-candidate",), f"gate gets train's candidate URI, got {calls['gate']}"
    assert calls["register"][0].candidate == "models:/m-candidate", "register gets the gate's report"
    assert calls["package"] == ("4",) and calls["deploy"] == ("4",), (
        f"package and deploy get the registered version: {calls['package']}, {calls['deploy']}")
    assert calls["load"] == ("http://127.0.0.1:8000",), f"load gets the URL deploy returned, got {calls['load']}"
    url, load = calls["monitor"]
    assert url == "http://127.0.0.1:8000" and (load.sent, load.ok, load.failed) == (40, 40, 0), (
        f"monitor gets the URL and load's result, got {calls['monitor']}")


def test_stage_seconds_come_from_the_clock(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock)
    report = run(steps, clock=clock)
    for stage in report.stages:
        assert stage.seconds == pytest.approx(COSTS[stage.name]), (
            f"stage {stage.name} took {COSTS[stage.name]} s on the clock, the report says {stage.seconds}")


def test_a_first_deploy_has_no_previous_version(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion=None)
    report = run(steps, clock=clock)
    assert (report.outcome, report.version, report.previous, report.serving) == ("promoted", "1", None, "v1"), (
        f"a first deploy into an empty registry is promoted as version 1 with no previous: {report}")


def test_a_rejected_candidate_changes_nothing(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", gate_passes=False)
    report = run(steps, clock=clock)
    assert (report.outcome, report.exit_code) == ("rejected", 2), f"a failed gate is 'rejected', exit 2: {report}"
    assert stage_names(report) == ["train", "gate"] and not report.stages[1].ok, (
        f"the run stops at the failed gate, which is reported failed: {report.stages}")
    assert "metric" in report.reason and "size" in report.reason and "latency" not in report.reason, (
        f"the reason names every failed check (metric, size) and no passed one: {report.reason!r}")
    assert "metric" in report.stages[1].detail and "size" in report.stages[1].detail, (
        f"the gate stage's detail names the failed checks: {report.stages[1].detail!r}")
    passed_named = [name for name in ("slices", "signature", "latency")
                    if name in report.stages[1].detail or name in report.reason]
    assert not passed_named, (
        f"the gate stage's detail and the reason name the failed checks only, not the passed {passed_named}: "
        f"detail {report.stages[1].detail!r}, reason {report.reason!r}")
    assert not {"register", "package", "deploy", "set_champion", "remove_image", "undeploy"} & set(steps.names), (
        f"nothing is registered, built, deployed or undone after a rejection: {steps.names}")
    assert (report.version, report.previous, report.serving) == (None, "3", "v3"), (
        f"nothing was registered and v3 still serves: {report}")
    assert report.stages[1].seconds == pytest.approx(COSTS["gate"]), (
        f"the rejected gate stage is timed on the clock like any other ({COSTS['gate']} s), the report says "
        f"{report.stages[1].seconds}")
    assert steps.alias == "3", f"a rejected candidate leaves the champion alias on 3, it is on {steps.alias!r}"
    assert steps.serving_version == "v3", (
        f"a rejected candidate leaves v3 serving, the world serves {steps.serving_version!r}")


def test_a_regression_is_rolled_back_in_reverse_order(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", healthy=False)
    report = run(steps, clock=clock)
    assert (report.outcome, report.exit_code) == ("rolled_back", 3), f"a regression is 'rolled_back', exit 3: {report}"
    assert stage_names(report) == FORWARD + ["rollback"], f"the rollback is reported as a stage: {stage_names(report)}"
    assert not report.stages[6].ok and report.stages[7].ok, f"monitor failed, rollback succeeded: {report.stages}"
    undo = undos_after(steps, "monitor")
    assert undo == [("deploy", "3"), ("remove_image", "4"), ("set_champion", "3")], (
        f"undo what was done, newest first: redeploy v3, remove v4's image, champion back to 3; got {undo}")
    assert steps.alias == "3" and steps.serving_version == "v3" and "v4" not in steps.images, (
        "the world after the rollback: champion 3, v3 serving, v4's image gone")
    assert (report.version, report.previous, report.serving) == ("4", "3", "v3"), f"the report says so: {report}"
    assert "availability 0.000" in report.reason, f"the reason carries the monitor's reason: {report.reason!r}"
    assert report.stages[6].seconds == pytest.approx(COSTS["monitor"]), (
        f"the unhealthy monitor stage is timed on the clock like any other ({COSTS['monitor']} s), the report says "
        f"{report.stages[6].seconds}")
    undo_cost = COSTS["deploy"] + COSTS["remove_image"] + COSTS["set_champion"]
    assert report.stages[7].seconds == pytest.approx(undo_cost), (
        f"the rollback stage is timed on the clock around all three undos ({undo_cost} s), "
        f"the report says {report.stages[7].seconds}")


def test_a_regression_on_a_first_deploy_leaves_nothing_serving(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion=None, healthy=False)
    report = run(steps, clock=clock)
    undo = undos_after(steps, "monitor")
    assert undo == [("undeploy",), ("remove_image", "1"), ("set_champion", None)], (
        f"with nothing to go back to: remove the service, the image and the champion alias; got {undo}")
    assert (report.outcome, report.serving, steps.alias) == ("rolled_back", None, None), f"{report}, {steps.alias}"


@pytest.mark.parametrize("failing", ["deploy", "load"])
def test_a_failed_first_deploy_removes_the_service_it_started(fake_steps, failing):
    clock = FakeClock()
    steps = fake_steps(clock, champion=None, fail=failing)
    report = run(steps, clock=clock)
    undo = undos_after(steps, failing)
    assert undo == [("undeploy",), ("remove_image", "1"), ("set_champion", None)], (
        f"{failing} raised on a first deploy (no previous version): the deploy is undone by undeploy(), also when "
        f"deploy itself raised (its container may be up half-started), then the image and the champion alias; "
        f"got {undo}")
    assert (report.outcome, report.serving, steps.alias, steps.images) == ("failed", None, None, set()), (
        f"nothing is left of the failed first deploy: {report}, alias {steps.alias!r}, images {steps.images}")


@pytest.mark.parametrize("failing", ["train", "gate", "register", "package", "deploy", "load", "monitor"])
def test_a_failed_stage_stops_the_run_names_the_stage_and_undoes_what_was_started(fake_steps, failing):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", fail=failing)
    report = run(steps, clock=clock)
    assert (report.outcome, report.exit_code) == ("failed", 1), f"a stage that raises fails the run, exit 1: {report}"
    assert report.reason.startswith(f"{failing} failed"), f"the reason starts '{failing} failed': {report.reason!r}"
    ran = FORWARD[:FORWARD.index(failing) + 1]
    names = stage_names(report)
    assert names[:len(ran)] == ran and not report.stages[len(ran) - 1].ok, (
        f"the stages up to the failed one are reported, the failed one not ok: {report.stages}")
    assert all(stage.ok for stage in report.stages[:len(ran) - 1]), "the stages before it were ok"
    assert report.stages[len(ran) - 1].seconds == pytest.approx(COSTS[failing]), "the failed stage is timed too"
    assert FAILED in report.stages[len(ran) - 1].detail and FAILED in report.reason, (
        f"the failed stage's detail and the reason carry the error ({FAILED!r}): {report.stages[len(ran) - 1]}")
    later = set(FORWARD[FORWARD.index(failing) + 1:])
    assert not later & set(steps.names), f"no stage after {failing} runs: {steps.names}"
    started = FORWARD.index(failing) > FORWARD.index("register")  # register raising registered nothing
    assert names[len(ran):] == (["rollback"] if started else []), (
        f"a rollback stage appears exactly when something had been started: {names}")
    undone = undos_after(steps, failing)
    newest_first = [("deploy", "3"), ("remove_image", "4"), ("set_champion", "3")]
    expected_undo = {"package": [("set_champion", "3")], "deploy": newest_first, "load": newest_first,
                     "monitor": newest_first}.get(failing, [])
    assert undone == expected_undo, (
        f"after {failing} failed, the undos run newest first, as after a regression (redeploy v3, remove v4's image, "
        f"champion back to 3, for what was started): expected {expected_undo}, got {undone}")
    assert steps.alias == "3" and steps.serving_version == "v3", (
        f"the world is back as the run found it: champion 3 ({steps.alias}), v3 serving ({steps.serving_version})")
    assert steps.images == {"v3"}, f"only the previous image is left, got {steps.images}"
    registered = FORWARD.index(failing) > FORWARD.index("register")
    assert report.version == ("4" if registered else None), (
        f"report.version is what register returned ('4'), also when a later stage failed, and None when register "
        f"never returned; got {report.version!r}")


@pytest.mark.parametrize("failing", ["register", "package", "deploy", "load", "monitor"])
def test_a_failed_run_still_reports_the_previous_champion_and_what_serves(fake_steps, failing):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", fail=failing)
    report = run(steps, clock=clock)
    assert report.outcome == "failed", f"{failing} raised, so the run failed: {report}"
    assert report.previous == "3", (
        f"report.previous is the champion the gate judged against ('3'), also when a later stage ({failing}) failed; "
        f"got {report.previous!r}")
    assert report.serving == "v3", (
        f"at the end of every run, a failed one too, report.serving is what steps.serving() says after the undos "
        f"('v3'); got {report.serving!r}")


def test_a_failed_package_undoes_only_what_was_done(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", fail="package")
    report = run(steps, clock=clock)
    undo = undos_after(steps, "package")
    assert undo == [("set_champion", "3")], (
        f"package raised, so no image of version 4 was built: the rollback only puts the champion back to 3, it "
        f"removes no image and redeploys nothing; got {undo}")
    assert report.stages[-1].name == "rollback" and report.stages[-1].ok, (
        f"that rollback is one successful stage: {report.stages}")


def test_a_failed_undo_does_not_stop_the_others(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", healthy=False, undo_fail="remove_image")
    report = run(steps, clock=clock)
    assert steps.alias == "3" and steps.serving_version == "v3", "the other undos still ran"
    assert not report.stages[-1].ok and report.stages[-1].name == "rollback", "the rollback stage is reported failed"
    assert (report.outcome, report.exit_code) == ("failed", 1), (
        f"a rollback that did not fully succeed is a failed run (exit 1): {report}")
    assert FAILED in report.reason and FAILED in report.stages[-1].detail, (
        f"the reason and the rollback stage say what failed: {report}")


def test_a_regression_whose_undo_fails_reports_the_regression_and_the_undo_error(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", healthy=False, undo_fail="set_champion")
    report = run(steps, clock=clock)
    assert (report.outcome, report.exit_code) == ("failed", 1), f"a rollback that failed is a failed run: {report}"
    assert "availability 0.000" in report.reason, (
        f"the reason still says why the run rolled back (the monitor's reason) when an undo failed too: "
        f"{report.reason!r}")
    assert FAILED in report.reason and FAILED in report.stages[-1].detail, (
        f"and it names the failed undo's error, as the rollback stage's detail does: {report.reason!r}, "
        f"{report.stages[-1]}")


def test_the_printed_report_has_a_line_per_stage_and_the_outcome(fake_steps):
    import re

    clock = FakeClock()
    report = run(fake_steps(clock, champion="3", healthy=False), clock=clock)
    text = format_report(report)
    lines = text.splitlines()
    for stage in report.stages:
        found = [line for line in lines if re.match(rf"{stage.name}\b", line)]
        assert found, f"a line starts with the stage name {stage.name!r}:\n{text}"
        seconds = re.search(r"(\d+(?:\.\d+)?)\s*s\b", found[0])
        assert seconds and float(seconds.group(1)) == pytest.approx(stage.seconds, abs=0.051), (
            f"the line of {stage.name} gives its seconds ({stage.seconds}) followed by 's':\n{found[0]}")
    assert "outcome: rolled_back" in lines[-1], f"the last line gives the outcome:\n{text}"


def test_the_printed_report_keeps_one_line_per_stage_when_an_error_spans_lines(fake_steps):
    import re

    clock = FakeClock()
    steps = fake_steps(clock, champion="3")

    def load(url):
        raise RuntimeError("docker-compose up ... exited 1:\r\nERROR: for model  Cannot start service model\rboom\n"
                           "Pulling model ... done")

    steps.load = load
    report = run(steps, clock=clock)
    text = format_report(report)
    lines = text.splitlines()
    assert "outcome: failed" in lines[-1], (
        f"an error message of several lines (docker's output) still leaves the outcome on the last line:\n{text}")
    for stage in report.stages:
        assert [line for line in lines if re.match(rf"{stage.name}\b", line)], (
            f"a line starts with the stage name {stage.name!r}:\n{text}")
    stray = [line for line in lines if line.startswith(("ERROR: for model", "boom", "Pulling model"))]
    assert not stray, (
        f"each stage is one line: the error's lines (ended by \\n, \\r\\n or a bare \\r, as docker's progress "
        f"output has) stay on its stage's line, found {stray}:\n{text}")


def test_the_report_as_json_has_every_field(fake_steps):
    import json

    clock = FakeClock()
    report = run(fake_steps(clock, champion="3"), clock=clock)
    data = json.loads(json.dumps(report.to_dict()))
    expected = {"outcome": "promoted", "exit_code": 0, "version": "4", "previous": "3", "serving": "v4", "reason": ""}
    for key, value in expected.items():
        assert data.get(key) == value, f"the JSON report's {key!r} should be {value!r}, got {data.get(key)!r}"
    names = [s["name"] for s in data["stages"]]
    assert names == FORWARD, f"the JSON report lists the stages in order, got {names}"
    assert data["stages"][0]["seconds"] == COSTS["train"], (
        f"the JSON report's train stage took {COSTS['train']} s on the clock, it says {data['stages'][0]['seconds']}")


def test_a_step_raising_any_exception_is_a_failed_stage(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3")
    real_load = steps.load

    def load(url):
        real_load(url)
        raise LookupError("no rows to send")  # not a RuntimeError: run_gate, HTTP and files raise others

    steps.load = load
    report = run(steps, clock=clock)
    assert (report.outcome, report.exit_code) == ("failed", 1), (
        f"a step raising LookupError (not only RuntimeError) fails the run like any other error: {report}")
    assert report.reason.startswith("load failed") and "no rows to send" in report.reason, (
        f"the reason names the stage and the error: {report.reason!r}")
    assert steps.alias == "3" and steps.serving_version == "v3" and steps.images == {"v3"}, (
        "the undos ran after the LookupError: the world is back as the run found it")


def test_a_failed_undo_after_a_failed_stage_is_reported(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3", fail="load")

    def remove_image(version):
        steps.calls.append(("remove_image", version))
        raise OSError("image is in use by a stopped container")

    steps.remove_image = remove_image
    report = run(steps, clock=clock)
    assert (report.outcome, report.exit_code) == ("failed", 1), f"the run failed: {report}"
    assert report.reason.startswith("load failed"), f"the reason starts with the failed stage: {report.reason!r}"
    assert "image is in use" in report.reason and "image is in use" in report.stages[-1].detail, (
        f"a failed undo after a failed stage is named in the reason and in the rollback stage's detail: "
        f"{report.reason!r}, {report.stages[-1]}")
    assert not report.stages[-1].ok and report.stages[-1].name == "rollback", f"the rollback failed: {report.stages}"
    assert steps.alias == "3" and steps.serving_version == "v3", "the other undos still ran"


def test_serving_that_raises_leaves_the_outcome_alone(fake_steps):
    clock = FakeClock()
    steps = fake_steps(clock, champion="3")

    def serving():
        raise ConnectionError("nothing answers /health")

    steps.serving = serving
    report = run(steps, clock=clock)
    assert (report.outcome, report.serving) == ("promoted", None), (
        f"when steps.serving() raises at the end, report.serving is None and the outcome stands: {report}")
