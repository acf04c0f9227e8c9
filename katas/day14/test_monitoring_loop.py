"""Task 1: the loop stops, keeps its schedule with the injected clock and sleep, and survives errors."""

import sqlite3
import threading

import pytest

from monitoring_system import MonitoringSystem

pytestmark = pytest.mark.task(taskno=1)


def make(store, alerter, clock, sleep, probe=lambda: 12.0, **kwargs):
    return MonitoringSystem(probe, store, alerter, clock=clock, sleep=sleep, **kwargs)


def test_pauses_with_the_injected_sleep_between_ticks_only(kit, store, clock, fake_sleep):
    make(store, kit.RecordingAlerter(), clock, fake_sleep, interval_s=0.05, max_iterations=3).run()
    assert fake_sleep.calls == [pytest.approx(0.05), pytest.approx(0.05)], (
        f"3 ticks 0.05 s apart need two 0.05 s pauses through the injected sleep (none after the last), got {fake_sleep.calls}")


def test_runs_exactly_max_iterations_ticks(kit, store, clock, fake_sleep):
    alerter = kit.RecordingAlerter()
    summary = make(store, alerter, clock, fake_sleep, interval_s=0.05, max_iterations=3).run()
    assert len(alerter.seen) == 3, f"3 ticks should reach the alerter, {len(alerter.seen)} did"
    assert summary.iterations == 3, f"the summary should count 3 iterations, says {summary.iterations}"
    assert summary.stopped_by == "max_iterations", f"stopped_by should be 'max_iterations', is {summary.stopped_by!r}"


class SlowAlerter:
    """An alerter that takes `seconds` of the fake clock to decide."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds = clock, seconds

    def evaluate(self, metrics):
        self.clock.advance(self.seconds)
        return []


@pytest.mark.parametrize("slow", ["probe", "probe-and-alerter"])
def test_the_tick_duration_comes_off_the_pause(kit, store, clock, fake_sleep, slow):
    def slow_probe():
        clock.advance(1 if slow == "probe-and-alerter" else 2)
        return 12.0

    alerter = SlowAlerter(clock, 1) if slow == "probe-and-alerter" else kit.RecordingAlerter()
    make(store, alerter, clock, fake_sleep, probe=slow_probe, interval_s=10, max_iterations=3).run()
    assert fake_sleep.calls == [pytest.approx(8), pytest.approx(8)], (
        f"a tick that takes 2 s of a 10 s interval (the whole tick: probe, store and alerter) should pause 8 s, "
        f"so ticks do not drift; got {fake_sleep.calls}")


def test_an_overrunning_tick_pauses_zero_never_negative(kit, store, clock, fake_sleep):
    def slow_probe():
        clock.advance(15)
        return 12.0

    summary = make(store, kit.RecordingAlerter(), clock, fake_sleep, probe=slow_probe, interval_s=10,
                   max_iterations=3).run()
    assert summary.iterations == 3, "all 3 ticks should still run"
    assert all(s == 0 for s in fake_sleep.calls), f"a tick longer than the interval should pause 0 s, got {fake_sleep.calls}"


def test_an_overrun_does_not_shorten_the_following_pauses(kit, store, clock, fake_sleep):
    durations = iter([15, 0, 0])

    def probe():
        clock.advance(next(durations))
        return 12.0

    make(store, kit.RecordingAlerter(), clock, fake_sleep, probe=probe, interval_s=10, max_iterations=3).run()
    assert fake_sleep.calls == [pytest.approx(0), pytest.approx(10)], (
        f"a 15 s tick of a 10 s interval is followed by a 0 s pause, then an instant tick by the full 10 s: each pause "
        f"is interval_s minus that tick's own duration (no catching up on earlier overruns), got {fake_sleep.calls}")


def test_a_stop_event_set_before_run_means_no_tick(kit, store, clock, fake_sleep):
    alerter, stop = kit.RecordingAlerter(), threading.Event()
    stop.set()
    summary = make(store, alerter, clock, fake_sleep, interval_s=10, stop_event=stop).run()
    assert alerter.seen == [] and summary.iterations == 0, "a stop event already set should stop the loop before any tick"
    assert summary.stopped_by == "stop_event", f"stopped_by should be 'stop_event', is {summary.stopped_by!r}"


def test_a_stop_event_set_during_a_pause_ends_the_loop(kit, store, clock, fake_sleep):
    alerter, stop = kit.RecordingAlerter(), threading.Event()
    fake_sleep.on_sleep = lambda n: stop.set() if n == 2 else None
    summary = make(store, alerter, clock, fake_sleep, interval_s=10, stop_event=stop).run()
    assert len(alerter.seen) == 2, f"the stop set in the 2nd pause should prevent a 3rd tick; {len(alerter.seen)} ticks ran"
    assert summary.stopped_by == "stop_event", f"stopped_by should be 'stop_event', is {summary.stopped_by!r}"


@pytest.mark.timeout(20)
def test_a_stop_from_another_thread_ends_a_real_time_run_promptly(kit, store):
    stop, ticked = threading.Event(), threading.Event()

    def probe():
        ticked.set()
        return 12.0

    system = MonitoringSystem(probe, store, kit.RecordingAlerter(), sleep=stop.wait, interval_s=3600, stop_event=stop)
    worker = threading.Thread(target=system.run, daemon=True)
    worker.start()
    assert ticked.wait(5), "the first tick should start at once"
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive(), "with sleep=stop_event.wait, setting the stop event should end the run within seconds"


@pytest.mark.parametrize("kwargs", [{}, {"interval_s": 0, "max_iterations": 1}, {"interval_s": -5, "max_iterations": 1},
                                    {"interval_s": 0.0, "max_iterations": 1}, {"interval_s": float("nan"), "max_iterations": 1},
                                    {"max_iterations": 0}, {"max_iterations": -1},
                                    {"max_iterations": 0, "stop_event": threading.Event()}],
                         ids=["no-way-to-stop", "zero-interval", "negative-interval", "zero-float-interval", "nan-interval",
                              "zero-iterations", "negative-iterations", "zero-iterations-with-stop-event"])
def test_a_loop_that_could_never_stop_or_would_spin_is_refused(kit, store, clock, fake_sleep, kwargs):
    with pytest.raises(ValueError):
        make(store, kit.RecordingAlerter(), clock, fake_sleep, **kwargs)


class StoreError(Exception):
    """A collaborator's own error type: any `Exception` subclass fails the tick, not only the built-in ones."""


