"""Task 2: the bounded load (`put_load`) and the monitor's decision (`judge`)."""

from __future__ import annotations

import math
import subprocess

import pytest

from capstone import LoadResult, judge, put_load
from mlops_katas.fakes import FakeClock

pytestmark = pytest.mark.task(taskno=2)


class Probe:
    """Records when it was called; each call takes `cost` seconds (or `costs[i]`, then `cost`) and answers
    per `answers`."""

    def __init__(self, clock, cost=0.0, answers=None, costs=()):
        self.clock, self.cost, self.answers, self.costs, self.times = clock, cost, answers, list(costs), []

    def __call__(self):
        self.times.append(self.clock.elapsed)
        index = len(self.times) - 1
        self.clock.advance(self.costs[index] if index < len(self.costs) else self.cost)
        if self.answers is None:
            return 12.5
        return self.answers[(len(self.times) - 1) % len(self.answers)]


def load(probe, clock, **kwargs):
    return put_load(probe, clock=clock, sleep=clock.sleep, **kwargs)


def test_requests_are_paced_at_the_rate():
    clock = FakeClock()
    probe = Probe(clock)
    result = load(probe, clock, requests=5, rps=10, deadline_s=60)
    assert result == LoadResult(5, 5, 0), f"5 answered requests, got {result}"
    assert probe.times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4]), (
        f"request i starts at i / rps seconds, got {probe.times}")


def test_never_more_than_the_requests_asked_for():
    clock = FakeClock()
    probe = Probe(clock)
    result = load(probe, clock, requests=3, rps=1000, deadline_s=60)
    assert result.sent == 3, f"requests=3 with time to spare should send exactly 3 requests, sent {result.sent}"
    assert len(probe.times) == 3, f"requests=3 should call the probe exactly 3 times, it was called {len(probe.times)}"
    clock = FakeClock()
    probe = Probe(clock)
    assert load(probe, clock, requests=1, rps=0.5, deadline_s=60).sent == 1 and clock.elapsed == 0, (
        "one request is sent at once and nothing waits after the last one")


def test_nothing_starts_at_or_after_the_deadline():
    clock = FakeClock()
    probe = Probe(clock)
    result = load(probe, clock, requests=100, rps=1, deadline_s=10)
    assert result.sent == 10 and probe.times == pytest.approx(list(range(10))), (
        f"at 1 a second with a 10 s deadline: requests at 0..9 s, none at 10 s; got {probe.times}")
    assert clock.elapsed <= 10, f"the load never waits past its deadline, it took {clock.elapsed} s"


def test_the_load_does_not_wait_past_its_deadline():
    clock = FakeClock()
    probe = Probe(clock)
    result = load(probe, clock, requests=100, rps=1, deadline_s=2.5)
    assert result.sent == 3 and probe.times == pytest.approx([0, 1, 2]), (
        f"at 1 a second with a 2.5 s deadline: requests at 0, 1 and 2 s; got {probe.times}")
    assert clock.elapsed <= 2.5, (
        f"the next request would be due at 3 s, past the 2.5 s deadline: the load should not wait for it, "
        f"it took {clock.elapsed} s")


class OversleepingClock(FakeClock):
    """A fake clock whose `sleep` wakes `late` seconds after it was asked to, as a real `time.sleep` does."""

    late = 0.05

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds + self.late)


def test_no_request_starts_at_or_after_the_deadline_when_sleep_wakes_late():
    clock = OversleepingClock()
    probe = Probe(clock)
    load(probe, clock, requests=10, rps=1, deadline_s=2.02)
    late = [t for t in probe.times if t >= 2.02]
    assert not late, (
        f"at 1 a second with a 2.02 s deadline and a sleep that wakes 0.05 s late, the request due at 2 s would start "
        f"at 2.1 s, past the deadline: read the clock again after the wait and start nothing at or after "
        f"start + deadline_s; requests started at {probe.times}")


