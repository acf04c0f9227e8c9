"""Task 3: burn rate and the canary controller (fake clock, scripted metric source)."""

import math

import pytest

from canary import CanaryController, burn_rate
from mlops_katas.fakes import FakeClock

pytestmark = pytest.mark.task(taskno=3)


# --- burn rate ---------------------------------------------------------------------------------

def test_burn_rate_is_error_rate_over_the_budget():
    assert burn_rate(1, 1000, 0.999) == pytest.approx(1.0), "0.1 % errors against a 99.9 % SLO burn at exactly 1x"
    assert burn_rate(144, 10_000, 0.999) == pytest.approx(14.4), "1.44 % errors against 99.9 % burn at 14.4x"
    assert burn_rate(5, 100, 0.99) == pytest.approx(5.0), "5 % errors against a 99 % SLO burn at 5x"
    assert burn_rate(0, 500, 0.9) == 0.0, "no errors burn nothing"
    assert burn_rate(10, 10, 0.5) == pytest.approx(2.0), "every request failing against a 50 % SLO burns at 2x"


def test_burn_rate_without_requests_is_zero():
    assert burn_rate(0, 0, 0.999) == 0.0, "a window without requests spends no budget: burn 0.0"


@pytest.mark.parametrize("args", [
    (1, 10, 0.0), (1, 10, 1.0), (1, 10, 1.5), (1, 10, -0.5), (1, 10, float("nan")), (11, 10, 0.99), (-1, 10, 0.99),
    (0, -1, 0.99), (1, 0, 0.999), (0, 0, 1.5), (0, 0, float("nan")),
], ids=["slo=0", "slo=1", "slo>1", "slo<0", "slo=nan", "errors>total", "errors<0", "total<0", "errors>total=0",
        "slo>1-without-requests", "slo=nan-without-requests"])
def test_burn_rate_rejects_impossible_inputs(args):
    with pytest.raises(ValueError):
        burn_rate(*args)


# --- the controller ----------------------------------------------------------------------------

class Metrics:
    """A scripted metric source: (errors, total) per window length, changeable between ticks."""

    def __init__(self, default=(0, 1000)):
        self.by_window = {}
        self.default = default
        self.calls = []
        self.fail = None

    def __call__(self, window_s):
        self.calls.append(window_s)
        if self.fail is not None:
            raise self.fail
        return self.by_window.get(window_s, self.default)


class Traffic:
    def __init__(self):
        self.percents = []
        self.fail = None

    def __call__(self, percent):
        if self.fail is not None:
            raise self.fail
        self.percents.append(percent)


def make(metrics=None, **options):
    clock = FakeClock()
    traffic = Traffic()
    metrics = metrics if metrics is not None else Metrics()
    controller = CanaryController(traffic, metrics, clock=clock, **options)
    return controller, clock, traffic, metrics


def test_start_sends_the_first_step_and_nothing_happens_before():
    controller, clock, traffic, metrics = make()
    assert traffic.percents == [], "constructing the controller must not move traffic yet"
    assert controller.state == "pending" and controller.percent == 0, "before start(): state 'pending', percent 0"
    controller.start()
    assert traffic.percents == [5], f"start() should send the first step (5 %) to the canary, sent {traffic.percents}"
    assert controller.state == "ramping" and controller.percent == 5, (
        f"after start(): state 'ramping' at 5 %, got {controller.state!r} at {controller.percent}")


def test_a_healthy_canary_ramps_5_25_50_100_one_step_per_duration():
    controller, clock, traffic, _ = make()
    controller.start()
    assert controller.tick() == "ramping" and traffic.percents == [5], "no step before its 600 s are up"
    clock.advance(599)
    assert controller.tick() == "ramping" and traffic.percents == [5], "599 s is not yet the 600 s step duration"
    clock.advance(1)
    assert controller.tick() == "ramping" and traffic.percents == [5, 25], (
        f"after 600 s of a healthy step the canary goes to 25 %, traffic moved {traffic.percents}")
    assert controller.percent == 25, f"percent is the canary's current share: 25 after the second step, got {controller.percent}"
    clock.advance(600)
    controller.tick()
    assert controller.percent == 50, f"percent is the canary's current share: 50 after the third step, got {controller.percent}"
    clock.advance(600)
    assert controller.tick() == "promoted", "reaching 100 % is promotion"
    assert traffic.percents == [5, 25, 50, 100] and controller.percent == 100, f"steps taken: {traffic.percents}"
    clock.advance(10_000)
    assert controller.tick() == "promoted" and traffic.percents == [5, 25, 50, 100], "a promoted canary stays put"