# What a collaborator may raise, as (type, message): a tick turns each into its error and the loop goes on.
ERRORS = {
    "RuntimeError": (RuntimeError, "{} bug"),
    "KeyError": (KeyError, "{} bug"),
    "TypeError": (TypeError, "{} bug: unsupported operand type(s)"),
    "sqlite3.OperationalError": (sqlite3.OperationalError, "database is locked"),
    "custom-Exception-subclass": (StoreError, "{} bug: store unavailable"),
}


def raising(kind):
    """A factory of the exception `kind` (a key of ERRORS) for the collaborator method it is given."""
    error_type, message = ERRORS[kind]
    return lambda attr: error_type(message.format(attr))


class FailsOnce:
    """Wraps a collaborator; the method `name` raises `error(name)` (RuntimeError by default) on its first call only."""

    def __init__(self, inner, name, error=raising("RuntimeError")):
        self.inner, self.name, self.error, self.failed = inner, name, error, False

    def __getattr__(self, attr):
        method = getattr(self.inner, attr)
        if attr != self.name:
            return method

        def wrapped(*args, **kwargs):
            if not self.failed:
                self.failed = True
                raise self.error(attr)
            return method(*args, **kwargs)

        return wrapped


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("broken", ["probe", "calculate_sla_compliance", "latency_percentile", "evaluate"])
def test_an_error_in_one_tick_does_not_end_the_loop(kit, store, clock, fake_sleep, broken, kind):
    calls, error = [], raising(kind)

    def probe():
        calls.append(1)
        if broken == "probe" and len(calls) == 1:
            raise error("probe")
        return 12.0

    alerter = kit.RecordingAlerter()
    system = make(FailsOnce(store, broken, error), FailsOnce(alerter, broken, error), clock, fake_sleep, probe=probe,
                  interval_s=10, max_iterations=3)
    report = system.tick()
    raised = error(broken)
    expected = f"{type(raised).__name__}: {raised}"
    assert report.error == expected, (
        f"a tick whose {broken} raises {type(raised).__name__}({str(raised)!r}) should report error={expected!r} "
        f"(any Exception from a collaborator fails the tick, not the run), got {report.error!r}")
    summary = system.run()
    assert len(calls) == 4, f"the loop should go on after a failing tick: 1 + 3 probes expected, {len(calls)} ran"
    assert summary.errors == 0 and summary.iterations == 3, f"the failure was in the earlier tick: got {summary}"


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("broken", ["probe", "calculate_sla_compliance", "latency_percentile", "evaluate"])
def test_errors_are_counted_in_the_summary_and_logged(kit, store, clock, fake_sleep, caplog, broken, kind):
    import logging

    calls, error = [], raising(kind)
    message = ERRORS[kind][1].format(broken)

    def flaky_probe():
        calls.append(1)
        if broken == "probe" and len(calls) == 1:
            raise error("probe")
        return 12.0

    caplog.set_level(logging.DEBUG)
    system = make(FailsOnce(store, broken, error), FailsOnce(kit.RecordingAlerter(), broken, error), clock, fake_sleep,
                  probe=flaky_probe, interval_s=10, max_iterations=3)
    summary = system.run()
    assert len(calls) == 3, (
        f"the loop should go on after a tick whose {broken} raised {kind}: 3 probes expected, {len(calls)} ran")
    assert summary.errors == 1 and summary.iterations == 3, f"1 error in 3 iterations expected, got {summary}"
    logged = [r.getMessage() + (f" {r.exc_info[1]}" if r.exc_info and r.exc_info[1] else "") for r in caplog.records
              if r.levelno >= logging.WARNING]
    assert any(message in line for line in logged), (
        f"the failing tick's error ({broken} raised {kind} '{message}') should be logged with the logging module at "
        f"WARNING or above, whichever collaborator raised (not printed, dropped or hidden at DEBUG/INFO, which the "
        f"default configuration does not show); records: {[(r.levelname, r.getMessage()) for r in caplog.records]}")
    again = system.run()
    assert again.errors == 0 and again.iterations == 3, (
        f"a second run() counts its own ticks (3 iterations, no error this time), got {again}")


