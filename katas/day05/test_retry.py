"""Task 2: waiting for health with bounded retries, exponential backoff and a deadline.

Time is a fake clock: `clock.sleeps` records every wait, and a probe that "hangs" uses up
its whole timeout on that clock.
"""

import numpy
import pytest

from deploy_automation import RetryPolicy, wait_until_healthy

pytestmark = pytest.mark.task(taskno=2)

URL = "http://127.0.0.1:8000/health"


class Probe:
    """Answers from a list (the last answer repeats); "hang" uses up the probe's timeout, "late-200" uses it up
    and then answers healthy (a 200 that arrives just as the probe's timeout runs out)."""

    def __init__(self, clock, answers):
        self.clock = clock
        self.answers = answers
        self.timeouts = []

    def __call__(self, url, timeout):
        assert url == URL, f"the probe should be called with the URL given, got {url!r}"
        assert 0 < timeout < float("inf"), f"every probe needs a finite positive timeout, got {timeout!r}"
        answer = self.answers[min(len(self.timeouts), len(self.answers) - 1)]
        self.timeouts.append(timeout)
        if answer in ("hang", "late-200"):
            self.clock.now += timeout
            return answer == "late-200"
        return answer

    @property
    def count(self):
        return len(self.timeouts)


def wait(clock, answers, **policy):
    probe = Probe(clock, answers)
    healthy = wait_until_healthy(URL, health_check=probe, policy=RetryPolicy(**policy), sleep=clock.sleep, clock=clock)
    return healthy, probe


@pytest.mark.parametrize(
    "policy",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"initial_delay_s": 0},
        {"initial_delay_s": 2, "max_delay_s": 1},
        {"deadline_s": 0},
        {"deadline_s": -1},
        {"initial_delay_s": -0.5},
        {"probe_timeout_s": 0},
        {"probe_timeout_s": -1},
        {"deadline_s": float("nan")},
        {"initial_delay_s": float("nan")},
        {"probe_timeout_s": float("nan")},
        {"max_delay_s": float("nan")},
        {"max_attempts": float("nan")},
        {"deadline_s": numpy.float32("nan")},  # a NumPy NaN is NaN too, though not a float instance
        {"initial_delay_s": numpy.float32("nan")},
        {"max_delay_s": numpy.float32("nan")},  # every field: `max_delay_s < initial_delay_s` is False for NaN
        {"probe_timeout_s": numpy.float32("nan")},  # `probe_timeout_s <= 0` is False for NaN too
        {"max_attempts": numpy.float32("nan")},
    ],
    ids=repr,
)
def test_nonsense_policies_are_rejected(policy):
    with pytest.raises(ValueError):
        RetryPolicy(**policy)
        pytest.fail(f"RetryPolicy({policy}) should raise ValueError: a NaN field (a NumPy NaN too) or an out-of-range "
                    f"value is nonsense")


def test_a_policy_may_count_in_fractions_of_a_second(clock):
    try:
        healthy, probe = wait(clock, [False, True], initial_delay_s=0.05, max_delay_s=0.2, deadline_s=0.5,
                              probe_timeout_s=0.1)
    except ValueError as exc:
        pytest.fail(f"a deadline of 0.5 s and probes of 0.1 s are positive, so the policy is valid; got {exc!r}")
    assert healthy is True, "a service healthy on the second probe, within the 0.5 s deadline, should be accepted"
    assert probe.timeouts == [0.1, 0.1], f"both probes should use probe_timeout_s (0.1 s), got {probe.timeouts}"


def test_a_policy_is_frozen_so_it_stays_valid():
    import dataclasses

    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.deadline_s = -1  # a changeable policy could be made invalid after __post_init__ checked it
    assert policy.deadline_s == 30.0, "a frozen RetryPolicy keeps the values it was validated with"


def test_equal_initial_and_max_delay_is_a_valid_policy_of_equal_waits(clock):
    healthy, probe = wait(clock, [False], max_attempts=4, initial_delay_s=2.0, max_delay_s=2.0, deadline_s=600)
    assert healthy is False, "a service that never answers 200 is not healthy"
    assert clock.sleeps == [2.0, 2.0, 2.0], f"max_delay_s == initial_delay_s means equal waits, got {clock.sleeps}"