def test_each_step_waits_its_own_duration_after_the_previous():
    controller, clock, traffic, _ = make(step_duration_s=60)
    controller.start()
    clock.advance(500)
    controller.tick()
    assert traffic.percents == [5, 25], "a late tick advances one step only"
    controller.tick()
    clock.advance(59)
    controller.tick()
    assert traffic.percents == [5, 25], "the next step waits a full duration after the previous step began"
    clock.advance(1)
    controller.tick()
    assert traffic.percents == [5, 25, 50], f"then it advances: {traffic.percents}"


def test_custom_steps_are_followed():
    controller, clock, traffic, _ = make(steps=(1, 10, 100), step_duration_s=30)
    controller.start()
    for _ in range(4):
        clock.advance(30)
        controller.tick()
    assert traffic.percents == [1, 10, 100] and controller.state == "promoted", f"steps taken: {traffic.percents}"


def test_fractional_steps_are_followed():
    controller, clock, traffic, _ = make(steps=(0.5, 2.5, 100), step_duration_s=30)
    controller.start()
    assert controller.percent == 0.5, f"a step of 0.5 % is a valid step in (0, 100]: percent should be 0.5, got {controller.percent}"
    for _ in range(3):
        clock.advance(30)
        controller.tick()
    assert traffic.percents == [0.5, 2.5, 100] and controller.state == "promoted", (
        f"fractional steps are taken as they are, not rounded: {traffic.percents}")


def test_fast_burn_in_both_windows_rolls_back():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(60)
    metrics.by_window = {3600.0: (20, 1000), 300.0: (50, 200)}  # 20x and 250x against 99.9 %
    assert controller.tick() == "rolled_back", "both windows burning above 14.4 must roll the canary back"
    assert traffic.percents == [5, 0] and controller.percent == 0, f"rollback sends 0 % to the canary: {traffic.percents}"
    metrics.by_window = {}
    clock.advance(10_000)
    assert controller.tick() == "rolled_back" and traffic.percents == [5, 0], "a rolled-back canary stays rolled back"


def test_only_one_window_burning_does_not_roll_back():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    metrics.by_window = {3600.0: (100, 1000), 300.0: (0, 100)}  # an old incident, over now
    assert controller.tick() == "ramping", "a long window burning while the short one is clean is not a page"
    metrics.by_window = {3600.0: (0, 1000), 300.0: (100, 100)}  # a blip too small for the hour
    assert controller.tick() == "ramping", "a short window burning while the long one is fine is not a page"
    assert traffic.percents == [5], f"no rollback expected, traffic moved {traffic.percents}"


def test_burn_exactly_at_the_threshold_does_not_roll_back():
    metrics = Metrics()
    # slo 0.5 and these counts are exact in binary floating point: the burn is exactly 1.5.
    controller, clock, traffic, _ = make(metrics, slo=0.5, burn_threshold=1.5)
    controller.start()
    metrics.by_window = {3600.0: (75, 100), 300.0: (3, 4)}
    assert controller.tick() == "ramping", "the rule is 'above the threshold': exactly 1.5x in both windows holds"
    metrics.by_window = {3600.0: (76, 100), 300.0: (3, 4)}
    assert controller.tick() == "ramping", "only the long window above 1.5x still holds"
    metrics.by_window = {3600.0: (75, 100), 300.0: (4, 5)}
    assert controller.tick() == "ramping", "only the short window above 1.5x (the long one exactly at it) holds"
    metrics.by_window = {3600.0: (76, 100), 300.0: (4, 5)}
    assert controller.tick() == "rolled_back", "just above 1.5x in both windows rolls back"


def test_default_threshold_is_14_4_and_slo_is_99_9():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    metrics.by_window = {3600.0: (143, 10_000), 300.0: (143, 10_000)}  # 14.3x at 99.9 %
    assert controller.tick() == "ramping", "14.3x is below the default threshold of 14.4 (at the default 99.9 % SLO)"
    metrics.by_window = {3600.0: (145, 10_000), 300.0: (145, 10_000)}
    assert controller.tick() == "rolled_back", "14.5x in both windows is above the default 14.4 threshold"


