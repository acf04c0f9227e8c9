"""Day 07: the week-1 pipeline's decisions, with recording stand-ins for its steps."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy
import pytest

from week1 import Champion, run

IMAGE = "week1-model"
CHAMPION = Champion(run_id="run-best", model_uri="models:/week1/3", version="3", score=0.91)


@dataclass
class Result:
    version: str
    promoted: bool
    serving_version: str | None
    reason: str = ""


@dataclass
class FakeDeployer:
    """Records deploys; `healthy` says whether the new version passes the deployer's own check."""

    current_version: str | None = None
    healthy: bool = True
    rollback_works: bool = True
    failure_stops_serving: bool = False   # a failed deploy leaves nothing serving (the old container is gone too)
    rollback_stops_serving: bool = False  # a failed rollback leaves nothing serving (the new container is gone too)
    rollback_leaves_previous_serving: bool = False  # a refused rollback whose old version still serves (not promoted)
    failure_leaves_new_serving: bool = False  # a refused deploy whose new container still serves (old one not restored)
    failure_reason: str = "health check failed"
    success_reason: str = ""              # what a promoted deploy says (a deployer may add a note to a success too)
    # current_version read from a state file the deployer writes only when it promotes a version (before it switches
    # traffic): a refused deploy or rollback that changed what serves leaves it naming the last promoted version, so
    # only what deploy returns says what serves now.
    state_only_on_promotion: bool = False
    calls: list = field(default_factory=list)
    log: list = field(default_factory=list)

    def deploy(self, image, version, *, context=None, build_args=None):
        recorded = self.current_version
        result = self._deploy(image, version, context=context)
        if self.state_only_on_promotion and not result.promoted:
            self.current_version = recorded
        return result

    def _deploy(self, image, version, *, context=None):
        self.calls.append((image, version, context))
        self.log.append("deploy")
        if context is None and not self.rollback_works:
            if self.rollback_stops_serving:
                self.current_version = None
            if self.rollback_leaves_previous_serving:
                self.current_version = version
                return Result(version, False, version, f"{version} started but failed its health check; "
                                                       "the version before it could not be restored")
            return Result(version, False, self.current_version, "image not found")
        if self.healthy or context is None:
            self.current_version = version
            return Result(version, True, version, self.success_reason)
        if self.failure_stops_serving:
            self.current_version = None
        if self.failure_leaves_new_serving:
            self.current_version = version
        return Result(version, False, self.current_version, self.failure_reason)


def steps(champion=CHAMPION, verified=True, deployer=None, context="/tmp/context"):
    log = deployer.log if deployer else []
    packaged = []

    def train():
        log.append("train")
        return champion

    def package(model, version):
        log.append("package")
        packaged.append((model, version))
        return context

    def verify():
        log.append("verify")
        return verified

    return dict(train=train, package=package, verify=verify), log, packaged