def test_without_a_policy_the_default_policy_applies(clock):
    probe = Probe(clock, [False])
    healthy = wait_until_healthy(URL, health_check=probe, sleep=clock.sleep, clock=clock)
    assert healthy is False, "a service that never answers 200 is not healthy"
    assert probe.count == 6, f"policy=None means RetryPolicy(): 6 attempts, made {probe.count}"
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0], f"policy=None means the default backoff, got {clock.sleeps}"
    assert probe.timeouts == [2.0] * 6, f"policy=None means 2 s probes, got {probe.timeouts}"


def test_the_clock_and_sleep_default_to_time_monotonic_and_time_sleep():
    import inspect
    import time

    healthy = wait_until_healthy(URL, health_check=lambda url, timeout: True, policy=RetryPolicy(deadline_s=5.0))
    assert healthy is True, "without a clock and sleep given, a service healthy on the first probe is accepted"
    params = inspect.signature(wait_until_healthy).parameters
    assert params["clock"].default in (time.monotonic, None), (
        f"clock should default to time.monotonic, got {params['clock'].default!r}: the wall clock (time.time) jumps "
        f"when NTP or an operator sets it, so a deadline measured with it can end at once or hours late"
    )
    assert params["sleep"].default in (time.sleep, None), f"sleep should default to time.sleep, got {params['sleep'].default!r}"


def test_a_healthy_service_is_accepted_on_the_first_probe_without_waiting(clock):
    healthy, probe = wait(clock, [True])
    assert healthy is True, "a service healthy on the first probe should be accepted"
    assert probe.count == 1, f"one probe is enough for a healthy service, made {probe.count}"
    assert clock.sleeps == [], f"there is nothing to wait for, yet it slept {clock.sleeps}"


def test_retries_until_the_service_becomes_healthy(clock):
    healthy, probe = wait(clock, [False, False, True], max_attempts=5, initial_delay_s=0.5)
    assert healthy is True, "a service that becomes healthy on the third probe should be accepted"
    assert probe.count == 3, f"it should stop probing once healthy; made {probe.count} probes"
    assert clock.sleeps == [0.5, 1.0], f"waits should be 0.5 then 1.0 s (doubling), got {clock.sleeps}"


def test_backoff_doubles_and_is_capped_at_max_delay(clock):
    healthy, probe = wait(clock, [False], max_attempts=7, initial_delay_s=0.25, max_delay_s=2.0, deadline_s=600)
    assert healthy is False, "a service that never answers 200 is not healthy"
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0], (
        f"waits should double from initial_delay_s and stop growing at max_delay_s, got {clock.sleeps}"
    )


@pytest.mark.parametrize("initial_delay_s, max_attempts, doublings", [(0.001, 15, "eleven"), (1e-9, 35, "31")],
                         ids=["11-doublings", "31-doublings"])
def test_backoff_keeps_doubling_until_a_far_cap(clock, initial_delay_s, max_attempts, doublings):
    healthy, probe = wait(clock, [False], max_attempts=max_attempts, initial_delay_s=initial_delay_s, max_delay_s=4.0,
                          deadline_s=1e6)
    expected = [min(4.0, initial_delay_s * 2 ** k) for k in range(max_attempts - 1)]  # ... 1.0 to 4.0, then 4.0, 4.0
    assert healthy is False, "a service that never answers 200 is not healthy"
    assert clock.sleeps == expected, (
        f"waits should double from initial_delay_s ({initial_delay_s}) for as long as it takes to reach max_delay_s "
        f"(4): {doublings} doublings here before the cap, not a fixed number of them (a guard against overflow must "
        f"not cap the exponent before the delay reaches max_delay_s); expected {expected}, got {clock.sleeps}"
    )