def test_windows_are_the_ones_configured():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics, long_window_s=1800, short_window_s=120)
    controller.start()
    metrics.by_window = {1800: (0, 1000), 120: (50, 50), 3600.0: (50, 50), 300.0: (50, 50)}
    assert controller.tick() == "ramping", "the long window is long_window_s (1800 s here) and it is clean"
    metrics.by_window = {1800: (50, 50), 120: (0, 1000), 3600.0: (50, 50), 300.0: (50, 50)}
    assert controller.tick() == "ramping", "the short window is short_window_s (120 s here) and it is clean"
    metrics.by_window = {1800: (50, 50), 120: (50, 50)}
    assert controller.tick() == "rolled_back", "both configured windows burning rolls back"
    assert set(metrics.calls) == {1800, 120}, f"the metric source should be asked for 1800 and 120 s, got {set(metrics.calls)}"


def test_fractional_windows_are_asked_for_exactly():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics, long_window_s=7.5, short_window_s=2.5, step_duration_s=5)
    controller.start()
    metrics.by_window = {7.5: (50, 50), 2.5: (50, 50)}
    assert controller.tick() == "rolled_back", (
        "both configured windows (7.5 s and 2.5 s) burn: roll back; the metric source was asked for "
        f"{metrics.calls}, where it should be asked for exactly long_window_s and short_window_s (are the windows "
        "rounded to whole seconds?)")
    assert sorted(metrics.calls) == [2.5, 7.5], (
        f"error_counts is called with exactly long_window_s (7.5) and short_window_s (2.5), got {metrics.calls}")


def test_slo_changes_the_burn():
    metrics = Metrics(default=(5, 1000))  # 0.5 % errors
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    assert controller.tick() == "ramping", "0.5 % errors burn 5x against 99.9 %: below 14.4"
    strict, *_ = make(Metrics(default=(5, 1000)), slo=0.9999)
    strict.start()
    assert strict.tick() == "rolled_back", "0.5 % errors burn 50x against a 99.99 % SLO: roll back"


def test_a_due_step_is_taken_while_only_the_short_window_burns():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(600)
    metrics.by_window = {3600.0: (50, 10_000), 300.0: (50, 100)}  # 5x over the hour, 500x in the last 5 minutes
    assert controller.tick() == "ramping" and traffic.percents == [5, 25], (
        "a short window burning while the long one is below the threshold is a blip, not a reason to hold: "
        "the rule rolls back only when both windows burn, and otherwise the due step is taken when the long window "
        f"holds min_requests; traffic moved {traffic.percents}")


def test_rollback_wins_over_a_due_step():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(600)
    metrics.default = (500, 1000)
    assert controller.tick() == "rolled_back" and traffic.percents == [5, 0], (
        f"a canary burning its budget when its step is due is rolled back, not ramped: {traffic.percents}")


def test_the_step_clock_is_read_after_the_metrics_answered():
    clock = FakeClock()

    class SlowMetrics(Metrics):
        def __call__(self, window_s):
            clock.advance(5)  # a Prometheus query takes a few seconds
            return super().__call__(window_s)

    traffic = Traffic()
    controller = CanaryController(traffic, SlowMetrics(), clock=clock)
    controller.start()
    clock.advance(595)
    controller.tick()
    assert traffic.percents == [5, 25], (
        "the step began 595 s before tick() and the two metric queries took 5 s each: once they answered, clock() is "
        f"605 s after the step began, so the 600 s step is due and advances; traffic moved {traffic.percents} (was "
        "clock() read before the windows?)")


def test_the_next_step_begins_at_the_ticks_clock_not_after_the_traffic_move():
    clock = FakeClock()

    class SlowTraffic(Traffic):
        def __call__(self, percent):
            super().__call__(percent)
            clock.advance(5)  # a router reload or a mesh update takes a few seconds

    traffic = SlowTraffic()
    controller = CanaryController(traffic, Metrics(), clock=clock)
    controller.start()
    clock.advance(600)
    controller.tick()
    assert traffic.percents == [5, 25], f"600 s after start() the first step is due: traffic moved {traffic.percents}"
    clock.advance(595)
    controller.tick()
    assert traffic.percents == [5, 25, 50], (
        "the second step began at the clock() reading of the tick that took it; the move to 25 % then took 5 s, and "
        "595 s after that move the step's 600 s are up: it advances. Traffic moved "
        f"{traffic.percents} (was the step's start read from clock() again after set_canary_percent?)")