def test_the_deadline_holds_with_a_slow_server():
    clock = FakeClock()
    probe = Probe(clock, cost=3.0)
    result = load(probe, clock, requests=100, rps=100, deadline_s=10)
    assert probe.times == pytest.approx([0, 3, 6, 9]), f"slow answers: requests at 0, 3, 6, 9 s, got {probe.times}"
    assert result.sent == 4, f"with 3 s answers and a 10 s deadline exactly 4 requests start, sent {result.sent}"


def test_no_request_starts_when_an_answer_ends_exactly_at_the_deadline():
    clock = FakeClock()
    probe = Probe(clock, cost=2.5)
    result = load(probe, clock, requests=100, rps=100, deadline_s=10)
    assert probe.times == pytest.approx([0, 2.5, 5, 7.5]) and result.sent == 4, (
        f"answers of 2.5 s and a 10 s deadline: requests at 0, 2.5, 5 and 7.5 s; the fourth answer comes at 10 s, "
        f"which is the deadline, so no fifth request starts; got {probe.times}")


def test_a_slow_answer_does_not_slow_the_schedule_down():
    clock = FakeClock()
    probe = Probe(clock, costs=[0.35])  # the first answer is slow, the others instant
    load(probe, clock, requests=6, rps=10, deadline_s=60)
    assert probe.times == pytest.approx([0, 0.35, 0.35, 0.35, 0.4, 0.5]), (
        f"request i is due at i / rps from the start, not 1 / rps after the one before: after a 0.35 s answer the "
        f"requests due at 0.1, 0.2 and 0.3 s start at once and the schedule is back on time at 0.4 s; "
        f"got {probe.times}")


def test_the_wait_ends_when_the_request_is_due():
    clock = FakeClock()
    probe = Probe(clock, cost=0.04)
    load(probe, clock, requests=4, rps=10, deadline_s=60)
    assert probe.times == pytest.approx([0, 0.1, 0.2, 0.3]), (
        f"answers take 0.04 s at 10 a second: each request waits only until it is due (0.06 s), not a whole "
        f"1 / rps interval, so they start at 0, 0.1, 0.2 and 0.3 s; got {probe.times}")


@pytest.mark.parametrize("rps", [10, 30, 49])
def test_the_schedule_does_not_drift_into_an_extra_request(rps):
    clock = FakeClock()
    probe = Probe(clock)
    result = load(probe, clock, requests=1000, rps=rps, deadline_s=1)
    assert result.sent == rps, (
        f"at {rps} a second with a 1 s deadline exactly {rps} requests start (i / rps for i < {rps}); a due time "
        f"summed up request by request drifts below 1 s and sends one more; sent {result.sent}")
    assert probe.times == pytest.approx([i / rps for i in range(rps)]), f"request i starts at i / rps: {probe.times}"


HUGE_BUDGET = """
from capstone import put_load
now = [0.0]
def sleep(seconds):
    now[0] += seconds
result = put_load(lambda: 1.0, requests=10**15, rps=10, deadline_s=1, clock=lambda: now[0], sleep=sleep)
print(result.sent)
"""