def test_backoff_stops_at_a_max_delay_that_is_not_a_doubling_of_the_initial_delay(clock):
    healthy, probe = wait(clock, [False], max_attempts=7, initial_delay_s=0.25, max_delay_s=3.0, deadline_s=600)
    assert healthy is False, "a service that never answers 200 is not healthy"
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0], (
        f"waits should double (0.25, 0.5, 1, 2) until the next one (4) would pass max_delay_s, then be "
        f"max_delay_s (3); got {clock.sleeps}"
    )


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_healthy_answer_on_the_last_allowed_attempt_is_accepted(clock, max_attempts):
    answers = [False] * (max_attempts - 1) + [True]
    healthy, probe = wait(clock, answers, max_attempts=max_attempts, initial_delay_s=0.5, deadline_s=600)
    assert healthy is True, (
        f"the service answered 200 on probe {max_attempts} of max_attempts={max_attempts}: the last attempt counts "
        f"like the others, so the service is healthy; got {healthy!r} after {probe.count} probes"
    )
    assert probe.count == max_attempts, f"it should probe exactly {max_attempts} times, made {probe.count}"


def test_gives_up_after_max_attempts_without_a_final_wait(clock):
    healthy, probe = wait(clock, [False], max_attempts=4, initial_delay_s=0.1, deadline_s=600)
    assert healthy is False, "after max_attempts failed probes the answer is: not healthy"
    assert probe.count == 4, f"max_attempts=4 means exactly 4 probes, made {probe.count}"
    assert len(clock.sleeps) == 3, f"4 probes need 3 waits between them (none after the last), got {clock.sleeps}"


def test_a_single_attempt_never_waits(clock):
    healthy, probe = wait(clock, [False], max_attempts=1)
    assert (healthy, probe.count, clock.sleeps) == (False, 1, []), "max_attempts=1 means one probe and no wait"


def test_the_deadline_stops_retries_before_max_attempts(clock):
    healthy, probe = wait(clock, [False], max_attempts=50, initial_delay_s=0.5, max_delay_s=8, deadline_s=3.0)
    assert healthy is False, "a service that never becomes healthy is not healthy"
    assert clock.elapsed <= 3.0 + 1e-9, f"the wait ran {clock.elapsed:g} s past a 3 s deadline"
    assert probe.count >= 3, f"probes at 0, 0.5 and 1.5 s fit in a 3 s deadline; it gave up after {probe.count}"
    assert probe.count < 50, "the deadline should stop the retries long before 50 attempts"
    assert clock.sleeps == [0.5, 1.0], (
        f"the third wait (2 s, from 1.5 s) would end past the 3 s deadline: give up instead of waiting, "
        f"not even a shortened wait; got waits {clock.sleeps}"
    )


def test_no_probe_is_made_when_a_wait_has_used_up_the_time_left(clock):
    # waits of 0.5 and 1.0 s end exactly at the 1.5 s deadline: no time is left for a third probe
    healthy, probe = wait(clock, [False], max_attempts=10, initial_delay_s=0.5, max_delay_s=4, deadline_s=1.5)
    assert healthy is False, "a service that never answers 200 is not healthy"
    assert probe.count == 2, f"probes at 0 and 0.5 s fit in a 1.5 s deadline, none after it; made {probe.count}"
    assert clock.elapsed <= 1.5, f"the wait ran {clock.elapsed:g} s past a 1.5 s deadline"


@pytest.mark.parametrize("overrun", [0.5, 0.75], ids=["ends-at-the-deadline", "ends-past-the-deadline"])
def test_no_probe_is_made_after_a_wait_that_overran_into_the_deadline(clock, overrun):
    # a busy machine: the 0.5 s wait really takes 0.5 + overrun s of clock() time, up to or past the 1 s deadline
    def slow_sleep(seconds):
        clock.sleep(seconds)
        clock.advance(overrun)

    probe = Probe(clock, [False])
    policy = RetryPolicy(max_attempts=10, initial_delay_s=0.5, max_delay_s=4, deadline_s=1.0, probe_timeout_s=2.0)
    healthy = wait_until_healthy(URL, health_check=probe, policy=policy, sleep=slow_sleep, clock=clock)
    assert healthy is False, "a service that never answered 200 within the deadline is not healthy"
    assert probe.count == 1, (
        f"the first wait ended {clock.elapsed:g} s after the start, with no time left of the 1 s deadline (measured "
        f"with clock()): no second probe should be made; made {probe.count} probes with timeouts {probe.timeouts}"
    )