def test_a_step_without_enough_canary_requests_waits():
    metrics = Metrics(default=(0, 99))
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(10_000)
    assert controller.tick() == "ramping" and traffic.percents == [5], (
        "99 canary requests in the long window is below min_requests=100: no evidence, no promotion")
    metrics.default = (0, 100)
    controller.tick()
    assert traffic.percents == [5, 25], "with 100 requests (the default min_requests) the step advances"


def test_min_requests_counts_the_long_window():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(600)
    metrics.by_window = {3600.0: (0, 99), 300.0: (0, 5000)}
    controller.tick()
    assert traffic.percents == [5], (
        "99 requests in the long (1 h) window is below min_requests=100, whatever the short window holds: hold")
    metrics.by_window = {3600.0: (0, 100), 300.0: (0, 3)}
    controller.tick()
    assert traffic.percents == [5, 25], (
        "100 requests in the long window meet min_requests=100 even when the short window holds only 3: advance")


def test_min_requests_is_configurable():
    controller, clock, traffic, metrics = make(Metrics(default=(0, 10)), min_requests=10)
    controller.start()
    clock.advance(600)
    controller.tick()
    assert traffic.percents == [5, 25], "10 requests meet min_requests=10"
    controller, clock, traffic, metrics = make(Metrics(default=(0, 500)), min_requests=1000)
    controller.start()
    clock.advance(600)
    controller.tick()
    assert traffic.percents == [5], "500 requests do not meet min_requests=1000"


def test_min_requests_zero_advances_without_traffic():
    controller, clock, traffic, _ = make(Metrics(default=(0, 0)), min_requests=0)
    controller.start()
    clock.advance(600)
    controller.tick()
    assert traffic.percents == [5, 25], (
        f"min_requests=0 asks for no evidence: an empty long window (0 requests) meets it and the step advances; "
        f"traffic moved {traffic.percents} (is 0 taken for 'not set'?)")


def test_min_requests_counts_failed_requests_too():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(600)
    metrics.by_window = {3600.0: (5, 100), 300.0: (0, 20)}  # 5 errors an hour ago, none in the last 5 minutes
    assert controller.tick() == "ramping" and traffic.percents == [5, 25], (
        "min_requests counts the canary's requests in the long window, failed ones included: 100 requests "
        f"(5 of them errors) meet min_requests=100 and, with the short window clean, the step advances; "
        f"traffic moved {traffic.percents}")


def test_a_failing_traffic_move_changes_nothing_and_is_tried_again():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    traffic.fail = ConnectionError("the router is unreachable")
    with pytest.raises(ConnectionError):
        controller.start()
    assert controller.state == "pending" and controller.percent == 0, (
        f"start() whose traffic move failed changes nothing: 'pending' at 0, got {controller.state!r} at "
        f"{controller.percent}")
    traffic.fail = None
    controller.start()
    assert traffic.percents == [5] and controller.state == "ramping", "once the router answers, start() works"
    clock.advance(600)
    traffic.fail = ConnectionError("the router is unreachable")
    with pytest.raises(ConnectionError):
        controller.tick()
    assert controller.state == "ramping" and controller.percent == 5, (
        f"a step whose traffic move failed is not taken: still 5 %, got {controller.state!r} at {controller.percent}")
    traffic.fail = None
    controller.tick()
    assert traffic.percents == [5, 25] and controller.percent == 25, (
        f"the next tick takes the step that failed, not the one after: traffic moved {traffic.percents}")
    metrics.default = (500, 1000)
    traffic.fail = ConnectionError("the router is unreachable")
    with pytest.raises(ConnectionError):
        controller.tick()
    assert controller.state == "ramping" and controller.percent == 25, (
        "a rollback whose traffic move failed has not happened: the canary still has its users, so the state stays "
        f"'ramping' at 25 %, got {controller.state!r} at {controller.percent}")
    traffic.fail = None
    assert controller.tick() == "rolled_back" and traffic.percents == [5, 25, 0], (
        f"the next tick rolls back for real: traffic moved {traffic.percents}")


