"""Day 13, tasks 3-4 (unit tier): ranking causes from recorded evidence, and the health probe.

The snapshots in `recorded/` are real `docker inspect` output and logs of the
stand-in server image (`docker/standin/`) in each failure mode, trimmed to the fields that matter.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import docker
import pytest

from diagnose import Finding, HealthCheck, Snapshot, analyse, check_health, diagnose, gather
from mlops_katas.infra.http_server import free_port

RECORDED = Path(__file__).parent / "recorded"
ANSWERED = HealthCheck(status=200, latency_ms=4.0)
REFUSED = HealthCheck(status=None, latency_ms=None, error="ConnectionError: connection refused")


def recorded(name: str) -> tuple[dict, str]:
    data = json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))
    return data["inspect"], data["logs"]


def snapshot(name: str, health: HealthCheck = ANSWERED, latency_ms=(), logs: str | None = None, **state) -> Snapshot:
    inspect, recorded_logs = recorded(name)
    inspect = copy.deepcopy(inspect)
    restarts = state.pop("RestartCount", None)
    if restarts is not None:
        inspect["RestartCount"] = restarts
    inspect["State"].update(state)
    return Snapshot(f"day13-{name}", inspect, recorded_logs if logs is None else logs, health, tuple(latency_ms))


def causes(findings: list[Finding]) -> list[str]:
    return [finding.cause for finding in findings]


def evidence_of(findings: list[Finding], cause: str) -> str:
    return next(f.evidence for f in findings if f.cause == cause)


def assert_names_the_failing_docker_healthcheck(evidence: str, why: str) -> None:
    assert "unhealthy" in evidence.lower() and re.search(r"docker|healthcheck", evidence, re.IGNORECASE), (
        f"{why}, so the 'unhealthy' evidence must say that Docker's HEALTHCHECK reports 'unhealthy'; got {evidence!r}"
    )


# --- task 3: ranking causes ---------------------------------------------------------


@pytest.mark.task(taskno=3)
def test_a_running_container_that_answers_quickly_is_healthy():
    findings = analyse(snapshot("healthy"))
    assert causes(findings) == ["healthy"], f"nothing is wrong, so the only finding is 'healthy': {findings}"
    assert findings[0].evidence, "even 'healthy' says what was checked"


@pytest.mark.task(taskno=3)
def test_each_call_returns_a_list_of_its_own():
    first = analyse(snapshot("healthy"))
    first.append(Finding("slow", "added by the caller"))
    first.sort(key=lambda finding: finding.cause)
    again = analyse(snapshot("healthy"))
    assert causes(again) == ["healthy"], (
        f"a caller added a finding to the list its analyse call returned; the next call's answer must not change "
        f"(each call returns a new list, not one list kept and handed to every caller): {again}"
    )


@pytest.mark.task(taskno=3)
def test_a_later_call_does_not_rewrite_an_earlier_answer():
    first = analyse(snapshot("healthy"))
    again = analyse(snapshot("healthy", HealthCheck(503, 3.0)))
    assert first is not again, "each call returns a new list, not one list kept and refilled on every call"
    assert causes(first) == ["healthy"], (
        f"the first call found the container healthy; judging another snapshot afterwards must not change the "
        f"list the first call returned, yet it now reads {first}"
    )


@pytest.mark.task(taskno=3)
def test_an_oom_kill_is_named_first_with_its_exit_code():
    findings = analyse(snapshot("oom_killed", REFUSED))
    assert causes(findings) == ["oom_killed", "exited", "unreachable"], (
        f"State.OOMKilled is the root cause of the exit and of the refused probe: {findings}"
    )
    assert "137" in evidence_of(findings, "oom_killed"), "the OOM evidence quotes the exit code 137"


@pytest.mark.task(taskno=3)
def test_an_oom_kill_behind_a_crash_loop_is_still_the_root_cause():
    findings = analyse(snapshot("oom_crash_loop", REFUSED))
    assert causes(findings) == ["oom_killed", "crash_loop", "unreachable"], (
        f"a container restarting after OOM kills is out of memory first, crash-looping second: {findings}"
    )


@pytest.mark.task(taskno=3)
def test_a_crash_loop_is_named_with_its_restart_count_and_the_error_line():
    findings = analyse(snapshot("crash_loop", REFUSED))
    assert causes(findings) == ["crash_loop", "unreachable", "error_logs"], (
        f"4 restarts is a crash loop; the probe is refused; the log holds the error: {findings}"
    )
    assert "4" in evidence_of(findings, "crash_loop"), "the crash-loop evidence gives the restart count (4)"
    assert "ERROR: could not load model: /models/model.joblib not found" in evidence_of(findings, "error_logs"), (
        "the log evidence quotes the last error line"
    )


@pytest.mark.task(taskno=3)
def test_a_container_in_restarting_state_is_crash_looping_even_with_few_restarts():
    findings = analyse(snapshot("crash_loop", REFUSED, RestartCount=1, Status="restarting", Restarting=True,
                                Running=True, ExitCode=3))
    assert causes(findings)[0] == "crash_loop", f"State.Restarting means Docker is in its restart back-off: {findings}"
    assert "exited" not in causes(findings), f"a restarting container is not 'exited': {findings}"
    findings = analyse(snapshot("crash_loop", REFUSED, RestartCount=0, Status="restarting", Restarting=True,
                                Running=True, ExitCode=3))
    assert causes(findings)[0] == "crash_loop", f"State.Restarting is a crash loop even before a restart: {findings}"
    assert "0" in evidence_of(findings, "crash_loop"), (
        f"the crash-loop evidence quotes the restart count, here 0: {evidence_of(findings, 'crash_loop')!r}"
    )


@pytest.mark.task(taskno=3)
def test_a_restarting_container_is_not_exited_whatever_running_says():
    findings = analyse(snapshot("crash_loop", REFUSED, RestartCount=1, Status="restarting", Restarting=True,
                                Running=False, ExitCode=3))
    assert causes(findings)[0] == "crash_loop" and "exited" not in causes(findings), (
        f"'exited' needs State.Running and State.Restarting both false; State.Restarting is true here, so "
        f"Docker is about to start it again (a crash loop, not an exit), even with State.Running false: {findings}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("restarting, status, expected", [
    (True, "exited", "crash_loop"),
    (False, "restarting", "exited"),
], ids=["restarting_flag_with_status_exited", "status_restarting_without_the_flag"])
def test_the_restarting_flag_decides_not_the_status_string(restarting, status, expected):
    findings = analyse(snapshot("crash_loop", REFUSED, RestartCount=1, Restarting=restarting, Running=False,
                                Status=status, ExitCode=3))
    other = {"crash_loop": "exited", "exited": "crash_loop"}[expected]
    assert expected in causes(findings) and other not in causes(findings), (
        f"State.Restarting is {restarting} and State.Running false, with 1 restart and State.Status {status!r}: "
        f"the flags decide ('crash_loop' when State.Restarting is true, 'exited' when both flags are false, "
        f"whatever State.Status says), so {expected!r} and no {other!r} was expected; got {causes(findings)}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("restarts, looping", [(2, False), (3, True)])
def test_three_restarts_make_a_crash_loop(restarts, looping):
    findings = analyse(snapshot("healthy", RestartCount=restarts))
    assert ("crash_loop" in causes(findings)) is looping, (
        f"{restarts} restarts {'is' if looping else 'is not yet'} a crash loop: {findings}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("restarts", [3, 5])
def test_a_crash_loop_docker_gave_up_on_has_also_exited(restarts):
    # A restart policy `on-failure:5` restarts a failing container five times, then leaves it stopped.
    findings = analyse(snapshot("exited", REFUSED, logs="", RestartCount=restarts))
    assert causes(findings) == ["crash_loop", "exited", "unreachable"], (
        f"{restarts} restarts is a crash loop, and State.Running and State.Restarting are both false, so it has "
        f"exited too: every cause that applies is a finding, a crash loop does not hide the exit: {findings}"
    )
    assert "3" in evidence_of(findings, "exited"), f"the exited evidence gives the exit code 3: {findings}"


@pytest.mark.task(taskno=3)
def test_an_exited_container_is_named_with_its_exit_code():
    findings = analyse(snapshot("exited", REFUSED))
    assert causes(findings) == ["exited", "unreachable", "error_logs"], f"it exited with code 3: {findings}"
    assert "3" in evidence_of(findings, "exited"), "the evidence gives the exit code"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("status, exit_code", [("created", 128), ("dead", 1), ("removing", 2)])
def test_a_container_that_is_not_running_is_exited_whatever_its_status(status, exit_code):
    findings = analyse(snapshot("exited", REFUSED, logs="", Status=status, ExitCode=exit_code))
    assert causes(findings) == ["exited", "unreachable"], (
        f"State.Running and State.Restarting are both false, so a {status!r} container counts as exited: {findings}"
    )
    assert str(exit_code) in evidence_of(findings, "exited"), "the evidence gives the exit code"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("status", ["exited", "created"])
def test_a_container_that_stopped_with_exit_code_0_has_exited(status):
    findings = analyse(snapshot("exited", REFUSED, logs="", Status=status, ExitCode=0))
    assert causes(findings) == ["exited", "unreachable"], (
        f"State.Running and State.Restarting are both false, so the {status!r} container has exited, whatever its "
        f"exit code: a server whose process returned 0 (or one never started) serves nothing either: {findings}"
    )
    evidence = evidence_of(findings, "exited")
    assert re.search(r"(?<!\d)0(?!\d)", evidence), f"the exited evidence gives the exit code, 0: {evidence!r}"


@pytest.mark.task(taskno=3)
def test_a_paused_container_has_not_exited():
    findings = analyse(snapshot("healthy", REFUSED, Status="paused", Paused=True, Running=True))
    assert causes(findings) == ["unreachable"], (
        f"`docker pause` freezes the container: State.Status is 'paused' but State.Running stays true, so it has "
        f"not exited (it only does not answer); 'exited' needs State.Running and State.Restarting both false: "
        f"{findings}"
    )


@pytest.mark.task(taskno=3)
def test_exit_code_137_without_oom_killed_is_not_an_oom():
    findings = analyse(snapshot("exited", REFUSED, logs="", ExitCode=137))
    assert causes(findings) == ["exited", "unreachable"], (
        f"`docker kill` also exits 137; only State.OOMKilled says the kernel killed it for memory: {findings}"
    )
    assert "137" in evidence_of(findings, "exited"), "the exited evidence gives the exit code 137"
    limited = analyse(snapshot("oom_killed", REFUSED, OOMKilled=False))  # a 32 MiB limit, exit code 137
    assert causes(limited) == ["exited", "unreachable"], (
        f"a container with a memory limit that exits 137 was killed (`docker kill`, `docker stop` after its "
        f"grace period); without State.OOMKilled that is no OOM, however likely it looks: {limited}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("exit_code", [1, 0])
def test_an_oom_kill_is_read_from_the_flag_whatever_the_exit_code(exit_code):
    # The kernel killed a worker for memory; the main process then exited with its own code, 1 (or 0: it handled
    # the worker's death and shut down cleanly).
    findings = analyse(snapshot("oom_killed", REFUSED, ExitCode=exit_code))
    assert causes(findings) == ["oom_killed", "exited", "unreachable"], (
        f"State.OOMKilled is true, so the OOM kill is the root cause even with exit code {exit_code} (not 137): "
        f"{findings}"
    )
    evidence = evidence_of(findings, "oom_killed")
    assert re.search(rf"(?<!\d){exit_code}(?!\d)", evidence) and "137" not in evidence, (
        f"the OOM evidence quotes the exit code the container really has ({exit_code}, a falsy 0 included), not a "
        f"137 it never had: {evidence!r}"
    )


@pytest.mark.task(taskno=3)
def test_no_answer_from_health_is_unreachable_quoting_the_error():
    findings = analyse(snapshot("healthy", REFUSED))
    assert causes(findings) == ["unreachable"], f"running but not answering: {findings}"
    assert "connection refused" in evidence_of(findings, "unreachable"), "the evidence quotes the probe's error"


@pytest.mark.task(taskno=3)
def test_the_unreachable_evidence_quotes_the_whole_probe_error():
    error = ("ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=8000): Max retries exceeded with url: "
             "/health (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f3a2c1d5e50>: "
             "Failed to establish a new connection: [Errno 111] Connection refused'))")
    findings = analyse(snapshot("healthy", HealthCheck(status=None, latency_ms=None, error=error)))
    assert causes(findings) == ["unreachable"], f"running but not answering: {findings}"
    evidence = evidence_of(findings, "unreachable")
    assert error in evidence, (
        f"the evidence quotes the probe's error whole ({len(error)} characters), not cut short at any length: its "
        f"end ('Connection refused') is the reason; got {len(evidence)} characters ending {evidence[-60:]!r}"
    )


@pytest.mark.task(taskno=3)
def test_unreachable_is_decided_by_the_missing_status_not_by_the_error_text():
    findings = analyse(snapshot("healthy", HealthCheck(status=None, latency_ms=None, error="")))
    assert causes(findings) == ["unreachable"], (
        f"no status means no answer, even when the error text is empty (str() of some timeouts is ''): {findings}"
    )
    findings = analyse(snapshot("healthy", HealthCheck(status=503, latency_ms=3.0, error="Service Unavailable")))
    assert causes(findings) == ["unhealthy"], (
        f"a 503 is an answer: the server is unhealthy, not unreachable, whatever the error field says: {findings}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("status", [503, 500, 404, 401, 302, 204, 101])
def test_a_non_200_health_answer_is_unhealthy(status):
    findings = analyse(snapshot("healthy", HealthCheck(status=status, latency_ms=3.0)))
    assert causes(findings) == ["unhealthy"], (
        f"/health answered {status}, which is not 200 (only 200 is healthy, not a redirect, a 204 or a 1xx): "
        f"{findings}"
    )
    assert str(status) in evidence_of(findings, "unhealthy"), "the evidence gives the status code"


@pytest.mark.task(taskno=3)
def test_a_failing_docker_healthcheck_is_unhealthy():
    findings = analyse(snapshot("unhealthy"))
    assert causes(findings) == ["unhealthy"], f"State.Health.Status is 'unhealthy': {findings}"
    assert_names_the_failing_docker_healthcheck(evidence_of(findings, "unhealthy"), "/health answered 200")
    findings = analyse(snapshot("unhealthy", REFUSED))
    assert causes(findings) == ["unreachable", "unhealthy"], (
        f"no answer to our probe and Docker's HEALTHCHECK failing are two causes that both apply: {findings}"
    )
    assert_names_the_failing_docker_healthcheck(
        evidence_of(findings, "unhealthy"), "/health gave no answer and so no status code; Docker's HEALTHCHECK "
        "failing is what makes this finding")


@pytest.mark.task(taskno=3)
def test_an_error_status_and_a_failing_docker_healthcheck_are_both_quoted():
    findings = analyse(snapshot("unhealthy", HealthCheck(status=503, latency_ms=3.0)))
    assert causes(findings) == ["unhealthy"], f"/health answered 503 and Docker's HEALTHCHECK fails: {findings}"
    evidence = evidence_of(findings, "unhealthy")
    assert "503" in evidence, f"the evidence quotes the status code 503: {evidence!r}"
    assert_names_the_failing_docker_healthcheck(evidence, "Docker's HEALTHCHECK fails beside the 503")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("docker_health", ["starting", "healthy"])
def test_a_docker_healthcheck_that_is_not_unhealthy_is_no_finding(docker_health):
    inspect, _ = recorded("unhealthy")
    health = dict(inspect["State"]["Health"], Status=docker_health)
    findings = analyse(snapshot("unhealthy", Health=health))
    assert causes(findings) == ["healthy"], (
        f"only State.Health.Status 'unhealthy' is a finding; {docker_health!r} with /health answering 200 "
        f"is healthy: {findings}"
    )


@pytest.mark.task(taskno=3)
def test_a_slow_health_answer_is_slow_with_the_measured_latency():
    findings = analyse(snapshot("slow", HealthCheck(status=200, latency_ms=1004.0)))
    assert causes(findings) == ["slow"], f"/health took 1004 ms against a 200 ms budget: {findings}"
    assert "1004" in evidence_of(findings, "slow"), "the evidence gives the latency in whole milliseconds"
    findings = analyse(snapshot("slow", HealthCheck(status=200, latency_ms=1004.0), latency_ms=[20.0] * 20))
    assert causes(findings) == ["slow"] and "1004" in evidence_of(findings, "slow"), (
        f"a slow /health answer is slow even when the stored latency is fast (either one over budget): {findings}"
    )
    findings = analyse(snapshot("slow", HealthCheck(status=200, latency_ms=1004.0), latency_ms=[900.0] * 20))
    assert causes(findings) == ["slow"], (
        f"the /health answer (1004 ms) and the stored p95 (900 ms) are both over budget: that is one cause, so one "
        f"'slow' finding (one per cause that applies), not one per latency: {findings}"
    )
    assert re.search(r"1004|900", evidence_of(findings, "slow")), (
        f"the one 'slow' finding quotes the offending latency (1004 or 900 ms): {findings}"
    )
    assert causes(analyse(snapshot("slow", HealthCheck(200, 1004.0)), slow_ms=2000)) == ["healthy"], (
        "slow_ms sets the budget: 1004 ms is fine within 2000 ms"
    )
    assert causes(analyse(snapshot("slow", HealthCheck(200, 200.0)))) == ["healthy"], (
        "exactly the budget is not slow"
    )
    assert causes(analyse(snapshot("slow", HealthCheck(200, 200.5)))) == ["slow"], (
        "the default budget is slow_ms=200.0: 200.5 ms is over it"
    )
    findings = analyse(snapshot("slow", HealthCheck(200, 450.7)))
    assert "451" in evidence_of(findings, "slow"), (
        f"450.7 ms in whole milliseconds is 451 (f'{{v:.0f}}' rounds, it does not truncate): {findings}"
    )


@pytest.mark.task(taskno=3)
def test_a_zero_slow_budget_is_used_not_replaced_by_the_default():
    findings = analyse(snapshot("healthy", HealthCheck(status=200, latency_ms=4.0)), slow_ms=0)
    assert causes(findings) == ["slow"], (
        f"with slow_ms=0 any measured latency is over budget: a 4 ms answer is slow (0 is a budget, not 'use the "
        f"default'): {findings}"
    )
    assert "4" in evidence_of(findings, "slow"), "the evidence gives the 4 ms latency"


@pytest.mark.task(taskno=3)
def test_recent_latency_is_judged_by_its_95th_percentile():
    tail_heavy = [50.0] * 90 + [1000.0] * 10  # p95 is 1000 ms though the mean is 145 ms
    findings = analyse(snapshot("healthy", latency_ms=tail_heavy))
    assert causes(findings) == ["slow"], f"the p95 of the stored latency (1000 ms) is over budget: {findings}"
    assert "1000" in evidence_of(findings, "slow"), "the evidence gives the p95 in whole milliseconds"
    rare_outliers = [50.0] * 95 + [1000.0] * 5  # p95 is 97.5 ms though the maximum is 1000 ms
    assert causes(analyse(snapshot("healthy", latency_ms=rare_outliers))) == ["healthy"], (
        "a few outliers beyond the 95th percentile do not make the service slow"
    )


@pytest.mark.task(taskno=3)
def test_the_stored_p95_interpolates_linearly_and_is_judged_against_slow_ms():
    between = [100.0] * 18 + [180.0, 600.0]  # p95 lies 5 % of the way from 180 to 600: 201 ms
    findings = analyse(snapshot("healthy", latency_ms=between))
    assert causes(findings) == ["slow"], f"the linear p95 of the stored latency is 201 ms, over 200: {findings}"
    assert "201" in evidence_of(findings, "slow"), "the evidence gives the interpolated p95, 201 ms"
    assert causes(analyse(snapshot("healthy", latency_ms=between), slow_ms=250)) == ["healthy"], (
        "slow_ms sets the budget for the stored latency too: 201 ms is fine within 250 ms"
    )
    assert causes(analyse(snapshot("healthy", latency_ms=[200.0] * 20))) == ["healthy"], (
        "a stored p95 of exactly the budget (200 ms) is not slow"
    )
    fractional = [100.0] * 19 + [214.0]  # p95 lies 5 % of the way from 100 to 214: 105.7 ms
    findings = analyse(snapshot("healthy", latency_ms=fractional), slow_ms=100)
    assert "106" in evidence_of(findings, "slow"), (
        f"a p95 of 105.7 ms in whole milliseconds is 106 (f'{{v:.0f}}' rounds, it does not truncate): {findings}"
    )
    moderate = [50.0] * 90 + [150.0] * 10  # p95 is 150 ms
    findings = analyse(snapshot("healthy", latency_ms=moderate), slow_ms=100)
    assert causes(findings) == ["slow"], f"a p95 of 150 ms is slow against slow_ms=100: {findings}"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("count", [1, 2, 5])
def test_a_few_stored_latency_samples_are_judged_too(count):
    findings = analyse(snapshot("healthy", latency_ms=[900.0] * count))
    assert causes(findings) == ["slow"], (
        f"the p95 of {count} stored sample(s) of 900 ms is 900 ms, over budget however few the samples: {findings}"
    )
    assert "900" in evidence_of(findings, "slow"), "the evidence gives the stored p95, 900 ms"


@pytest.mark.task(taskno=3)
def test_the_stored_p95_is_taken_over_every_sample_however_many():
    samples = [50.0] * 100 + [1000.0] * 30 + [50.0] * 170  # 30 of 300 samples (10 %) at 1000 ms: p95 is 1000 ms
    findings = analyse(snapshot("healthy", latency_ms=samples))
    assert causes(findings) == ["slow"], (
        f"the p95 of all 300 stored samples is 1000 ms, over budget; it is taken over every sample the snapshot "
        f"holds (gather already keeps only the last `hours`), not over the first or last 100: {findings}"
    )
    assert "1000" in evidence_of(findings, "slow"), "the evidence gives the stored p95, 1000 ms"


@pytest.mark.task(taskno=3)
def test_a_slow_health_answer_is_slow_whatever_its_status():
    findings = analyse(snapshot("healthy", HealthCheck(status=503, latency_ms=1500.0)))
    assert causes(findings) == ["unhealthy", "slow"], (
        f"/health answered 503 after 1500 ms: unhealthy, and slow too, since slow is judged on the latency "
        f"of any answer, not only of a 200: {findings}"
    )
    assert "1500" in evidence_of(findings, "slow"), "the evidence gives the 1500 ms latency"


@pytest.mark.task(taskno=3)
def test_slow_stored_latency_counts_when_the_probe_gets_no_answer():
    findings = analyse(snapshot("healthy", REFUSED, latency_ms=[900.0] * 20))
    assert causes(findings) == ["unreachable", "slow"], (
        f"the probe got no answer, and the stored p95 (900 ms) is over budget: both apply, the stored latency "
        f"is judged whether or not /health answered: {findings}"
    )
    assert "900" in evidence_of(findings, "slow"), "the evidence gives the stored p95, 900 ms"


@pytest.mark.task(taskno=3)
def test_error_lines_in_the_log_are_a_finding_of_their_own():
    logs = "starting\nGET /health 200\nTraceback (most recent call last):\n  File x\nValueError: bad row\nserving\n"
    findings = analyse(snapshot("healthy", logs=logs))
    assert causes(findings) == ["error_logs"], f"a traceback in the log of a healthy server: {findings}"
    assert "ValueError: bad row" in evidence_of(findings, "error_logs"), "the evidence quotes the last error line"
    for line in ("FATAL: disk full", "unhandled Exception in worker", "panic: out of range",
                 "Traceback (most recent call last):", "worker 2: error reading request"):
        found = causes(analyse(snapshot("healthy", logs=f"ok\n{line}\n")))
        assert found == ["error_logs"], f"{line!r} is an error line: {found}"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("line", [
    "fatal: unable to access 'https://git.example.com/models.git/': Could not resolve host",  # git
    'PANIC: could not write to file "pg_wal/xlogtemp.42": No space left on device',  # PostgreSQL
    "EXCEPTION", "traceback", "Fatal", "Panic", "eRrOr",
], ids=["git_fatal", "postgres_panic", "EXCEPTION", "traceback", "Fatal", "Panic", "eRrOr"])
def test_the_error_words_are_found_in_any_case(line):
    found = causes(analyse(snapshot("healthy", logs=f"starting\n{line}\nserving\n")))
    assert found == ["error_logs"], (
        f"a line containing error, exception, traceback, fatal or panic in any case (not only the usual spellings) "
        f"is an error line: {line!r} alone on a line should give ['error_logs'], got {found}"
    )


@pytest.mark.task(taskno=3)
def test_only_the_five_words_make_an_error_line():
    logs = ("CRITICAL: disk 91% full\nhealth check failed once, retrying\nWARNING: slow request\n"
            "warn: cache miss for model-a\nrequest aborted by the client\n")
    findings = analyse(snapshot("healthy", logs=logs))
    assert causes(findings) == ["healthy"], (
        f"no line of this log contains error, exception, traceback, fatal or panic: 'CRITICAL', 'failed', "
        f"'WARNING', 'warn' or 'aborted' alone make no error line, so a healthy server stays healthy; got {findings}"
    )
    findings = analyse(snapshot("healthy", logs="starting\nERROR: model reload aborted\nretry failed, CRITICAL\n"))
    evidence = evidence_of(findings, "error_logs")
    assert "ERROR: model reload aborted" in evidence and "retry failed" not in evidence, (
        f"the last error line is 'ERROR: model reload aborted': the line after it ('retry failed, CRITICAL') holds "
        f"none of the five words, so it is no error line to quote; got {evidence!r}"
    )


@pytest.mark.task(taskno=3)
def test_an_error_line_early_in_a_long_log_is_still_found():
    lines = ["starting", "ERROR: could not reach the feature store, using defaults"] + ["GET /health 200"] * 48
    findings = analyse(snapshot("healthy", logs="\n".join(lines) + "\n"))
    assert causes(findings) == ["error_logs"], (
        f"every line of the snapshot's logs is searched (gather already keeps only the last 50), not only the last "
        f"few: the error line is the 2nd of 50: {findings}"
    )
    assert "could not reach the feature store" in evidence_of(findings, "error_logs"), (
        "the evidence quotes the only (so the last) error line"
    )
    lines = ["starting", "ERROR: could not reach the feature store, using defaults"] + ["GET /health 200"] * 498
    findings = analyse(snapshot("healthy", logs="\n".join(lines) + "\n"))
    assert causes(findings) == ["error_logs"], (
        f"a log gathered with log_lines=500 (or from a support bundle) is searched whole too, not only its last 50 "
        f"lines: the error line is the 2nd of 500: {findings}"
    )


@pytest.mark.task(taskno=3)
def test_the_error_evidence_quotes_the_whole_last_error_line():
    line = ("ERROR: request 7f3a failed: feature store answered 503 for features "
            + ", ".join(f"customer_feature_{i}" for i in range(250)) + "; falling back to the defaults")
    findings = analyse(snapshot("healthy", logs=f"starting\nGET /health 200\n{line}\nserving\n"))
    assert causes(findings) == ["error_logs"], f"the log holds an error line: {findings}"
    evidence = evidence_of(findings, "error_logs")
    assert line in evidence, (
        f"the evidence quotes the last error line whole ({len(line)} characters, a long payload in it), not cut "
        f"short at any length: the end of a long error message is often the part that names the cause; got "
        f"{len(evidence)} characters ending {evidence[-60:]!r}"
    )


@pytest.mark.task(taskno=3)
def test_every_cause_that_applies_is_reported_in_the_order_of_causes():
    failing = dict(recorded("unhealthy")[0]["State"]["Health"])  # Docker's HEALTHCHECK reports 'unhealthy'
    logs = "starting\nERROR: worker died\n"
    findings = analyse(snapshot("oom_killed", REFUSED, latency_ms=[900.0] * 20, logs=logs, Health=failing))
    assert causes(findings) == ["oom_killed", "exited", "unreachable", "unhealthy", "slow", "error_logs"], (
        f"all six causes apply; findings come in the order of CAUSES, the log's error line last: {findings}"
    )
    findings = analyse(snapshot("oom_crash_loop", REFUSED, latency_ms=[900.0] * 20, logs=logs, Health=failing))
    assert causes(findings) == ["oom_killed", "crash_loop", "unreachable", "unhealthy", "slow", "error_logs"], (
        f"all six causes apply; findings come in the order of CAUSES: {findings}"
    )
    findings = analyse(snapshot("healthy", HealthCheck(status=503, latency_ms=1500.0), logs=logs))
    assert causes(findings) == ["unhealthy", "slow", "error_logs"], (
        f"a slow 503 with an error line in the log: unhealthy, slow, then error_logs, as CAUSES orders them: "
        f"{findings}"
    )


@pytest.mark.task(taskno=3)
def test_a_missing_container_is_not_found_and_nothing_else():
    findings = analyse(Snapshot("ghost", None, "", REFUSED, (900.0,)))
    assert causes(findings) == ["not_found"], f"with no container there is nothing else to judge: {findings}"
    assert "ghost" in findings[0].evidence, "the evidence names the container that was looked for"


# --- task 4: the health probe (real HTTP) -------------------------------------------


@pytest.fixture
def server():
    from mlops_katas.infra.http_server import ControlledServer

    with ControlledServer() as running:
        yield running


@pytest.mark.task(taskno=4)
def test_check_health_times_a_real_answer_in_milliseconds(server):
    import time

    server.set("healthy", delay_s=0.2)
    before = time.perf_counter()
    result = check_health(server.url)
    took_ms = (time.perf_counter() - before) * 1000.0
    assert result.status == 200, f"a healthy server answers 200, got {result}"
    assert result.latency_ms is not None and 200 <= result.latency_ms < 30_000, (
        f"the answer took at least 0.2 s, so latency_ms is at least 200, got {result.latency_ms}"
    )
    assert isinstance(result.latency_ms, float), (
        f"latency_ms is the time in milliseconds as a float, not cut to whole milliseconds: {result.latency_ms!r}"
    )
    assert result.latency_ms <= took_ms + 50, (
        f"latency_ms is the time the answer took, so at most the {took_ms:.0f} ms the whole check_health call "
        f"took; got {result.latency_ms}"
    )
    assert ("GET", "/health") in server.requests, "check_health should GET {url}/health"


@pytest.mark.task(taskno=4)
def test_check_health_appends_health_to_the_url_it_is_given(server):
    check_health(f"{server.url}/model-a")  # a server behind a proxy, under a path prefix
    assert server.requests == [("GET", "/model-a/health")], (
        f"check_health GETs {{url}}/health, keeping the url's own path (/model-a/health); the server saw "
        f"{server.requests}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_counts_the_whole_seconds_of_a_slow_answer(server):
    import time

    server.set("healthy", delay_s=1.05)
    before = time.perf_counter()
    result = check_health(server.url, timeout_s=10.0)
    took_ms = (time.perf_counter() - before) * 1000.0
    assert result.status == 200, f"a healthy server answers 200, got {result}"
    assert result.latency_ms is not None and 1050 <= result.latency_ms <= took_ms + 50, (
        f"the answer took more than a second (at least 1050 ms, at most the {took_ms:.0f} ms of the whole call); "
        f"latency_ms counts the whole seconds too (a timedelta's .microseconds leaves them out), "
        f"got {result.latency_ms}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_times_the_whole_answer_body_included(slow_body_server):
    result = check_health(slow_body_server, timeout_s=5.0)
    assert result.status == 200 and result.latency_ms is not None and result.latency_ms >= 600, (
        f"the server sent its headers at once and its body 0.6 s later: the answer took at least 600 ms, body "
        f"included (requests' response.elapsed stops at the headers); got {result}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_reports_an_error_status_as_it_is(server):
    server.set("failing", status=503)
    result = check_health(server.url)
    assert result.status == 503 and result.latency_ms is not None, f"a 503 is an answer, with a latency: {result}"
    assert server.requests == [("GET", "/health")], (
        f"check_health does one GET and reports the 503 it got, without retrying it; the server saw {server.requests}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_reports_a_redirect_without_following_it(server):
    server.set("redirect")  # every route answers 302 to /login, and /login answers 200
    result = check_health(server.url)
    assert result.status == 302 and result.latency_ms is not None, (
        f"/health answered 302: that status is the answer (a login page answering 200 is not a healthy "
        f"server), got {result}"
    )
    assert server.requests == [("GET", "/health")], (
        f"check_health does one GET and does not follow the redirect; the server saw {server.requests}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_probes_anew_on_every_call(server):
    first = check_health(server.url)
    server.set("failing", status=503)
    second = check_health(server.url)
    assert (first.status, second.status) == (200, 503), (
        f"the server answered 200, then (failing now) 503: every call probes anew and reports what it got now, "
        f"never an answer kept from an earlier call; got {first}, then {second}"
    )
    assert server.requests == [("GET", "/health")] * 2, (
        f"two calls are two GETs of /health; the server saw {server.requests}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.timeout(15)
def test_check_health_probes_anew_after_a_call_that_got_no_answer(server):
    server.set("slow", delay_s=1.5)  # beyond the 0.3 s asked for: no answer in time
    first = check_health(server.url, timeout_s=0.3)
    server.set("healthy", delay_s=0.0)
    second = check_health(server.url, timeout_s=2.0)
    assert first.status is None, f"the server took 1.5 s and timeout_s=0.3: the first call gets no answer: {first}"
    assert second.status == 200 and second.latency_ms is not None, (
        f"the server answers at once now: the second call probes anew and reports the 200 it gets, never the "
        f"'no answer' kept from the first call; got {second}"
    )
    assert server.requests == [("GET", "/health")] * 2, (
        f"two calls are two GETs of /health, also after a call that got no answer; the server saw {server.requests}"
    )


def sockets_left_to_gc(probe):
    """(probe's result, the sockets it left for the garbage collector to close), from the ResourceWarning Python
    gives when it closes a socket nobody closed."""
    import gc
    import warnings

    gc.collect()  # earlier tests' garbage is collected now, so only this probe's sockets can warn below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = probe()
        gc.collect()  # whatever the probe left behind is collected now, not at some later, luckier moment
    return result, [str(w.message) for w in caught
                    if issubclass(w.category, ResourceWarning) and "socket" in str(w.message)]


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("status, delay_s, timeout_s", [(200, 0.0, 2.0), (503, 0.0, 2.0), (200, 1.0, 0.3)],
                         ids=["answer_200", "answer_503", "no_answer_in_time"])
def test_check_health_closes_every_connection_it_opens(keep_alive_server, status, delay_s, timeout_s):
    url, still_open = keep_alive_server(status, delay_s)
    result, left_to_gc = sockets_left_to_gc(lambda: check_health(url, timeout_s=timeout_s))
    expected = "no answer within 0.3 s" if delay_s else f"a {status} answer"
    assert (result.status is None) == bool(delay_s), (
        f"the server kept the connection open after {expected}; got {result}"
    )
    assert not left_to_gc, (
        f"check_health closes every connection it opens before it returns ({expected} included): a monitor that "
        f"probes every few seconds otherwise runs out of file descriptors; the socket was left open and only the "
        f"garbage collector closed it: {left_to_gc}"
    )
    still = still_open(within_s=5.0)
    assert still == 0, (
        f"check_health closes every connection it opens before it returns ({expected} included); the server still "
        f"has {still} connection(s) open from the probe 5 s after it returned (kept in a pool or a module-level "
        f"session?)"
    )


def check_health_without_raising(url: str, server_did: str):
    """check_health(url), failing the test if it raises (an unfinished stub's NotImplementedError goes through)."""
    try:
        return check_health(url)
    except NotImplementedError:
        raise
    except Exception as exc:
        pytest.fail(f"{server_did}; check_health never raises for a broken server, but it raised {exc!r}")


# Servers whose answer check_health cannot read as HTTP (fixtures in conftest.py), and what each of them did.
BROKEN_ANSWERS = {
    "non_http_server": "the url's port belongs to a server that does not speak HTTP (it answered "
                       "'-ERR unknown command')",
    "broken_http_server": "the server sent its headers (Content-Length 100) and closed the connection after 9 bytes",
    "undecodable_body_server": "the server answered 200 with Content-Encoding gzip and a body that is not gzip",
    "http2_status_line_server": "the server answered with the status line 'HTTP/2 200 OK', a protocol version "
                                "HTTP/1.1 cannot read",
    "overlong_header_server": "the server answered 200 with a header line over 64 KiB",
    "too_many_headers_server": "the server answered 200 with 120 header lines",
}
UNREADABLE_HEADERS = ["http2_status_line_server", "overlong_header_server", "too_many_headers_server"]


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("broken", BROKEN_ANSWERS)
def test_check_health_closes_its_connection_after_a_broken_answer(request, broken):
    url = request.getfixturevalue(broken)
    result, left_to_gc = sockets_left_to_gc(lambda: check_health_without_raising(url, BROKEN_ANSWERS[broken]))
    assert not left_to_gc, (
        f"{BROKEN_ANSWERS[broken]}; check_health closes every connection it opens before it returns, also when the "
        f"answer is broken (it returned {result}), yet the socket was left open and only the garbage collector "
        f"closed it: {left_to_gc}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("unreadable", UNREADABLE_HEADERS)
def test_check_health_survives_an_answer_whose_head_it_cannot_read(request, unreadable):
    result = check_health_without_raising(request.getfixturevalue(unreadable), BROKEN_ANSWERS[unreadable])
    assert result.status is not None or result.error, (
        f"{BROKEN_ANSWERS[unreadable]}: either the status that arrived, or no status and the reason why; got {result}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_survives_an_answer_broken_off_midway(broken_http_server):
    result = check_health_without_raising(broken_http_server, "the server sent its headers (Content-Length 100) "
                                          "and closed the connection after 9 bytes")
    assert result.status is not None or result.error, (
        f"either the status that arrived, or no status and the reason why; got {result}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_survives_an_answer_that_is_not_http(non_http_server):
    result = check_health_without_raising(non_http_server, "the url's port belongs to a server that does not speak "
                                          "HTTP (it answered '-ERR unknown command')")
    assert result.status is None and result.latency_ms is None and result.error, (
        f"a line that is not an HTTP status line is no answer: no status, no latency, and the reason why; got {result}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_survives_a_connection_reset_by_the_server(resetting_server):
    result = check_health_without_raising(resetting_server, "the server's worker died on the request and reset the "
                                          "connection (RST) without answering")
    assert result.status is None and result.latency_ms is None and result.error, (
        f"a connection reset before any answer is no answer: no status, no latency, and the reason why; got {result}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_survives_a_body_it_cannot_decode(undecodable_body_server):
    result = check_health_without_raising(undecodable_body_server, "the server answered 200 with Content-Encoding "
                                          "gzip and a body that is not gzip")
    assert result.status is not None or result.error, (
        f"either the status that arrived, or no status and the reason why; got {result}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_check_health_follows_no_kind_of_redirect(redirecting_server, status):
    url, paths = redirecting_server(status)
    result = check_health(url)
    assert result.status == status and result.latency_ms is not None, (
        f"/health answered {status} (a redirect to a login page answering 200): every redirect, not only a 302, "
        f"is the answer to report, got {result}"
    )
    assert paths == ["/health"], f"check_health does one GET and follows no redirect; the server saw {paths}"


@pytest.mark.task(taskno=4)
def test_check_health_times_with_a_monotonic_clock_not_the_wall_clock(server, monkeypatch):
    import datetime
    import itertools
    import sys
    import time

    # The wall clock is stepped back an hour (an NTP correction) every time it is read during the probe,
    # whichever way it is read: time.time(), time.time_ns() or datetime.now().
    steps = itertools.count()
    real_time, real_time_ns, real_datetime = time.time, time.time_ns, datetime.datetime

    class SteppedBack(real_datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime.now(tz) - datetime.timedelta(hours=next(steps))

        @classmethod
        def today(cls):
            return cls.now()

        @classmethod
        def utcnow(cls):
            return cls.now(datetime.timezone.utc).replace(tzinfo=None)

    stepped = {id(real_time): lambda: real_time() - 3600.0 * next(steps),
               id(real_time_ns): lambda: real_time_ns() - 3600 * 10**9 * next(steps),
               id(real_datetime): SteppedBack}
    monkeypatch.setattr(time, "time", stepped[id(real_time)])
    monkeypatch.setattr(time, "time_ns", stepped[id(real_time_ns)])
    monkeypatch.setattr(datetime, "datetime", SteppedBack)
    learner = sys.modules[check_health.__module__]
    for name, value in list(vars(learner).items()):  # `from time import time`, `from datetime import datetime`
        if id(value) in stepped:
            monkeypatch.setattr(learner, name, stepped[id(value)])
    server.set("healthy", delay_s=0.05)
    result = check_health(server.url)
    monkeypatch.undo()
    assert result.status == 200, f"a healthy server answers 200, got {result}"
    assert result.latency_ms is not None and 50 <= result.latency_ms < 30_000, (
        f"the answer took about 50 ms; time it with a monotonic timer (time.perf_counter or time.monotonic), "
        f"which the wall clock being set back cannot change; got latency_ms={result.latency_ms}"
    )


@pytest.mark.task(taskno=4)
def test_check_health_of_a_refused_connection_has_no_status_and_says_why():
    result = check_health(f"http://127.0.0.1:{free_port()}")
    assert result.status is None and result.latency_ms is None, f"no answer means no status, no latency: {result}"
    assert result.error, "the error says why there was no answer"


@pytest.mark.task(taskno=4)
@pytest.mark.timeout(15)
def test_check_health_gives_up_after_its_timeout(server):
    server.set("slow", delay_s=30)
    result = check_health(server.url, timeout_s=0.3)
    assert result.status is None and result.error, f"a server slower than the timeout gives no answer: {result}"
    assert result.latency_ms is None, (
        f"a timed-out probe got no answer, so it has no latency (None), not the time it waited: {result}"
    )
    assert server.requests == [("GET", "/health")], (
        f"check_health does one GET and gives up after timeout_s, no retries (each would wait timeout_s again): "
        f"the server saw {server.requests}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.timeout(15)
def test_check_health_uses_the_timeout_it_is_given(server):
    server.set("slow", delay_s=1.5)  # within the default 2 s, well beyond the 0.3 s asked for
    result = check_health(server.url, timeout_s=0.3)
    assert result.status is None and result.latency_ms is None and result.error, (
        f"the server takes 1.5 s to answer and timeout_s=0.3, so check_health gives up before the answer comes "
        f"(timeout_s is the caller's bound, not a fixed wait): {result}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.timeout(15)
def test_check_health_waits_for_a_connection_no_longer_than_its_timeout(unanswered_connect):
    import time

    before = time.perf_counter()
    result = check_health(unanswered_connect, timeout_s=0.3)
    took_s = time.perf_counter() - before
    assert result.status is None and result.latency_ms is None and result.error, (
        f"a connection that is never accepted gives no answer: {result}"
    )
    assert took_s < 2.5, (
        f"timeout_s=0.3 bounds the wait for the connection too (requests' timeout= bounds connect and read), "
        f"yet check_health waited {took_s:.1f} s"
    )


@pytest.mark.task(taskno=4)
def test_a_docker_that_cannot_answer_is_not_a_missing_container():
    import docker

    # A client pointed at a port where no Docker daemon listens: every call fails to connect.
    unreachable = docker.DockerClient(base_url=f"tcp://127.0.0.1:{free_port()}", version="1.41", timeout=2)
    try:
        findings = diagnose("day13-any", f"http://127.0.0.1:{free_port()}", client=unreachable)
    except NotImplementedError:
        raise
    except Exception:
        return  # the Docker error propagated: the caller knows Docker itself is the problem
    pytest.fail(f"Docker could not be reached, yet diagnose answered {findings}: only NotFound means 'no such "
                "container'; any other Docker error must propagate")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("status", [500, 403], ids=["daemon_error", "permission_denied"])
def test_a_docker_error_answer_is_not_a_missing_container(failing_docker_api, status):
    import docker

    # A Docker daemon answers, but with an error instead of the container (a missing one is a 404).
    failing = docker.DockerClient(base_url=failing_docker_api(status), version="1.41", timeout=2)
    try:
        findings = diagnose("day13-any", f"http://127.0.0.1:{free_port()}", client=failing)
    except NotImplementedError:
        raise
    except Exception:
        return  # the Docker error propagated
    pytest.fail(f"Docker answered HTTP {status}, yet diagnose answered {findings}: only NotFound (404) means "
                "'no such container'; any other Docker API error must propagate")


@pytest.mark.task(taskno=4)
def test_gather_probes_and_reads_the_store_even_when_the_container_is_missing(failing_docker_api, server,
                                                                              recorded_latency):
    import docker

    no_such_container = docker.DockerClient(base_url=failing_docker_api(404), version="1.41", timeout=2)
    store = recorded_latency([40.0] * 5)
    snapshot = gather("day13-any", server.url, client=no_such_container, metrics=store)
    assert snapshot.inspect is None, f"the given client's Docker has no container day13-any: {snapshot}"
    assert snapshot.health.status == 200 and server.requests == [("GET", "/health")], (
        f"Docker has no such container, yet the url answers (a server outside Docker, or another container on "
        f"its port): gather still probes it and reports the 200 it got, not a made-up 'no answer'; "
        f"health {snapshot.health}, the server saw {server.requests}"
    )
    assert "latency_ms" in store.asked and sorted(snapshot.latency_ms) == [40.0] * 5, (
        f"gather still reads the store's latency when the container is missing, got {snapshot.latency_ms}"
    )


@pytest.mark.task(taskno=4)
def test_gather_lets_a_failing_store_raise_even_when_the_container_is_missing(failing_docker_api, server,
                                                                              unreadable_store):
    import sqlite3

    no_such_container = docker.DockerClient(base_url=failing_docker_api(404), version="1.41", timeout=2)
    try:
        snapshot = gather("day13-any", server.url, client=no_such_container, metrics=unreadable_store)
    except NotImplementedError:
        raise
    except sqlite3.OperationalError:
        return  # the store's error propagated: the caller knows the latency is unknown, not fast
    pytest.fail(f"the metrics store raised sqlite3.OperationalError, yet gather answered {snapshot}: a store that "
                "fails makes gather raise, container or not, since no latency is not fast latency")


@pytest.mark.task(taskno=4)
def test_gather_probes_with_the_timeout_it_is_given(failing_docker_api, server):
    server.set("slow", delay_s=1.5)  # within the default 2 s, well beyond the 0.3 s asked for
    no_such_container = docker.DockerClient(base_url=failing_docker_api(404), version="1.41", timeout=2)
    snapshot = gather("day13-any", server.url, client=no_such_container, timeout_s=0.3)
    assert snapshot.health.status is None and snapshot.health.latency_ms is None, (
        f"gather(timeout_s=0.3) probes with check_health(url, 0.3): a server taking 1.5 s to answer is no answer "
        f"then, not the 200 a probe with the 2 s default gets; got {snapshot.health}"
    )


@pytest.mark.task(taskno=4)
def test_gather_decodes_a_log_that_is_not_utf8_with_the_bad_bytes_replaced(docker_api_with_one_container, server):
    daemon = docker_api_with_one_container("day13-bad-bytes", stdout=b"starting\n",
                                           stderr=b"ERROR: cannot parse row caf\xe9 (d\xc3\xa9j\xc3\xa0 vu)\n")
    client = docker.DockerClient(base_url=daemon, version="1.41", timeout=5)
    try:
        logs = gather("day13-bad-bytes", server.url, client=client).logs
    except UnicodeDecodeError as exc:
        pytest.fail(f"the container wrote a Latin-1 byte (0xe9) to its log; gather decodes logs with invalid bytes "
                    f"replaced, it must not fail on them: {exc!r}")
    assert "caf\ufffd" in logs and "d\u00e9j\u00e0 vu" in logs and "starting" in logs, (
        f"the log, stdout and stderr, is decoded as UTF-8 with the invalid byte replaced (U+FFFD, not dropped) and "
        f"the valid UTF-8 'd\u00e9j\u00e0 vu' kept as it is (not read as Latin-1); got {logs!r}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("status", [500, 403], ids=["daemon_error", "permission_denied"])
def test_gather_lets_docker_refusing_the_logs_raise(docker_api_with_one_container, server, status):
    daemon = docker_api_with_one_container("day13-no-logs", stdout=b"ERROR: never read\n", logs_status=status)
    client = docker.DockerClient(base_url=daemon, version="1.41", timeout=5)
    try:
        snap = gather("day13-no-logs", server.url, client=client)
    except NotImplementedError:
        raise
    except docker.errors.NotFound as exc:
        pytest.fail(f"Docker answered the inspect, then HTTP {status} for the logs: that is a Docker error, not a "
                    f"missing container, yet gather raised NotFound: {exc!r}")
    except docker.errors.APIError:
        return  # Docker's refusal propagated: the caller knows the logs are unknown, not empty
    pytest.fail(f"Docker answered the inspect but refused the logs with HTTP {status}, yet gather answered with logs "
                f"{snap.logs!r}: a logs request Docker refuses is a Docker error and propagates (only the log's "
                f"content can never make gather fail), never an empty log")


@pytest.mark.task(taskno=4)
def test_gather_keeps_the_last_log_lines_asked_for(docker_api_with_one_container, server):
    lines = [f"line {i}" for i in range(10)]
    daemon = docker_api_with_one_container("day13-chatty", stdout="".join(f"{line}\n" for line in lines).encode())
    client = docker.DockerClient(base_url=daemon, version="1.41", timeout=5)
    last_three = gather("day13-chatty", server.url, client=client, log_lines=3).logs
    assert last_three.splitlines() == lines[-3:], (
        f"the container wrote 10 lines; gather(log_lines=3) keeps the last 3 ({lines[-3:]}), as docker logs --tail 3; "
        f"got {last_three!r}"
    )
    none = gather("day13-chatty", server.url, client=client, log_lines=0).logs
    assert none.splitlines() == [], (
        f"gather(log_lines=0) keeps no log line, as docker logs --tail 0; got {none!r}"
    )
    default = gather("day13-chatty", server.url, client=client).logs
    assert default.splitlines() == lines, (
        f"the container wrote 10 lines; gather's default log_lines=50 keeps all of them; got {default!r}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("hours", [1.0, 0.25, 2.0])
def test_gather_keeps_the_last_log_lines_however_long_ago_they_were_written(docker_api_with_one_container, server,
                                                                              hours):
    daemon = docker_api_with_one_container("day13-crashed-at-night", stdout=b"starting\n",
                                           stderr=b"ERROR: could not load model\n", logged_hours_ago=3.0)
    client = docker.DockerClient(base_url=daemon, version="1.41", timeout=5)
    logs = gather("day13-crashed-at-night", server.url, client=client, hours=hours).logs
    assert logs.splitlines() == ["starting", "ERROR: could not load model"], (
        f"the container wrote its 2 log lines and stopped 3 hours ago: gather keeps its last log_lines lines however "
        f"old they are (hours={hours:g} bounds only the store's latency, not the log, as `docker logs --since` "
        f"would); got {logs!r}"
    )


@pytest.mark.task(taskno=4)
def test_the_snapshot_names_the_container_as_it_was_asked_for(docker_api_with_one_container, server):
    client = docker.DockerClient(base_url=docker_api_with_one_container("day13-named"), version="1.41", timeout=5)
    full_id = "c0ffee" * 10 + "c0ff"  # the stand-in daemon's id for its container day13-named
    snap = gather(full_id, server.url, client=client)
    assert snap.inspect is not None, f"the stand-in Docker knows its container by its full id {full_id}: {snap}"
    assert snap.container == full_id, (
        f"gather was asked about {full_id}: the snapshot's container is the name or id as given, not Docker's own "
        f"name for it (day13-named); got {snap.container!r}"
    )


@pytest.mark.task(taskno=4)
def test_diagnose_judges_with_the_slow_ms_it_is_given(docker_api_with_one_container, server):
    client = docker.DockerClient(base_url=docker_api_with_one_container("day13-slowish"), version="1.41", timeout=5)
    server.set("healthy", delay_s=0.3)  # every /health answer takes at least 300 ms
    patient = causes(diagnose("day13-slowish", server.url, client=client, slow_ms=10_000.0))
    assert "slow" not in patient, (
        f"/health took about 300 ms, within the 10000 ms asked for: diagnose(slow_ms=10000.0) is "
        f"analyse(gather(...), slow_ms=10000.0), so not slow; got {patient}"
    )
    default = causes(diagnose("day13-slowish", server.url, client=client))
    assert "slow" in default, (
        f"/health took about 300 ms, over diagnose's default slow_ms=200.0: slow; got {default}"
    )


@pytest.mark.task(taskno=4)
def test_gather_reads_the_store_for_the_hours_asked_and_keeps_the_samples(failing_docker_api, server,
                                                                          recorded_latency):
    no_such_container = docker.DockerClient(base_url=failing_docker_api(404), version="1.41", timeout=2)
    store = recorded_latency([900.0] * 20, older=[(1.25, 30.0)] * 5 + [(1.75, 7.0)] * 5 + [(3.0, 7.0)] * 5)
    snapshot = gather("day13-any", server.url, client=no_such_container, metrics=store, hours=1.5)
    first, again = sorted(snapshot.latency_ms), sorted(snapshot.latency_ms)
    assert first == [30.0] * 5 + [900.0] * 20, (
        f"hours=1.5 reads the last hour and a half: the samples of 1.25 hours ago too, not those of 1.75 or 3 "
        f"hours ago (a fraction of an hour is passed on as given, not cut or rounded to whole hours); got {first}"
    )
    store = recorded_latency([900.0] * 20, older=[(0.25, 30.0)] * 5 + [(0.75, 7.0)] * 5)
    half = sorted(gather("day13-any", server.url, client=no_such_container, metrics=store, hours=0.5).latency_ms)
    assert half == [30.0] * 5 + [900.0] * 20, (
        f"hours=0.5 reads the last half hour: the samples of the last minute and of 0.25 hours ago, not those of "
        f"0.75 hours ago (0.5 is passed on as given; rounded, it would be 0 and read nothing); got {half}"
    )
    fractional = [200.4] * 19 + [0.25, 1e-3, 1234.5678901234]
    kept = gather("day13-any", server.url, client=no_such_container, metrics=recorded_latency(fractional)).latency_ms
    assert sorted(kept) == sorted(fractional), (
        f"the store's values are kept as it gave them, not rounded (a p95 of 200.4 ms is over a 200 ms budget, "
        f"200 is not): expected {sorted(fractional)[:3]}...{sorted(fractional)[-2:]}, got {sorted(kept)[:3]}..."
        f"{sorted(kept)[-2:]}"
    )
    assert again == first and isinstance(snapshot.latency_ms, tuple), (
        f"the snapshot keeps its samples as a tuple, so they can be read again (a generator is empty the second "
        f"time it is read): read once {first}, read again {again} ({type(snapshot.latency_ms).__name__})"
    )
    without_store = gather("day13-any", server.url, client=no_such_container).latency_ms
    assert without_store == (), f"without a metrics store the snapshot's latency samples are (), got {without_store!r}"


@pytest.mark.task(taskno=4)
def test_the_probe_and_gather_defaults_are_the_documented_ones():
    import inspect

    def defaults(function):
        return {name: p.default for name, p in inspect.signature(function).parameters.items()
                if p.default is not inspect.Parameter.empty}

    refused = check_health(f"http://127.0.0.1:{free_port()}")
    assert refused.status is None, f"nothing listens on that port, so there is no answer: {refused}"
    assert defaults(check_health).get("timeout_s") == 2.0, (
        f"check_health waits at most timeout_s=2.0 s by default, got {defaults(check_health)}"
    )
    expected = {"client": None, "metrics": None, "log_lines": 50, "timeout_s": 2.0, "hours": 1.0}
    got = defaults(gather)
    assert {name: got.get(name) for name in expected} == expected, (
        f"gather's defaults are client=None, metrics=None, log_lines=50, timeout_s=2.0, hours=1.0; got {got}"
    )
    got = defaults(diagnose)
    assert (got.get("client"), got.get("metrics"), got.get("slow_ms")) == (None, None, 200.0), (
        f"diagnose's defaults are client=None, metrics=None, slow_ms=200.0; got {got}"
    )


@pytest.mark.task(taskno=4)
def test_without_a_client_gather_asks_docker_from_env_when_called(failing_docker_api, monkeypatch):
    # docker.from_env() reads DOCKER_HOST when it is called: here it points at a stand-in daemon that
    # answers every request with an error, so a client made now cannot even learn the API version.
    monkeypatch.setenv("DOCKER_HOST", failing_docker_api(500))
    for name in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    try:
        snapshot = gather("day13-any", f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    except NotImplementedError:
        raise
    except Exception:
        return  # the client was made now, from the environment, and its Docker error propagated
    pytest.fail(f"without `client`, gather must call docker.from_env() when it is called (not once at import), "
                f"so DOCKER_HOST set now is used; it answered from another Docker instead: {snapshot}")


def clear_docker_environment(monkeypatch):
    for name in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.task(taskno=4)
def test_every_gather_without_a_client_reads_docker_host_anew(failing_docker_api, monkeypatch):
    import docker

    clear_docker_environment(monkeypatch)
    # First a Docker that has no such container, then (DOCKER_HOST changed) one that answers every request with 500.
    monkeypatch.setenv("DOCKER_HOST", failing_docker_api(404, knows_version=True))
    first = gather("day13-any", f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    assert first.inspect is None, f"the Docker at DOCKER_HOST has no container day13-any: {first}"
    monkeypatch.setenv("DOCKER_HOST", failing_docker_api(500, knows_version=True))
    try:
        second = gather("day13-any", f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    except docker.errors.APIError:
        return  # a client made for this call, from the DOCKER_HOST of now: its error propagated
    pytest.fail(f"DOCKER_HOST now points at a Docker answering 500, yet gather answered {second}: each call "
                "without `client` makes its client with docker.from_env() then, not a client kept from an earlier call")


@pytest.mark.task(taskno=4)
def test_a_given_client_is_used_and_docker_host_is_not_read(failing_docker_api, monkeypatch):
    import docker

    clear_docker_environment(monkeypatch)
    monkeypatch.setenv("DOCKER_HOST", failing_docker_api(500))  # a client made from the environment fails at once
    no_such_container = docker.DockerClient(base_url=failing_docker_api(404), version="1.41", timeout=2)
    try:
        snapshot = gather("day13-any", f"http://127.0.0.1:{free_port()}", client=no_such_container, timeout_s=0.5)
    except docker.errors.DockerException as exc:
        pytest.fail(f"gather was given a client whose Docker has no container day13-any, yet it failed with {exc!r}: "
                    "docker.from_env() (DOCKER_HOST) is only for calls without `client`")
    assert snapshot.inspect is None, f"the given client's Docker has no container day13-any: {snapshot}"