@pytest.mark.task(taskno=1)
def test_happy_path_runs_the_steps_in_order_and_reports_success():
    deployer = FakeDeployer()
    fns, log, _ = steps(deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert log == ["train", "package", "deploy", "verify"], "the steps should run train, package, deploy, verify"
    assert report.ok and report.stage == "done", "a verified deploy should be reported as ok at stage 'done'"
    assert report.version == "v3" and report.serving_version == "v3", "v<champion.version> should be serving"
    assert report.champion == CHAMPION, "the report should name the champion"


@pytest.mark.task(taskno=2)
def test_promoted_deploy_with_a_reason_is_a_success():
    deployer = FakeDeployer(current_version="v2", success_reason="healthy after 3 attempts (2 refused connections)")
    fns, log, _ = steps(deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert report.ok and report.stage == "done" and log == ["train", "package", "deploy", "verify"], (
        "the deployer promoted v3 and also gave a reason (a note on how it went): whether the deploy worked is "
        "its `promoted`, not whether `reason` says anything or what its words are; "
        f"the steps were {log}, the report says {report}")
    assert report.serving_version == "v3" and len(deployer.calls) == 1, (
        f"v3 was promoted and verified: nothing should be rolled back; the deploys were {deployer.calls}")


@pytest.mark.task(taskno=1)
def test_packages_and_deploys_exactly_the_champion():
    deployer = FakeDeployer()
    fns, _, packaged = steps(deployer=deployer)
    run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert packaged == [(CHAMPION, "v3")], "package should get the champion train returned and its version tag"
    assert deployer.calls == [(IMAGE, "v3", "/tmp/context")], "deploy should build the packaged context as v3"


@pytest.mark.task(taskno=1)
def test_deploy_gets_the_context_as_a_string():
    deployer = FakeDeployer()
    fns, _, _ = steps(deployer=deployer, context=Path("/tmp/context v3"))
    run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    context = deployer.calls[0][2] if deployer.calls else None
    assert isinstance(context, str) and context == "/tmp/context v3", (
        "package returned a Path; deploy should get it as context=str(context), the folder's path as a string; "
        f"it got {context!r}")


@pytest.mark.task(taskno=1)
def test_model_below_the_bar_is_never_packaged_or_deployed():
    deployer = FakeDeployer(current_version="v2")
    weak = Champion("run-weak", "models:/week1/4", "4", 0.6)
    fns, log, _ = steps(champion=weak, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert log == ["train"], "a model below the bar should stop the pipeline before packaging"
    assert not report.ok and report.stage == "gate", "the report should say the quality gate stopped it"
    assert report.serving_version == "v2", "the previous version should still be serving"
    assert report.champion == weak, "the report should name the champion that failed the gate"
    assert "0.6" in report.reason or "60" in report.reason, "the reason should give the score that failed the bar"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("nan", [float("nan"), numpy.float32("nan"), numpy.float64("nan")],
                         ids=["float", "numpy-float32", "numpy-float64"])
def test_score_that_is_not_a_number_never_passes_the_gate(nan):
    deployer = FakeDeployer(current_version="v2")
    broken = Champion("run-nan", "models:/week1/4", "4", nan)
    fns, log, _ = steps(champion=broken, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert log == ["train"], (
        f"a NaN score ({type(nan).__name__}: a broken metric, a NumPy one too) is not above the bar: nothing should "
        "be packaged or deployed (a NumPy float32 is not a Python float, so `isinstance(score, float)` misses its "
        f"NaN, and `score < min_score` is False for NaN); the steps were {log}")
    assert not report.ok and report.stage == "gate", f"a NaN score should be stopped by the quality gate: {report}"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("bar", [float("nan"), numpy.float32("nan")], ids=["float", "numpy-float32"])
def test_a_bar_that_is_not_a_number_lets_nothing_through(bar):
    deployer = FakeDeployer(current_version="v2")
    fns, log, _ = steps(champion=Champion("run-good", "models:/week1/4", "4", 0.95), deployer=deployer)
    try:
        report = run(**fns, deployer=deployer, image=IMAGE, min_score=bar)
    except ValueError:
        report = None  # refusing the bar is fine too
    assert "package" not in log and not deployer.calls and (report is None or report.stage == "gate"), (
        f"min_score={bar!r} (a setting that reads nan) is no bar at all: stop at the gate or raise ValueError, never "
        "package or deploy (`champion.score < min_score` is False for a NaN bar, so that gate lets every champion "
        f"through; write `not champion.score >= min_score`); the steps were {log}, deploys {deployer.calls}, "
        f"the report {report}")
    assert report is None or not report.ok, f"a NaN bar stops the run at the gate: {report}"


@pytest.mark.task(taskno=1)
def test_a_missing_bar_lets_nothing_through():
    deployer = FakeDeployer(current_version="v2")
    fns, log, _ = steps(champion=Champion("run-good", "models:/week1/4", "4", 0.95), deployer=deployer)
    try:
        report = run(**fns, deployer=deployer, image=IMAGE, min_score=None)
    except (TypeError, ValueError):
        report = None  # refusing the missing bar is fine too
    assert "package" not in log and not deployer.calls and (report is None or report.stage == "gate"), (
        "min_score=None (a setting that was never given) is no number either, so no bar at all: it lets nothing "
        "through (stop at the gate, or raise TypeError or ValueError), it does not switch the gate off; "
        f"the steps were {log}, deploys {deployer.calls}, the report {report}")
    assert report is None or not report.ok, f"a missing bar stops the run at the gate: {report}"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("min_score", [0.8, 0])
def test_missing_score_never_passes_the_gate(min_score):
    deployer = FakeDeployer(current_version="v2")
    broken = Champion("run-unscored", "models:/week1/4", "4", None)
    fns, log, _ = steps(champion=broken, deployer=deployer)
    try:
        report = run(**fns, deployer=deployer, image=IMAGE, min_score=min_score)
    except (TypeError, ValueError):
        report = None  # refusing the missing score with an error also stops the pipeline
    assert log == ["train"], (
        f"a score of None (a metric that was never measured) is not a number and never passes, not even a bar of "
        f"{min_score}: nothing should be packaged or deployed, the gate is not skipped and a missing score is not "
        f"counted as 0.0; the steps were {log}")
    assert report is None or (not report.ok and report.stage == "gate"), (
        f"a score of None should be stopped by the quality gate; the report says {report}")


def _numbers(text: str) -> list[float]:
    """Every number written in `text` (a percentage's number too)."""
    return [float(found) for found in re.findall(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)]


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("score", [0.7999, 0.79999, 0.7999999, math.nextafter(0.8, 0)])
def test_score_a_hair_below_the_bar_is_stopped(score):
    deployer = FakeDeployer(current_version="v2")
    close = Champion("run-close", "models:/week1/4", "4", score)
    fns, log, _ = steps(champion=close, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert log == ["train"] and not report.ok and report.stage == "gate", (
        f"a score of {score} is below a bar of 0.8: compare the score itself, not a rounded copy of it and with "
        "no tolerance for float noise")
    assert any(math.isclose(number, score, abs_tol=1e-12) or math.isclose(number, score * 100, abs_tol=1e-9)
               for number in _numbers(report.reason)), (
        f"the reason should give the score that failed the bar, {score} (or {score * 100:g}%), not a rounded copy "
        f"of it (0.8, 0.80 or 80.00% would read as passing a bar of 0.8: give every digit, not :g or round(score, 5)); "
        f"it says {report.reason!r}")


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("score, min_score, deployed", [(0.85, 0.9, False), (0.75, 0.7, True)])
def test_the_bar_is_the_min_score_given(score, min_score, deployed):
    deployer = FakeDeployer(current_version="v2")
    fns, log, _ = steps(champion=Champion("r", "models:/week1/4", "4", score), deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=min_score)
    assert report.ok is deployed and ("deploy" in log) is deployed, (
        f"a score of {score} against min_score={min_score} should {'pass' if deployed else 'stop at'} the gate: "
        f"compare with the min_score given, not a fixed bar; the report says {report}")


@pytest.mark.task(taskno=1)
def test_model_exactly_at_the_bar_is_deployed():
    deployer = FakeDeployer()
    fns, _, _ = steps(champion=Champion("r", "models:/week1/1", "1", 0.8), deployer=deployer)
    assert run(**fns, deployer=deployer, image=IMAGE, min_score=0.8).ok, "a score equal to the bar passes"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("score", [1, numpy.float32(0.9), numpy.int64(1)], ids=["int", "numpy-float32", "numpy-int64"])
def test_whole_number_or_numpy_score_is_a_number_too(score):
    deployer = FakeDeployer(current_version="v2")
    fns, log, _ = steps(champion=Champion("r", "models:/week1/4", "4", score), deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert report.ok and log == ["train", "package", "deploy", "verify"], (
        f"a score of {score!r} ({type(score).__name__}: an int, the way a perfect score is often written, or a "
        "NumPy number, the way a metric computed with NumPy arrives) is a number above a bar of 0.8 and passes the "
        "gate: refuse what is not a number (None, NaN), not every score that is not a Python float; "
        f"the steps were {log}, the report says {report}")


@pytest.mark.task(taskno=1)
def test_score_of_zero_meets_a_bar_of_zero():
    deployer = FakeDeployer(current_version="v2")
    fns, log, _ = steps(champion=Champion("r", "models:/week1/4", "4", 0.0), deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0)
    assert report.ok and log == ["train", "package", "deploy", "verify"], (
        "a score of 0.0 equals a bar of 0 and passes the gate: 0.0 is a measured score, not a missing one "
        f"(test `score is None`, not the score's truth value); the steps were {log}, the report says {report}")


@pytest.mark.task(taskno=2)
def test_failed_deploy_is_reported_and_not_verified():
    # A real reason is long: the health check's answers and the server log's tail, thousands of characters.
    why = "health check failed after 3 attempts\nlast answer: 503 from /health\n" + "\n".join(
        f"server log line {n}: Traceback: model file /models/model.skops not found (attempt {n % 3 + 1} of 3)"
        for n in range(60)) + "\nserver log: the end"
    deployer = FakeDeployer(current_version="v2", healthy=False, failure_reason=why)
    fns, log, _ = steps(deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert "verify" not in log, "a version the deployer refused should not be checked by the monitor"
    assert not report.ok and report.stage == "deploy", "the report should say the deploy failed"
    assert report.serving_version == "v2", "the deployer kept v2 serving; the report should say so"
    kept = str(report.reason)
    assert why in kept, (
        f"the reason should carry the deployer's whole reason ({len(why)} characters on {why.count(chr(10)) + 1} "
        f"lines, starting {why[:40]!r} and ending {why[-20:]!r}), every line of it, however long (add to it if you "
        f"like, never cut it); the report's reason has {len(kept)} characters and ends {kept[-60:]!r}")
    assert report.champion == CHAMPION and report.version == "v3", (
        f"the report should name the champion and the version v3 that failed to deploy; it says {report}")
    assert report.rolled_back is False, (
        "rolled_back is False after a failed deploy: the run redeployed nothing (the deployer keeping v2 "
        "serving is not a rollback)")


@pytest.mark.task(taskno=2)
def test_unpromoted_deploy_is_a_failure_even_when_the_new_version_serves():
    why = "v3 failed its post-promotion check and v2 could not be restored"
    deployer = FakeDeployer(current_version="v2", healthy=False, failure_leaves_new_serving=True, failure_reason=why)
    fns, log, _ = steps(deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert not report.ok and report.stage == "deploy" and "verify" not in log, (
        "the deployer did not promote v3 (promoted=False), even though v3 is what serves now: judge the deploy by "
        "its `promoted` alone, not by whether serving_version is the new version; the run should stop at stage "
        f"'deploy' without the monitor check; the steps were {log}, the report says {report}")
    assert deployer.calls == [(IMAGE, "v3", "/tmp/context")] and report.rolled_back is False, (
        f"after a refused deploy the run redeploys nothing and claims no rollback; the deploys were {deployer.calls}, "
        f"the report says {report}")
    assert report.serving_version == "v3" and why in report.reason, (
        f"the report should say what the deployer returned (v3 serves) and its reason {why!r}; it says {report}")


@pytest.mark.task(taskno=2)
def test_refused_deploy_redeploys_nothing():
    deployer = FakeDeployer(current_version="v2", healthy=False, failure_stops_serving=True)
    fns, _, _ = steps(deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert deployer.calls == [(IMAGE, "v3", "/tmp/context")], (
        "after the deployer refused v3 the run should stop and report: it deployed one version (v3) and "
        f"redeploys nothing, also not the previous v2 'to be safe'; the deploys were {deployer.calls}")
    assert not report.ok and report.stage == "deploy" and report.serving_version is None, (
        f"the report should say what the deployer's refused deploy returned (nothing serves); it says {report}")


@pytest.mark.task(taskno=2)
def test_failed_deploy_reports_what_the_deployer_says_serves():
    deployer = FakeDeployer(current_version="v2", healthy=False, failure_stops_serving=True)
    fns, _, _ = steps(deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert not report.ok and report.stage == "deploy", "the report should say the deploy failed"
    assert report.serving_version is None, (
        "the deployer says nothing serves after its failed deploy (serving_version None); the report should say "
        f"what the deployer returned, not the version that served before; it says {report.serving_version!r}")


@pytest.mark.task(taskno=2)
def test_failed_monitor_check_rolls_back_to_the_previous_version():
    deployer = FakeDeployer(current_version="v2")
    fns, log, _ = steps(verified=False, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert deployer.calls[-1] == (IMAGE, "v2", None), "the rollback should redeploy v2 without building"
    assert log.count("verify") == 1, (
        "the monitor check runs once: a failed check rolls back, it is not retried until it passes; "
        f"the steps were {log}")
    assert not report.ok and report.stage == "verify", "a failed check is not a success"
    assert report.rolled_back and report.serving_version == "v2", "the report should say v2 serves again"
    assert report.champion == CHAMPION and report.version == "v3", (
        f"the report should name the champion and the version v3 that failed the check; it says {report}")


@pytest.mark.task(taskno=2)
def test_rollback_redeploys_the_version_that_served_before_whatever_its_number():
    deployer = FakeDeployer(current_version="v1")  # v2 never served (a failed gate or deploy): v1 is the last good one
    fns, _, _ = steps(verified=False, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert deployer.calls[-1] == (IMAGE, "v1", None), (
        "the rollback should redeploy the version the deployer served before this deploy (v1), not the champion's "
        f"version minus one; the deploys were {deployer.calls}")
    assert report.rolled_back and report.serving_version == "v1", f"the report should say v1 serves again: {report}"


@pytest.mark.task(taskno=2)
def test_failed_monitor_check_without_previous_version_is_a_failure():
    deployer = FakeDeployer()
    fns, _, _ = steps(verified=False, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert not report.ok and report.stage == "verify", "a failed check is not a success"
    assert not report.rolled_back, "with nothing deployed before, there is nothing to roll back to"
    assert report.reason, "the report should say why it failed"
    assert report.serving_version == "v3", (
        "with nothing to roll back to, the promoted v3 still serves (the deployer said so); the report should say "
        f"what serves, not that nothing does; it says {report.serving_version!r}")
    assert report.champion == CHAMPION and report.version == "v3", (
        f"the report should name the champion and the version v3 that failed the check; it says {report}")


@pytest.mark.task(taskno=2)
def test_failed_rollback_is_reported_as_not_rolled_back():
    deployer = FakeDeployer(current_version="v2", rollback_works=False)
    fns, _, _ = steps(verified=False, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert deployer.calls[-1] == (IMAGE, "v2", None), "the rollback should try to redeploy v2 without building"
    assert not report.ok and report.stage == "verify", "a failed check is not a success"
    assert not report.rolled_back, "the rollback deploy was not promoted: the report must not claim a rollback"
    assert report.serving_version == "v3", (
        "the deployer says v3 still serves after the failed rollback; the report should say what serves, not v2")
    assert report.champion == CHAMPION and report.version == "v3", (
        f"the report should name the champion and the version v3 that failed the check; it says {report}")


@pytest.mark.task(taskno=2)
def test_failed_rollback_reports_what_the_rollback_says_serves():
    deployer = FakeDeployer(current_version="v2", rollback_works=False, rollback_stops_serving=True)
    fns, _, _ = steps(verified=False, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert deployer.calls[-1] == (IMAGE, "v2", None), "the rollback should try to redeploy v2 without building"
    assert not report.ok and report.stage == "verify" and not report.rolled_back, (
        f"a failed check with a failed rollback is a failure and no rollback; the report says {report}")
    assert report.serving_version is None, (
        "the failed rollback deploy says nothing serves now (serving_version None); the report should say what "
        "that redeploy returned, not assume the new v3 still serves; it says "
        f"{report.serving_version!r}")


@pytest.mark.task(taskno=2)
def test_refused_rollback_is_no_rollback_even_when_the_previous_version_serves():
    deployer = FakeDeployer(current_version="v2", rollback_works=False, rollback_leaves_previous_serving=True)
    fns, _, _ = steps(verified=False, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert deployer.calls[-1] == (IMAGE, "v2", None), "the rollback should try to redeploy v2 without building"
    assert not report.ok and report.stage == "verify" and report.serving_version == "v2", (
        f"the refused rollback deploy says v2 serves: the report should say what that redeploy returned; it says {report}")
    assert report.rolled_back is False, (
        "the deployer did not promote the rollback deploy (promoted=False), even though v2 is what serves now: "
        "rolled_back is the rollback deploy's `promoted`, not whether serving_version is the previous version; "
        f"the report says {report}")


@pytest.mark.task(taskno=2)
def test_failed_deploy_reports_what_the_deploy_returned_not_the_deployers_own_record():
    deployer = FakeDeployer(current_version="v2", healthy=False, failure_stops_serving=True,
                            state_only_on_promotion=True)
    fns, _, _ = steps(deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert not report.ok and report.stage == "deploy", f"the report should say the deploy failed; it says {report}"
    assert report.serving_version is None, (
        "the refused deploy returned serving_version None (nothing serves), while deployer.current_version still "
        "names v2 (the deployer records only promotions): the report's serving_version is what the deploy call "
        f"returned, not deployer.current_version read afterwards; it says {report.serving_version!r}")


@pytest.mark.task(taskno=2)
def test_failed_rollback_reports_what_the_rollback_returned_not_the_deployers_own_record():
    deployer = FakeDeployer(current_version="v2", rollback_works=False, rollback_stops_serving=True,
                            state_only_on_promotion=True)
    fns, _, _ = steps(verified=False, deployer=deployer)
    report = run(**fns, deployer=deployer, image=IMAGE, min_score=0.8)
    assert deployer.calls[-1] == (IMAGE, "v2", None), "the rollback should try to redeploy v2 without building"
    assert not report.ok and report.stage == "verify" and report.rolled_back is False, (
        f"a failed check with a refused rollback is a failure and no rollback; the report says {report}")
    assert report.serving_version is None, (
        "the refused rollback returned serving_version None (nothing serves), while deployer.current_version still "
        "names v3 (the deployer records only promotions): the report's serving_version is what the rollback deploy "
        f"returned, not deployer.current_version read afterwards; it says {report.serving_version!r}")