def test_a_failing_promotion_changes_nothing_and_is_tried_again():
    controller, clock, traffic, _ = make(steps=(50, 100), step_duration_s=60)
    controller.start()
    clock.advance(60)
    traffic.fail = ConnectionError("the router is unreachable")
    with pytest.raises(ConnectionError):
        controller.tick()
    assert controller.state == "ramping" and controller.percent == 50, (
        "a promotion whose traffic move failed has not happened: the canary still has 50 %, so the state stays "
        f"'ramping' at 50, got {controller.state!r} at {controller.percent}")
    traffic.fail = None
    assert controller.tick() == "promoted" and traffic.percents == [50, 100] and controller.percent == 100, (
        f"the next tick promotes for real: traffic moved {traffic.percents}")
    controller, clock, traffic, _ = make(steps=(100,))
    traffic.fail = ConnectionError("the router is unreachable")
    with pytest.raises(ConnectionError):
        controller.start()
    assert controller.state == "pending" and controller.percent == 0, (
        "start() with the single step 100 whose traffic move failed promotes nothing: 'pending' at 0, got "
        f"{controller.state!r} at {controller.percent}")
    traffic.fail = None
    controller.start()
    assert controller.state == "promoted" and traffic.percents == [100], "once the router answers, start() promotes"


def test_each_tick_reads_each_window_once():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics, long_window_s=1800, short_window_s=120)
    controller.start()
    for advance, what in ((0, "a hold"), (600, "a step"), (600, "another step")):
        metrics.calls.clear()
        clock.advance(advance)
        controller.tick()
        assert sorted(metrics.calls) == [120, 1800], (
            f"a tick looks once: it reads the long (1800 s) and the short (120 s) window once each and decides on "
            f"those numbers; on {what} the metric source was asked for {metrics.calls}")
    assert traffic.percents == [5, 25, 50], f"two steps taken: {traffic.percents}"


def test_a_failing_metric_source_changes_nothing():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(600)
    metrics.fail = ConnectionError("prometheus is down")
    with pytest.raises(ConnectionError):
        controller.tick()
    assert traffic.percents == [5] and controller.state == "ramping" and controller.percent == 5, (
        "without metrics the controller must neither ramp nor roll back")
    metrics.fail = None
    controller.tick()
    assert traffic.percents == [5, 25], "once metrics are back the due step is taken"


def test_a_failing_short_window_changes_nothing_either():
    class ShortWindowDown(Metrics):
        def __call__(self, window_s):
            if window_s == 300.0:
                self.calls.append(window_s)
                raise ConnectionError("the 5-minute query timed out")
            return super().__call__(window_s)

    metrics = ShortWindowDown()
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    clock.advance(600)
    with pytest.raises(ConnectionError):
        controller.tick()
    assert traffic.percents == [5] and controller.state == "ramping", (
        "tick() reads both windows before it decides: when the short-window read fails, the due step is not taken "
        f"(traffic moved {traffic.percents})")


def test_the_first_step_begins_at_start_not_at_construction():
    controller, clock, traffic, _ = make()
    clock.advance(500)
    controller.start()
    clock.advance(100)
    controller.tick()
    assert traffic.percents == [5], (
        "the first step began at start(), only 100 s ago: the time before start() does not count towards its 600 s")
    clock.advance(500)
    controller.tick()
    assert traffic.percents == [5, 25], f"600 s after start() the step is due: {traffic.percents}"


def test_start_twice_and_tick_before_start_raise():
    controller, clock, traffic, _ = make()
    with pytest.raises(RuntimeError):
        controller.tick()
    controller.start()
    with pytest.raises(RuntimeError):
        controller.start()
    assert traffic.percents == [5], "a second start() must not move traffic"


def test_a_second_start_raises_after_a_rollback_or_a_promotion_too():
    metrics = Metrics(default=(500, 1000))
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    assert controller.tick() == "rolled_back", "both windows burning roll the canary back"
    with pytest.raises(RuntimeError):
        controller.start()
    assert traffic.percents == [5, 0] and controller.state == "rolled_back", (
        f"start() after a rollback is a second start(): RuntimeError, and the canary stays at 0 % ({traffic.percents})")
    controller, clock, traffic, _ = make(steps=(100,))
    controller.start()
    with pytest.raises(RuntimeError):
        controller.start()
    assert traffic.percents == [100] and controller.state == "promoted", (
        f"start() after a promotion is a second start() too: RuntimeError ({traffic.percents})")