def test_a_failing_tick_keeps_the_schedule(kit, store, clock, fake_sleep):
    def slow_failing_probe():
        clock.advance(2)
        raise RuntimeError("probe bug")

    summary = make(store, kit.RecordingAlerter(), clock, fake_sleep, probe=slow_failing_probe, interval_s=10,
                   max_iterations=3).run()
    assert summary.errors == 3, f"3 failing ticks should count 3 errors, got {summary}"
    assert fake_sleep.calls == [pytest.approx(8), pytest.approx(8)], (
        "a tick that failed after 2 s of a 10 s interval should still be followed by an 8 s pause "
        f"(measured from the tick's start, no retry at once), got {fake_sleep.calls}")


def test_the_loop_goes_on_through_a_long_run_of_failing_ticks(kit, store, clock, fake_sleep):
    def broken_probe():
        raise RuntimeError("down for good")

    summary = make(store, kit.RecordingAlerter(), clock, fake_sleep, probe=broken_probe, interval_s=10,
                   max_iterations=30).run()
    assert (summary.iterations, summary.errors, summary.stopped_by) == (30, 30, "max_iterations"), (
        f"a loop whose every tick fails goes on, however many fail in a row: 30 failing ticks of max_iterations=30 "
        f"should give iterations=30, errors=30, stopped_by='max_iterations' (only max_iterations and the stop event "
        f"end the loop), got {summary}")


def test_without_a_clock_the_ticks_are_timed_with_time_monotonic(kit, store):
    import time

    system = MonitoringSystem(lambda: 12.0, store, kit.RecordingAlerter(), max_iterations=1)
    before = time.monotonic()
    report = system.tick()
    after = time.monotonic()
    # A wide margin: time.time() is about 1.7e9 (seconds since 1970), time.monotonic() the seconds since boot.
    assert before - 60 <= report.started_at <= after + 60, (
        f"without clock= the default clock is time.monotonic (it never jumps when the system time is set), so a "
        f"tick's started_at should be close to time.monotonic() ({before:.1f}); got {report.started_at}")


def test_a_tick_report_starts_at_the_injected_clock(kit, store, clock, fake_sleep):
    clock.advance(30)
    started = clock()

    def slow_probe():
        clock.advance(2)
        return 12.0

    report = make(store, kit.RecordingAlerter(), clock, fake_sleep, probe=slow_probe, interval_s=10,
                  max_iterations=1).tick()
    assert report.started_at == pytest.approx(started), (
        f"TickReport.started_at should be the injected clock's time when the tick began ({started}), before the "
        f"2 s probe; not the wall clock, not the time it ended: got {report.started_at}")


def test_max_iterations_still_ends_a_loop_that_has_a_stop_event(kit, store, clock, fake_sleep):
    alerter = kit.RecordingAlerter()
    summary = make(store, alerter, clock, fake_sleep, interval_s=10, max_iterations=2, stop_event=threading.Event()).run()
    assert len(alerter.seen) == 2 and summary.stopped_by == "max_iterations", (
        f"with both, the loop should end after max_iterations=2 ticks when the event is never set; got {summary}")


def test_a_stop_event_still_ends_a_loop_that_has_max_iterations(kit, store, clock, fake_sleep):
    alerter, stop = kit.RecordingAlerter(), threading.Event()
    fake_sleep.on_sleep = lambda n: stop.set() if n == 2 else None
    summary = make(store, alerter, clock, fake_sleep, interval_s=10, max_iterations=5, stop_event=stop).run()
    assert len(alerter.seen) == 2 and summary.stopped_by == "stop_event", (
        f"with both, a stop set in the 2nd pause should end the loop after 2 of 5 ticks; got {summary}")