@pytest.mark.timeout(90)
def test_a_huge_request_budget_costs_no_memory(run_in_limited_memory):
    clock = FakeClock()
    load(Probe(clock), clock, requests=1, rps=10, deadline_s=1)  # in process first: an unfinished stub says so

    try:
        done = run_in_limited_memory(HUGE_BUDGET, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("requests=10**15 at 10 a second with a 1 s deadline should send 10 requests and return, on the "
                    "clock it is given; it was still running after 60 s: stop at the deadline, whatever the budget")
    assert done.returncode == 0 and done.stdout.split()[-1:] == ["10"], (
        "requests=10**15 at 10 a second with a 1 s deadline sends 10 requests and returns: the budget is a bound, "
        "not a list to build first (due times computed one at a time need no memory); in a process limited to "
        f"3 GiB it exited {done.returncode}: {done.stdout[-200:]}{done.stderr[-600:]}")


def test_failed_counts_the_requests_sent_not_the_budget():
    clock = FakeClock()
    result = load(Probe(clock, answers=[10.0, None]), clock, requests=100, rps=1, deadline_s=4)
    assert result == LoadResult(sent=4, ok=2, failed=2), (
        f"the 4 s deadline stops the load after 4 of its 100 requests, 2 answered: failed counts the requests sent "
        f"and not answered (sent - ok = 2), not the budget left unsent (100 - 2); got {result}")


class TickingClock(FakeClock):
    """A fake clock that moves `tick` seconds each time it is read, as a real clock moves between two reads."""

    def __init__(self, tick: float) -> None:
        super().__init__()
        self.tick = tick

    def __call__(self) -> float:
        now = self.now
        self.now += self.tick
        return now


def test_the_wait_survives_a_clock_that_moves_between_two_reads():
    clock = TickingClock(0.002)
    probe = Probe(clock, costs=[(i % 10) * 0.001 for i in range(50)])  # answers of 0 to 9 ms at 100 a second
    try:
        result = load(probe, clock, requests=50, rps=100, deadline_s=60)
    except ValueError as exc:
        pytest.fail(f"a clock that moves 2 ms each time it is read (as a real one does between two reads) made "
                    f"put_load fail with {exc!r} after {len(probe.times)} requests: read the clock once for each wait "
                    f"and sleep what that reading leaves (`if due > clock(): sleep(due - clock())` reads it twice and "
                    f"can hand sleep a negative length)", pytrace=False)
    assert result == LoadResult(50, 50, 0), f"50 answered requests within the deadline, got {result}"
    early = [(i, t) for i, t in enumerate(probe.times) if t < i / 100 - 1e-9]
    assert not early, f"request i starts no earlier than i / rps; these started early (i, time): {early[:5]}"


def test_a_latency_of_any_number_type_is_an_answered_request():
    import numpy as np

    clock = FakeClock()
    answers = [7, np.float32(3.5), np.int64(2), np.float64(1.25), None]
    result = load(Probe(clock, answers=answers), clock, requests=5, rps=100, deadline_s=60)
    assert result == LoadResult(sent=5, ok=4, failed=1), (
        f"a probe that returns a number answered, whatever its type (an int 7, numpy.float32, numpy.int64, "
        f"numpy.float64), and only None is a failed request: expected LoadResult(5, 4, 1), got {result}")


def test_failed_requests_are_counted():
    clock = FakeClock()
    result = load(Probe(clock, answers=[10.0, None, None, 0.0]), clock, requests=8, rps=100, deadline_s=60)
    assert result == LoadResult(sent=8, ok=4, failed=4), (
        f"None is a failed request; a latency of 0.0 is an answered one: {result}")


@pytest.mark.parametrize("bad", [
    {"requests": 0}, {"requests": -1}, {"requests": 2.0}, {"requests": True}, {"requests": "5"},
    {"rps": 0}, {"rps": -1.0}, {"rps": math.nan}, {"rps": math.inf},
    {"deadline_s": 0}, {"deadline_s": math.nan}, {"deadline_s": math.inf}, {"deadline_s": -5},
    {"rps": "10"}, {"deadline_s": "5"},  # a numeric string is not a number: ValueError, not TypeError
])
def test_an_unbounded_or_nonsense_load_is_refused(bad):
    clock = FakeClock()
    probe = Probe(clock)
    kwargs = {"requests": 5, "rps": 10.0, "deadline_s": 10.0, **bad}
    with pytest.raises(ValueError):
        load(probe, clock, **kwargs)
    assert not probe.times, f"a refused load sends nothing, got {len(probe.times)} requests"


@pytest.mark.parametrize("rps, deadline_s", [
    ("float32", "int64"), ("int64", "float32"), ("float64", "int32"),
])
def test_numpy_numbers_are_a_valid_rate_and_deadline(rps, deadline_s):
    np = pytest.importorskip("numpy")
    clock = FakeClock()
    rate, deadline = getattr(np, rps)(10), getattr(np, deadline_s)(5)
    try:
        result = load(Probe(clock), clock, requests=3, rps=rate, deadline_s=deadline)
    except ValueError as error:
        pytest.fail(f"rps=numpy.{rps}(10) and deadline_s=numpy.{deadline_s}(5) are positive finite numbers (NumPy "
                    f"numbers are numbers like any other): 3 requests should be sent, got ValueError: {error}")
    assert result == LoadResult(3, 3, 0), (
        f"rps=numpy.{rps}(10), deadline_s=numpy.{deadline_s}(5), requests=3 should send 3 answered requests, "
        f"got {result}")


def test_a_healthy_run_is_healthy_and_limits_are_inclusive():
    verdict = judge(sent=100, ok=99, p95_ms=500.0, error_ratio=0.01, min_availability=0.99, max_p95_ms=500.0,
                    max_error_ratio=0.01)
    assert verdict.healthy, f"every signal exactly at its limit is healthy: {verdict}"
    assert judge(sent=10, ok=10, p95_ms=None, error_ratio=None).healthy, "unmeasured signals do not fail a run"


@pytest.mark.parametrize("signal, kwargs, words", [
    ("availability", {"ok": 98}, "availability"),
    ("latency", {"p95_ms": 500.1}, "p95"),
    ("errors", {"error_ratio": 0.0101}, "5xx"),
])
def test_each_signal_past_its_limit_is_a_regression(signal, kwargs, words):
    values = {"sent": 100, "ok": 100, "p95_ms": 20.0, "error_ratio": 0.0, **kwargs}
    verdict = judge(**values, min_availability=0.99, max_p95_ms=500.0, max_error_ratio=0.01)
    assert not verdict.healthy, f"{signal} past its limit is a regression: {verdict}"
    assert words in verdict.reason, f"the reason names the {signal} signal ({words!r}): {verdict.reason!r}"


@pytest.mark.parametrize("signal, kwargs, words", [
    ("latency", {"p95_ms": math.nan}, "p95"),
    ("errors", {"error_ratio": math.nan}, "5xx"),
])
def test_a_nan_signal_is_within_no_limit(signal, kwargs, words):
    values = {"sent": 100, "ok": 100, "p95_ms": 20.0, "error_ratio": 0.0, **kwargs}
    verdict = judge(**values)
    assert not verdict.healthy, (
        f"a NaN {signal} (Prometheus answers NaN for 0/0) is measured and within no limit, so not healthy: {verdict}")
    assert words in verdict.reason, f"the reason names the {signal} signal ({words!r}): {verdict.reason!r}"


def test_availability_is_compared_unrounded():
    verdict = judge(sent=10_000, ok=9_899, p95_ms=10.0, error_ratio=0.0, min_availability=0.99)
    assert not verdict.healthy and "availability" in verdict.reason, (
        f"9899 of 10000 answered is an availability of 0.9899, below 0.99: ok / sent is compared with "
        f"min_availability as it is, not rounded first (0.990 to three places); got {verdict}")
    assert judge(sent=10_000, ok=9_900, p95_ms=10.0, error_ratio=0.0, min_availability=0.99).healthy, (
        "9900 of 10000 answered is exactly 0.99, which is at the limit and healthy")
    for ok, limit in ((7, 0.07), (14, 0.14), (28, 0.28)):
        assert judge(sent=100, ok=ok, p95_ms=10.0, error_ratio=0.0, min_availability=limit).healthy, (
            f"{ok} of 100 answered is an availability of ok / sent = {ok / 100}, exactly min_availability {limit}: at "
            f"the limit, so healthy (ok >= min_availability * sent compares {ok} with {limit * 100!r}, which the "
            f"float product pushes past the limit)")


def test_the_verdict_is_a_plain_bool_whatever_number_types_come_in():
    import dataclasses
    import json

    import numpy as np

    cases = [dict(sent=np.int64(100), ok=np.int64(100), p95_ms=np.float64(20.0), error_ratio=np.float64(0.0)),
             dict(sent=np.int64(100), ok=np.int64(50), p95_ms=np.float64(20.0), error_ratio=np.float64(0.0)),
             dict(sent=100, ok=100, p95_ms=np.float32(900.0), error_ratio=None),
             dict(sent=100, ok=100, p95_ms=None, error_ratio=np.float64(0.5))]
    for values in cases:
        verdict = judge(**values)
        assert type(verdict.healthy) is bool, (
            f"judge({values}) should give a plain bool for healthy (the report is written as JSON, which cannot "
            f"hold a {type(verdict.healthy).__name__}), got {verdict.healthy!r}")
        json.dumps(dataclasses.asdict(verdict))


def test_the_defaults_are_the_readmes():
    verdict = judge(sent=100, ok=99, p95_ms=500.0, error_ratio=0.01)
    assert verdict.healthy, (
        f"with the default limits (0.99, 500 ms, 0.01), 99 of 100, p95 500 ms and 1% 5xx are all at the limit "
        f"and healthy: {verdict}")
    assert not judge(sent=1000, ok=989, p95_ms=10.0, error_ratio=0.0).healthy, "min_availability defaults to 0.99"
    assert not judge(sent=100, ok=100, p95_ms=500.5, error_ratio=0.0).healthy, "max_p95_ms defaults to 500"
    assert not judge(sent=100, ok=100, p95_ms=10.0, error_ratio=0.011).healthy, "max_error_ratio defaults to 0.01"


def test_every_failed_signal_is_named():
    verdict = judge(sent=100, ok=50, p95_ms=900.0, error_ratio=0.5)
    assert not verdict.healthy, f"availability 0.5, p95 900 ms and 50% 5xx are all past the limits: {verdict}"
    for words in ("availability", "p95", "5xx"):
        assert words in verdict.reason, f"all three signals failed; the reason names {words!r}: {verdict.reason!r}"


def test_no_request_is_no_evidence():
    assert not judge(sent=0, ok=0, p95_ms=None, error_ratio=None).healthy, (
        "a load that sent nothing proves nothing: not healthy")
    assert not judge(sent=0, ok=0, p95_ms=None, error_ratio=None, min_availability=0.0).healthy, (
        "healthy needs sent > 0 whatever the limits: with min_availability 0, a load that sent nothing is still "
        "not healthy")


def test_the_limits_given_are_the_limits_used():
    assert judge(sent=100, ok=60, p95_ms=10.0, error_ratio=0.0, min_availability=0.5).healthy, (
        "60 of 100 answered is healthy when min_availability is 0.5")
    assert not judge(sent=100, ok=99, p95_ms=10.0, error_ratio=0.0, min_availability=1.0).healthy, (
        "99 of 100 answered is a regression when min_availability is 1.0")
    assert judge(sent=100, ok=100, p95_ms=900.0, error_ratio=0.0, max_p95_ms=1000.0).healthy, (
        "a p95 of 900 ms is healthy when max_p95_ms is 1000")
    assert not judge(sent=100, ok=100, p95_ms=60.0, error_ratio=0.0, max_p95_ms=50.0).healthy, (
        "a p95 of 60 ms is a regression when max_p95_ms is 50")
    assert judge(sent=100, ok=100, p95_ms=10.0, error_ratio=0.2, max_error_ratio=0.25).healthy, (
        "20% 5xx is healthy when max_error_ratio is 0.25")
    assert not judge(sent=100, ok=100, p95_ms=10.0, error_ratio=0.002, max_error_ratio=0.001).healthy, (
        "0.2% 5xx is a regression when max_error_ratio is 0.001")