def test_a_promoted_canary_is_not_rolled_back_by_a_later_burn():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics, steps=(50, 100), step_duration_s=60)
    controller.start()
    clock.advance(60)
    assert controller.tick() == "promoted", "a healthy canary at its last step is promoted"
    metrics.default = (500, 1000)  # 500x in both windows, after the promotion
    clock.advance(60)
    assert controller.tick() == "promoted" and traffic.percents == [50, 100] and controller.percent == 100, (
        "after a promotion tick() changes nothing and returns 'promoted', even when the windows burn: "
        f"traffic moved {traffic.percents}, state {controller.state!r}")


def test_a_finished_rollout_needs_no_metrics():
    metrics = Metrics()
    controller, clock, traffic, _ = make(metrics, steps=(50, 100), step_duration_s=60)
    controller.start()
    clock.advance(60)
    assert controller.tick() == "promoted", "a healthy canary at its last step is promoted"
    metrics.fail = ConnectionError("prometheus is down")
    assert controller.tick() == "promoted", (
        "after a promotion tick() changes nothing and returns 'promoted': a metric source that is down no longer matters")
    metrics = Metrics(default=(500, 1000))
    controller, clock, traffic, _ = make(metrics)
    controller.start()
    assert controller.tick() == "rolled_back", "both windows burning roll the canary back"
    metrics.fail = ConnectionError("prometheus is down")
    assert controller.tick() == "rolled_back" and traffic.percents == [5, 0], (
        "after a rollback tick() changes nothing and returns 'rolled_back', even when the metric source is down")


@pytest.mark.parametrize("options", [
    {"slo": 1.0}, {"slo": 0.0}, {"slo": -0.9}, {"slo": float("nan")},
    {"steps": ()}, {"steps": (5, 25, 50)}, {"steps": (25, 5, 100)}, {"steps": (5, 5, 100)},
    {"steps": (0, 50, 100)}, {"steps": (5, 50, 150)}, {"steps": (-5, 100)}, {"steps": (5, float("nan"), 100)},
    {"step_duration_s": 0}, {"step_duration_s": -1}, {"step_duration_s": float("nan")},
    {"long_window_s": 0}, {"short_window_s": 0}, {"short_window_s": -300}, {"long_window_s": float("inf")},
    {"long_window_s": float("nan")}, {"short_window_s": float("nan")}, {"short_window_s": float("inf")},
    {"long_window_s": 300, "short_window_s": 600},
    {"burn_threshold": 0}, {"burn_threshold": -1}, {"burn_threshold": float("nan")}, {"burn_threshold": float("inf")},
    {"step_duration_s": float("inf")},
    {"min_requests": -1}, {"min_requests": 2.5}, {"min_requests": True}, {"min_requests": 10.0},
    {"min_requests": False}, {"min_requests": 100.0},
])
def test_bad_options_raise_value_error(options):
    with pytest.raises(ValueError):
        CanaryController(Traffic(), Metrics(), clock=FakeClock(), **options)


def test_the_clock_may_start_anywhere():
    for start in (0.0, 10.0, 250.0):
        clock = FakeClock(start=start)
        traffic = Traffic()
        controller = CanaryController(traffic, Metrics(), clock=clock)
        controller.start()
        clock.advance(600)
        controller.tick()
        assert traffic.percents == [5, 25], f"with a clock starting at {start}, 600 s later the step is due: {traffic.percents}"


def test_small_positive_options_are_accepted():
    clock = FakeClock()
    traffic = Traffic()
    controller = CanaryController(traffic, Metrics(), clock=clock, step_duration_s=0.5, long_window_s=0.5,
                                  short_window_s=0.25, burn_threshold=0.5, slo=0.001)
    controller.start()
    clock.advance(0.5)
    assert controller.tick() == "ramping" and traffic.percents == [5, 25], (
        f"durations and thresholds below 1 are valid positive numbers: {traffic.percents}")


def test_boundary_options_are_accepted():
    CanaryController(Traffic(), Metrics(), clock=FakeClock(), steps=(100,), min_requests=0,
                     long_window_s=300, short_window_s=300)
    controller, clock, traffic, _ = make(steps=(100,))
    controller.start()
    assert traffic.percents == [100] and controller.state == "promoted", "a single step of 100 promotes at once"