def test_a_stop_set_during_the_last_tick_still_ends_by_max_iterations(kit, store, clock, fake_sleep):
    stop, calls = threading.Event(), []

    def probe():
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        return 12.0

    summary = make(store, kit.RecordingAlerter(), clock, fake_sleep, probe=probe, interval_s=10, max_iterations=2,
                   stop_event=stop).run()
    assert (summary.iterations, summary.stopped_by) == (2, "max_iterations"), (
        f"tick number max_iterations=2 ran, so the loop ends right there by max_iterations; the stop event set during "
        f"that tick would only have been checked before a 3rd tick: got {summary}")


class TwoAlerts:
    def evaluate(self, metrics):
        return ["[FIRING] up", "[FIRING] latency_ms"]


def test_the_summary_counts_every_notification_not_every_alerting_tick(store, clock, fake_sleep):
    system = make(store, TwoAlerts(), clock, fake_sleep, interval_s=10, max_iterations=3)
    summary = system.run()
    assert summary.notifications == 6, f"3 ticks sending 2 notifications each make 6 notifications, got {summary.notifications}"
    again = system.run()
    assert (again.iterations, again.notifications) == (3, 6), (
        f"a second run() should count only its own 3 ticks and 6 notifications, got {again}")


def test_an_exception_without_a_message_is_still_a_failed_tick(kit, store, clock, fake_sleep):
    calls = []

    def probe():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError()  # no arguments, an empty message
        return 12.0

    system = make(store, kit.RecordingAlerter(), clock, fake_sleep, probe=probe, interval_s=10, max_iterations=2)
    summary = system.run()
    assert (summary.iterations, summary.errors) == (2, 1), (
        f"a collaborator raising ConnectionError() with no message should make one failed tick and the loop go on, "
        f"got {summary}")
    calls.clear()
    report = system.tick()
    assert report.error is not None and report.error.startswith("ConnectionError"), (
        f"the failed tick should report error='ConnectionError: ' (its type, then its empty message), got {report.error!r}")


def test_a_run_with_no_tick_reports_no_last_metrics(kit, store, clock, fake_sleep):
    stop = threading.Event()
    system = make(store, kit.RecordingAlerter(), clock, fake_sleep, interval_s=10, max_iterations=2, stop_event=stop)
    first = system.run()
    assert first.last_metrics.get("up") == 1.0, f"the first run ticked twice with a healthy probe, got {first}"
    stop.set()
    again = system.run()
    assert again.iterations == 0 and again.last_metrics == {}, (
        f"a second run() stopped before its first tick reports only its own ticks: 0 iterations and "
        f"last_metrics {{}}, not the earlier run's, got {again}")
    assert first.last_metrics.get("up") == 1.0, (
        f"a summary already returned keeps its own last_metrics: the second run() must not empty or refill the "
        f"first run's dict in place, got first.last_metrics = {first.last_metrics}")


@pytest.mark.parametrize("broken", ["probe", "calculate_sla_compliance", "latency_percentile", "evaluate"])
def test_a_failing_last_tick_leaves_the_last_metrics_the_alerter_got(kit, store, clock, fake_sleep, broken):
    store.record("latency_ms", 100.0)  # the window holds a sample, so a tick that did not fail sends all four metrics
    latencies, calls = iter([11.0, 12.0, 15.0]), []

    def probe():
        calls.append(1)
        if broken == "probe" and len(calls) == 3:
            raise RuntimeError("probe bug")
        return next(latencies)

    alerter = kit.RecordingAlerter()
    store_, alerter_ = FailsOnce(store, broken), FailsOnce(alerter, broken)
    store_.failed = alerter_.failed = True  # disarmed for the first two ticks...

    def arm(n):
        if n == 2:  # ...and armed in the 2nd pause: the 3rd and last tick fails
            store_.failed = alerter_.failed = False

    fake_sleep.on_sleep = arm
    summary = make(store_, alerter_, clock, fake_sleep, probe=probe, interval_s=10, max_iterations=3).run()
    assert (summary.iterations, summary.errors) == (3, 1), f"3 ticks, the last one failing ({broken} raised), got {summary}"
    expected = {"up": 1.0, "latency_ms": 12.0, "sla_compliance": 100.0, "p95_latency_ms": 100.0}
    assert summary.last_metrics == expected, (
        f"when the last tick fails ({broken} raised), last_metrics are those of the latest tick that did not fail, as "
        f"it sent them to the alerter (the 2nd tick's, 12 ms): {expected}; not the failed tick's partial metrics, "
        f"which the alerter never got, nor {{}}; got {summary.last_metrics}")