def test_probe_timeouts_are_bounded_by_the_policy_and_the_time_left(clock):
    healthy, probe = wait(clock, ["hang"], max_attempts=20, initial_delay_s=0.5, max_delay_s=1, deadline_s=4.0,
                          probe_timeout_s=2.0)
    assert healthy is False, "a server that never answers is not healthy"
    assert all(t <= 2.0 for t in probe.timeouts), f"no probe may wait longer than probe_timeout_s: {probe.timeouts}"
    assert clock.elapsed <= 4.0 + 1e-9, (
        f"hanging probes plus waits took {clock.elapsed:g} s of a 4 s deadline; cut a probe's timeout to the time left"
    )
    assert probe.count >= 2, "two probes fit in 4 s: one of 2 s, a 0.5 s wait, one cut to the 1.5 s left"


def test_the_first_probe_is_cut_to_a_deadline_shorter_than_the_probe_timeout(clock):
    healthy, probe = wait(clock, ["hang"], max_attempts=3, deadline_s=1.0, probe_timeout_s=2.0)
    assert healthy is False, "a server that never answers is not healthy"
    assert probe.timeouts[:1] == [1.0], (
        f"with a 1 s deadline the first probe may wait 1 s, not the 2 s probe_timeout_s; got {probe.timeouts}"
    )
    assert clock.elapsed <= 1.0 + 1e-9, f"a hanging first probe ran the wait {clock.elapsed:g} s past a 1 s deadline"


def test_a_slow_start_within_the_deadline_is_accepted(clock):
    healthy, probe = wait(clock, ["hang", "hang", True], probe_timeout_s=1.0, initial_delay_s=0.5, deadline_s=10)
    assert healthy is True, "a service that answers within the deadline should be accepted"
    assert probe.timeouts[:2] == [1.0, 1.0], f"probes should use probe_timeout_s while there is time, got {probe.timeouts}"


@pytest.mark.parametrize("answers, deadline_s", [(["late-200"], 1.5), (["hang", "late-200"], 3.0)],
                         ids=["first-probe", "second-probe"])
def test_a_healthy_answer_that_arrives_as_the_deadline_is_reached_is_accepted(clock, answers, deadline_s):
    # the probe's timeout is cut to the time left, so its 200 arrives exactly at the deadline, not past it
    healthy, probe = wait(clock, answers, max_attempts=5, initial_delay_s=0.5, max_delay_s=1, deadline_s=deadline_s,
                          probe_timeout_s=2.0)
    assert clock.elapsed <= deadline_s + 1e-9, f"the wait ran {clock.elapsed:g} s past a {deadline_s:g} s deadline"
    assert healthy is True, (
        f"the probe answered 200 within its timeout, at {clock.elapsed:g} s of a {deadline_s:g} s deadline (not past "
        f"it): a healthy answer counts, also the one that uses up the time left; got {healthy!r} after probes "
        f"{probe.timeouts}"
    )


def test_a_policy_of_many_equal_waits_runs_all_its_attempts(clock):
    # "probe every 10 ms for up to 1100 attempts": 2 ** 1100 does not fit in a float, the delay is still the cap
    healthy, probe = wait(clock, [False], max_attempts=1100, initial_delay_s=0.01, max_delay_s=0.01, deadline_s=1e6)
    assert healthy is False, "a service that never answers 200 is not healthy"
    assert probe.count == 1100, f"max_attempts=1100 means 1100 probes, made {probe.count}"
    assert len(clock.sleeps) == 1099 and set(clock.sleeps) == {0.01}, (
        f"every wait should be max_delay_s (0.01 s), however many attempts came before; got {len(clock.sleeps)} "
        f"waits of {sorted(set(clock.sleeps))[:5]}"
    )
