"""Day 11, tasks 4-5: threshold alerts with a cooldown and recovery, delivered over real SMTP."""

from __future__ import annotations

import inspect
import logging
import re
import smtplib
import socket
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Iterator

import numpy as np
import pytest

from alerting import AlertDeliveryError, AlertManager, Notification, SmtpNotifier, Threshold
from mlops_katas.fakes import FakeClock
from mlops_katas.infra.http_server import free_port
from mlops_katas.infra.smtp import SmtpSink, silent_listener


def latency_above_200() -> Threshold:
    return Threshold("latency_ms", 200.0, "above")


def availability_below_95() -> Threshold:
    return Threshold("availability", 0.95, "below")


class RecordingNotifier:
    """Stands in for the mail relay while task 4 tests the manager's own decisions."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    def send(self, subject: str, body: str) -> None:
        if self.down:
            raise AlertDeliveryError("relay down (on purpose)")
        self.sent.append((subject, body))

    @property
    def subjects(self) -> list[str]:
        return [subject for subject, _ in self.sent]


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


def manager(notifier, clock, *thresholds, cooldown_s=300.0):
    # `thresholds` is any iterable: hand over a one-shot iterator, as a generator expression would be.
    given = thresholds or (latency_above_200(), availability_below_95())
    return AlertManager(iter(given), notifier, cooldown_s=cooldown_s, clock=clock)


# --- task 4: when to alert -------------------------------------------------------


@pytest.mark.task(taskno=4)
def test_threshold_direction_must_be_above_or_below():
    for direction in ("over", "Above", "below ", "", "abo", "low", "above, below"):
        with pytest.raises(ValueError):  # only the two exact words, not a part of them
            Threshold("latency_ms", 200.0, direction)
    for direction in (["above"], None, 1):  # not text at all (a YAML list, an empty key): refused, as a wrong type
        with pytest.raises((ValueError, TypeError)):
            Threshold("latency_ms", 200.0, direction)
    assert Threshold("latency_ms", 200.0).direction == "above", "the default direction is 'above'"


@pytest.mark.task(taskno=4)
def test_manager_rejects_two_thresholds_for_one_metric_and_a_negative_cooldown(notifier, clock):
    with pytest.raises(ValueError):
        AlertManager([latency_above_200(), Threshold("latency_ms", 500.0)], notifier, clock=clock)
    with pytest.raises(ValueError):  # one metric, one threshold: not even a ceiling and a floor
        AlertManager([latency_above_200(), Threshold("latency_ms", 5.0, "below")], notifier, clock=clock)
    with pytest.raises(ValueError):  # the two thresholds for latency_ms need not be next to each other
        AlertManager([latency_above_200(), availability_below_95(), Threshold("latency_ms", 500.0)], notifier,
                     clock=clock)
    with pytest.raises(ValueError):
        AlertManager([latency_above_200()], notifier, cooldown_s=-1, clock=clock)


@pytest.mark.task(taskno=4)
def test_thresholds_for_names_that_differ_only_in_case_or_spaces_are_for_two_metrics(notifier, clock):
    thresholds = [latency_above_200(), Threshold("Latency_MS", 300.0), Threshold("latency_ms ", 1.0)]
    alerts = AlertManager(thresholds, notifier, clock=clock)  # three metrics, one threshold each: no ValueError
    alerts.evaluate({"Latency_MS": 900.0})
    assert notifier.subjects == ["[FIRING] Latency_MS is 900, above the threshold 300"], (
        f"Latency_MS has its own threshold (300), as latency_ms has 200: names match exactly; got {notifier.subjects}")


@pytest.mark.task(taskno=4)
def test_manager_rejects_a_nan_cooldown(notifier, clock):
    # `cooldown_s < 0` is False for NaN, and so is `now - last >= nan`: a NaN cooldown would silently never remind.
    for cooldown in (float("nan"), np.float64("nan")):
        with pytest.raises(ValueError):
            AlertManager([latency_above_200()], notifier, cooldown_s=cooldown, clock=clock)


@pytest.mark.task(taskno=4)
def test_manager_rejects_the_same_threshold_listed_twice(notifier, clock):
    # A rule pasted twice into the configuration: deduplicating it hides the mistake (and the next edit of one copy).
    with pytest.raises(ValueError):
        AlertManager([latency_above_200(), availability_below_95(), latency_above_200()], notifier, clock=clock)


@pytest.mark.task(taskno=4)
def test_zero_cooldown_is_allowed_and_reminds_every_tick(notifier, clock):
    alerts = AlertManager([latency_above_200()], notifier, cooldown_s=0.0, clock=clock)
    alerts.evaluate({"latency_ms": 900.0})
    alerts.evaluate({"latency_ms": 901.0})
    assert notifier.subjects == [
        "[FIRING] latency_ms is 900, above the threshold 200",
        "[FIRING] latency_ms is 901, above the threshold 200",
    ], f"a cooldown of 0 (only a negative one is an error) reminds at every tick, got {notifier.subjects}"
    assert AlertManager([latency_above_200()], notifier, cooldown_s=0, clock=clock).firing == set(), (
        "an int 0 cooldown is allowed too"
    )


@pytest.mark.task(taskno=4)
def test_an_infinite_cooldown_is_allowed_and_never_reminds(notifier, clock):
    try:
        alerts = AlertManager([latency_above_200()], notifier, cooldown_s=float("inf"), clock=clock)
    except ValueError as error:
        pytest.fail(f"an infinite cooldown (one mail per incident, no reminder) is allowed, got ValueError: {error}; "
                    "only a negative or a NaN cooldown is an error")
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(10 * 365 * 24 * 3600)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], "an infinite cooldown never reminds, even ten years on"
    assert [n.status for n in alerts.evaluate({"latency_ms": 100.0})] == ["resolved"], "the recovery is announced"
    assert [n.status for n in alerts.evaluate({"latency_ms": 900.0})] == ["firing"], (
        "a new incident after the recovery alerts at once, whatever the cooldown"
    )
    assert len(notifier.sent) == 3, f"three mails in total (firing, resolved, firing), got {notifier.subjects}"


@pytest.mark.task(taskno=4)
def test_default_cooldown_is_300_seconds(notifier, clock):
    alerts = AlertManager([latency_above_200()], notifier, clock=clock)
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(299.5)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], "299.5 s after the alert the default 300 s cooldown runs"
    clock.advance(0.5)
    assert [n.status for n in alerts.evaluate({"latency_ms": 900.0})] == ["firing"], (
        "300 s after the alert the default cooldown is over: one reminder"
    )


@pytest.mark.task(taskno=4)
def test_a_breach_above_sends_one_firing_alert_with_metric_value_and_threshold(notifier, clock):
    alerts = manager(notifier, clock)
    sent = alerts.evaluate({"latency_ms": 350.5})
    assert notifier.subjects == ["[FIRING] latency_ms is 350.5, above the threshold 200"], (
        f"one alert with the exact subject from the README, got {notifier.subjects}"
    )
    body = notifier.sent[0][1]
    for part in ("latency_ms", "350.5", "200"):
        assert part in body, f"the alert body should name the metric, value and threshold; {part!r} missing in {body!r}"
    assert sent == [Notification("firing", "latency_ms", 350.5, latency_above_200(), notifier.subjects[0], True)], (
        f"evaluate returns what it sent, got {sent}"
    )
    assert alerts.firing == {"latency_ms"}, f"latency_ms is now firing, got {alerts.firing}"


@pytest.mark.task(taskno=4)
def test_subjects_format_long_values_and_limits_with_g(notifier, clock):
    alerts = manager(notifier, clock, Threshold("queue_depth", 1e6), latency_above_200())
    alerts.evaluate({"queue_depth": 1234567.0, "latency_ms": 250.123456})
    assert notifier.subjects == [
        "[FIRING] queue_depth is 1.23457e+06, above the threshold 1e+06",
        "[FIRING] latency_ms is 250.123, above the threshold 200",
    ], (
        "values and limits are formatted with :g (6 significant digits, exponent for large numbers): "
        f"f'{{1234567.0:g}}' is '1.23457e+06' and f'{{250.123456:g}}' is '250.123'; got {notifier.subjects}"
    )


@pytest.mark.task(taskno=4)
def test_a_breach_below_fires_when_the_value_drops_under_the_limit(notifier, clock):
    alerts = manager(notifier, clock)
    alerts.evaluate({"availability": 0.96})
    assert notifier.sent == [], "availability 0.96 is above its 0.95 floor: no alert"
    alerts.evaluate({"availability": 0.9})
    assert notifier.subjects == ["[FIRING] availability is 0.9, below the threshold 0.95"], (
        f"availability 0.9 breaches the 0.95 floor, got {notifier.subjects}"
    )


@pytest.mark.task(taskno=4)
def test_a_value_equal_to_the_limit_is_not_a_breach(notifier, clock):
    alerts = manager(notifier, clock)
    assert alerts.evaluate({"latency_ms": 200.0, "availability": 0.95}) == [], (
        "a value exactly at the limit is not a breach, in either direction"
    )
    assert notifier.sent == [] and alerts.firing == set(), "nothing sent, nothing firing"


@pytest.mark.task(taskno=4)
def test_unknown_and_missing_metrics_are_ignored(notifier, clock):
    alerts = manager(notifier, clock)
    alerts.evaluate({"cpu": 99.0})
    alerts.evaluate({})
    assert notifier.sent == [], "metrics without a threshold, or not given this tick, alert nothing"
    lookalikes = {"Latency_MS": 900.0, "latency_ms ": 900.0, " latency_ms": 900.0, "AVAILABILITY": 0.5}
    assert alerts.evaluate(lookalikes) == [] and notifier.sent == [], (
        f"names match exactly: {sorted(lookalikes)} are other metrics than latency_ms and availability, and no "
        f"threshold watches them (do not case-fold or strip the tick's names); got {notifier.subjects}"
    )
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(10)
    assert alerts.evaluate({"availability": 1.0}) == [] and alerts.evaluate({}) == [], (
        "a firing metric that is missing from a tick is ignored: no recovery notice without a value"
    )
    assert alerts.firing == {"latency_ms"}, f"a metric missing from a tick is still firing, got {alerts.firing}"


@pytest.mark.task(taskno=4)
def test_a_zero_value_is_a_value(notifier, clock):
    alerts = manager(notifier, clock)
    alerts.evaluate({"availability": 0.0})
    assert notifier.subjects == ["[FIRING] availability is 0, below the threshold 0.95"], (
        f"availability 0.0 (a total outage) is a breach of its 0.95 floor, got {notifier.subjects}"
    )
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 0})
    assert [n.subject for n in sent] == ["[RESOLVED] latency_ms is 0, no longer above the threshold 200"], (
        f"a latency of 0 is within the limit and resolves the alert, got {sent}"
    )


@pytest.mark.task(taskno=4)
def test_numpy_numbers_are_values(notifier, clock):
    # A tick built from NumPy: a float32 model output, an int64 count from np.sum. Neither is an int or a float.
    alerts = manager(notifier, clock, latency_above_200(), Threshold("errors", 10, "above"))
    sent = alerts.evaluate({"latency_ms": np.float32(431.0), "errors": np.int64(12)})
    assert [n.subject for n in sent] == [
        "[FIRING] latency_ms is 431, above the threshold 200",
        "[FIRING] errors is 12, above the threshold 10",
    ], (
        "a numpy.float32 431.0 breaches 200 and a numpy.int64 12 breaches 10: a NumPy number is a value (do not "
        f"skip values that fail isinstance(value, (int, float))); got {sent}"
    )
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": np.float32(120.0), "errors": np.int64(0)})
    assert [n.status for n in sent] == ["resolved", "resolved"], (
        f"NumPy numbers within the limits resolve both incidents, got {sent}"
    )
    assert alerts.firing == set(), f"nothing is firing after recovery, got {alerts.firing}"


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("limit", [float("nan"), np.float64("nan"), np.float32("nan")],
                         ids=["float", "numpy-float64", "numpy-float32"])
def test_a_nan_limit_is_refused_when_the_threshold_is_made(limit):
    # float("nan") from a config left empty: every comparison with it is False, so the rule would never fire.
    for direction in ("above", "below"):
        with pytest.raises(ValueError):
            Threshold("latency_ms", limit, direction)
            pytest.fail(f"Threshold('latency_ms', {limit!r}, {direction!r}) was made: a NaN limit is a ValueError, "
                        "since no value ever compares above or below it and the rule would never fire")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("nan", [float("nan"), np.float64("nan"), np.float32("nan")],
                         ids=["float", "numpy-float64", "numpy-float32"])
def test_a_nan_value_neither_fires_reminds_nor_resolves(notifier, clock, nan):
    alerts = manager(notifier, clock, cooldown_s=60)
    sent = alerts.evaluate({"latency_ms": nan, "availability": nan})
    assert sent == [] and notifier.sent == [] and alerts.firing == set(), (
        f"a NaN value is no measurement: it fires nothing, in either direction; got {sent}, firing {alerts.firing}"
    )
    alerts.evaluate({"latency_ms": 900.0, "availability": 0.5})
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": nan, "availability": nan})
    assert sent == [] and alerts.firing == {"latency_ms", "availability"}, (
        "a NaN value while the metrics are firing is no recovery (NaN is not 'within the limit', it is no "
        f"measurement): nothing is sent and both stay firing; got {[n.subject for n in sent]}, firing {alerts.firing}"
    )
    clock.advance(100)  # past the 60 s cooldown
    sent = alerts.evaluate({"latency_ms": nan, "availability": nan})
    assert sent == [], f"a NaN value sends no reminder either, got {[n.subject for n in sent]}"
    sent = alerts.evaluate({"latency_ms": 900.0, "availability": 1.0})
    assert [n.status for n in sent] == ["firing", "resolved"], (
        "after the NaN ticks, a real breach reminds (the cooldown is over) and a real healthy value resolves, "
        f"got {[n.subject for n in sent]}"
    )


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@pytest.mark.task(taskno=4)
def test_the_body_keeps_the_digits_of_the_value_and_the_threshold(notifier, clock):
    # A body that rounds (f"{value:.1f}") says "below 0.9" for a 0.95 threshold: the on-call engineer reads a rule
    # that is not the one in force. Any rendering that keeps the number will do: :g, str, repr.
    alerts = manager(notifier, clock, availability_below_95(), Threshold("latency_ms", 199.75))
    alerts.evaluate({"availability": 0.9123, "latency_ms": 250.125})
    clock.advance(10)
    alerts.evaluate({"availability": 0.9871, "latency_ms": 199.25})
    expected = [("availability", 0.9123, 0.95), ("latency_ms", 250.125, 199.75),
                ("availability", 0.9871, 0.95), ("latency_ms", 199.25, 199.75)]
    assert len(notifier.sent) == 4, f"two alerts, then two recovery notices, got {notifier.subjects}"
    for (subject, body), (metric, value, limit) in zip(notifier.sent, expected):
        numbers = [float(n) for n in NUMBER.findall(body)]
        assert metric in body and value in numbers and limit in numbers, (
            f"the body of {subject!r} should name {metric}, the value {value:g} and the threshold {limit:g} with "
            f"their digits (not rounded, e.g. to one decimal); got {body!r}"
        )


@pytest.mark.task(taskno=4)
def test_a_lasting_breach_does_not_mail_every_tick(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    for _ in range(10):
        alerts.evaluate({"latency_ms": 900.0})
        clock.advance(29)
    assert len(notifier.sent) == 1, (
        f"ten ticks within the 300 s cooldown of one breach should mail once, got {len(notifier.sent)} mails"
    )
    assert alerts.firing == {"latency_ms"}, "the metric is still firing"


@pytest.mark.task(taskno=4)
def test_a_reminder_goes_out_once_the_cooldown_has_passed(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(299)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], "299 s after the alert: still inside the cooldown"
    clock.advance(1)
    sent = alerts.evaluate({"latency_ms": 800.0})
    assert [n.subject for n in sent] == ["[FIRING] latency_ms is 800, above the threshold 200"], (
        f"exactly 300 s after the last alert the cooldown is over: one reminder with the current value, got {sent}"
    )
    clock.advance(299)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], "the cooldown counts from the reminder"
    assert len(notifier.sent) == 2, f"two mails in total, got {notifier.subjects}"


@pytest.mark.task(taskno=4)
def test_the_cooldown_counts_from_a_late_reminder_not_from_a_fixed_schedule(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(400)  # the first tick after the cooldown comes late
    assert [n.status for n in alerts.evaluate({"latency_ms": 900.0})] == ["firing"], "400 s on: a reminder"
    clock.advance(250)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], (
        "the last reminder was delivered 250 s ago (at 400 s), so the 300 s cooldown still runs: the cooldown "
        "counts from the last delivered alert, not on a schedule of one reminder per 300 s since the first"
    )
    clock.advance(50)
    assert [n.status for n in alerts.evaluate({"latency_ms": 900.0})] == ["firing"], (
        "300 s after the last delivered reminder the next one is due"
    )


@pytest.mark.task(taskno=4)
def test_recovery_sends_one_resolved_notice(notifier, clock):
    alerts = manager(notifier, clock)
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 120.0})
    assert notifier.subjects[1:] == ["[RESOLVED] latency_ms is 120, no longer above the threshold 200"], (
        f"going back under the limit sends one recovery notice, got {notifier.subjects}"
    )
    assert sent == [Notification("resolved", "latency_ms", 120.0, latency_above_200(), notifier.subjects[1], True)], (
        f"evaluate returns the resolved notice with the current value, the threshold and its subject, got {sent}"
    )
    for part in ("latency_ms", "120", "200"):
        assert part in notifier.sent[1][1], (
            f"the recovery body names the metric, value and threshold; {part!r} missing in {notifier.sent[1][1]!r}"
        )
    assert alerts.firing == set(), "nothing is firing after recovery"
    clock.advance(10)
    alerts.evaluate({"latency_ms": 110.0})
    assert len(notifier.sent) == 2, f"a healthy metric that was not firing sends nothing, got {notifier.subjects}"


@pytest.mark.task(taskno=4)
def test_back_exactly_at_the_limit_resolves_in_both_directions(notifier, clock):
    alerts = manager(notifier, clock)
    alerts.evaluate({"latency_ms": 900.0, "availability": 0.5})
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 200.0, "availability": 0.95})
    assert [n.subject for n in sent] == [
        "[RESOLVED] latency_ms is 200, no longer above the threshold 200",
        "[RESOLVED] availability is 0.95, no longer below the threshold 0.95",
    ], f"a value equal to the limit is not a breach, so a firing metric that reaches it has recovered; got {sent}"
    assert alerts.firing == set(), f"nothing is firing after recovery, got {alerts.firing}"


@pytest.mark.task(taskno=4)
def test_a_new_breach_after_recovery_alerts_at_once(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(10)
    alerts.evaluate({"latency_ms": 100.0})
    clock.advance(10)
    alerts.evaluate({"latency_ms": 700.0})
    assert notifier.subjects == [
        "[FIRING] latency_ms is 900, above the threshold 200",
        "[RESOLVED] latency_ms is 100, no longer above the threshold 200",
        "[FIRING] latency_ms is 700, above the threshold 200",
    ], f"a new incident is news even inside the old cooldown, got {notifier.subjects}"


@pytest.mark.task(taskno=4)
def test_each_metric_has_its_own_cooldown(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(60)
    alerts.evaluate({"latency_ms": 900.0, "availability": 0.5})
    assert notifier.subjects == [
        "[FIRING] latency_ms is 900, above the threshold 200",
        "[FIRING] availability is 0.5, below the threshold 0.95",
    ], f"availability's first breach is mailed although latency's cooldown is running, got {notifier.subjects}"
    assert alerts.firing == {"latency_ms", "availability"}, f"both are firing, got {alerts.firing}"
    clock.advance(240)
    sent = alerts.evaluate({"latency_ms": 900.0, "availability": 0.5})
    assert [n.metric for n in sent] == ["latency_ms"], (
        "300 s after latency's alert its reminder is due, although availability was mailed only 240 s ago: each "
        f"metric's cooldown counts from its own last delivered alert; got {sent}"
    )
    clock.advance(60)
    sent = alerts.evaluate({"latency_ms": 900.0, "availability": 0.5})
    assert [n.metric for n in sent] == ["availability"], (
        f"300 s after availability's alert its reminder is due, and latency's cooldown still runs; got {sent}"
    )


@pytest.mark.task(taskno=4)
def test_notifications_follow_the_order_of_the_thresholds_not_of_the_tick(notifier, clock):
    alerts = manager(notifier, clock, availability_below_95(), latency_above_200())
    sent = alerts.evaluate({"latency_ms": 900.0, "cpu": 1.0, "availability": 0.5})
    assert [n.metric for n in sent] == ["availability", "latency_ms"], (
        f"notifications come in the order the thresholds were given, whatever the tick's order; got {sent}"
    )
    assert [s.split(" ")[1] for s in notifier.subjects] == ["availability", "latency_ms"], (
        f"and are sent in that order, got {notifier.subjects}"
    )


@pytest.mark.task(taskno=4)
def test_undelivered_alert_is_logged_returned_and_retried_next_tick(notifier, clock, caplog):
    alerts = manager(notifier, clock, cooldown_s=300)
    notifier.down = True
    with caplog.at_level(logging.ERROR):
        sent = alerts.evaluate({"latency_ms": 900.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", False)], (
        f"a failed delivery is returned with delivered=False, not raised, got {sent}"
    )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(r.name == "alerting" for r in errors), (
        f"a failed delivery is logged as an error on the 'alerting' logger, got {[(r.name, r.levelname) for r in caplog.records]}"
    )
    assert any("relay down (on purpose)" in r.getMessage() for r in errors), (
        f"the error log carries the notifier's message, got {[r.getMessage() for r in errors]}"
    )
    assert alerts.firing == {"latency_ms"}, (
        f"the metric is in breach (firing) even though its alert was not delivered, got {alerts.firing}"
    )
    notifier.down = False
    clock.advance(1)
    sent = alerts.evaluate({"latency_ms": 900.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", True)], (
        f"an alert that was never delivered is retried at the next tick, cooldown or not; got {sent}"
    )
    clock.advance(1)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], "once delivered, the cooldown applies again"


@pytest.mark.task(taskno=4)
def test_an_undelivered_alert_is_retried_next_tick_shortly_after_boot(notifier):
    # time.monotonic often counts from the boot: a few seconds after it, clock() is smaller than the cooldown, so
    # "never delivered" must not be kept as "last delivered at 0".
    clock = FakeClock(start=10.0)
    alerts = manager(notifier, clock, cooldown_s=300)
    notifier.down = True
    alerts.evaluate({"latency_ms": 900.0})
    notifier.down = False
    clock.advance(1)
    sent = alerts.evaluate({"latency_ms": 900.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", True)], (
        "the first alert was not delivered, so it is retried at the next tick (clock() is 11 s, as for "
        "time.monotonic shortly after boot): keep 'no alert delivered yet' apart from a time such as 0, which "
        f"looks like a delivery 11 s ago; got {sent}"
    )
    clock.advance(10)
    alerts.evaluate({"latency_ms": 100.0})  # recovery forgets the cooldown
    notifier.down = True
    clock.advance(10)
    alerts.evaluate({"latency_ms": 700.0})  # a new incident, its first alert not delivered
    notifier.down = False
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 750.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", True)], (
        f"the new incident's undelivered first alert is retried at the next tick as well (clock() is 41 s); got {sent}"
    )


@pytest.mark.task(taskno=4)
def test_a_failed_delivery_does_not_stop_the_other_metrics_of_the_tick(notifier, clock, caplog):
    alerts = manager(notifier, clock)
    notifier.down = True
    with caplog.at_level(logging.ERROR):
        sent = alerts.evaluate({"latency_ms": 900.0, "availability": 0.5})
    assert [(n.metric, n.delivered) for n in sent] == [("latency_ms", False), ("availability", False)], (
        "each breached metric gets its own attempt and its own notification, even after the first delivery "
        f"failed in the same tick; got {sent}"
    )
    assert alerts.firing == {"latency_ms", "availability"}, f"both metrics are in breach, got {alerts.firing}"
    notifier.down = False
    clock.advance(1)
    sent = alerts.evaluate({"latency_ms": 900.0, "availability": 0.5})
    assert [(n.metric, n.delivered) for n in sent] == [("latency_ms", True), ("availability", True)], (
        f"both undelivered alerts are retried at the next tick, got {sent}"
    )


@pytest.mark.task(taskno=4)
def test_firing_is_a_new_set_at_each_read(notifier, clock):
    alerts = manager(notifier, clock)
    before = alerts.firing
    alerts.evaluate({"latency_ms": 900.0})
    assert before == set(), (
        f"a set read before the breach keeps what was firing then (nothing), got {before}: return a new set, not "
        "the manager's own"
    )
    seen = alerts.firing
    seen.clear()  # the caller's copy, to do with as it likes
    assert alerts.firing == {"latency_ms"}, (
        f"clearing a set read from `firing` changes nothing in the manager: latency_ms is still firing, got {alerts.firing}"
    )
    clock.advance(10)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], (
        "the incident is still open and its cooldown runs: no new alert 10 s later"
    )


@pytest.mark.task(taskno=4)
def test_two_managers_keep_their_own_incidents(clock):
    first_notifier, second_notifier = RecordingNotifier(), RecordingNotifier()
    first = manager(first_notifier, clock)
    second = manager(second_notifier, clock)
    first.evaluate({"latency_ms": 900.0})
    assert second.firing == set(), f"an alert of one manager does not make another one fire, got {second.firing}"
    second.evaluate({"latency_ms": 900.0})
    assert second_notifier.subjects == ["[FIRING] latency_ms is 900, above the threshold 200"], (
        f"the second manager's first breach is news to it: one alert, got {second_notifier.subjects}"
    )


@pytest.mark.task(taskno=4)
def test_two_managers_keep_their_own_cooldowns(clock):
    # Two model servers, one manager each, both watching latency_ms.
    first_notifier, second_notifier = RecordingNotifier(), RecordingNotifier()
    first = manager(first_notifier, clock, cooldown_s=300)
    second = manager(second_notifier, clock, cooldown_s=300)
    first.evaluate({"latency_ms": 900.0})  # the first manager's alert, at 0 s
    clock.advance(200)
    second.evaluate({"latency_ms": 900.0})  # the second manager's own first alert, at 200 s
    clock.advance(100)
    sent = first.evaluate({"latency_ms": 900.0})
    assert [n.status for n in sent] == ["firing"], (
        "300 s after the first manager's alert its reminder is due; the second manager's alert 100 s ago is "
        f"another manager's business and must not restart this cooldown (no state shared between managers); got {sent}"
    )
    clock.advance(10)
    second.evaluate({"latency_ms": 100.0})  # the second model recovers
    clock.advance(10)
    assert first.evaluate({"latency_ms": 900.0}) == [], (
        "the second manager's recovery ends its own incident only: the first manager reminded 20 s ago and its "
        "cooldown still runs"
    )
    assert first.firing == {"latency_ms"} and second.firing == set(), (
        f"each manager has its own incidents, got first={first.firing}, second={second.firing}"
    )


@pytest.mark.task(taskno=4)
def test_undelivered_reminder_is_retried_at_the_next_tick(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})  # delivered
    clock.advance(300)
    notifier.down = True
    sent = alerts.evaluate({"latency_ms": 900.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", False)], (
        f"300 s after the alert a reminder is due; with the relay down it is not delivered, got {sent}"
    )
    notifier.down = False
    clock.advance(1)
    sent = alerts.evaluate({"latency_ms": 910.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", True)], (
        "the cooldown counts from the last *delivered* alert (301 s ago), so the reminder that failed is "
        f"retried at the next tick, not a whole cooldown later; got {sent}"
    )
    clock.advance(1)
    assert alerts.evaluate({"latency_ms": 900.0}) == [], "once the reminder is delivered the cooldown runs again"


@pytest.mark.task(taskno=4)
def test_an_undelivered_reminder_keeps_the_incident_and_its_recovery_is_announced(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})  # delivered
    clock.advance(300)
    notifier.down = True
    alerts.evaluate({"latency_ms": 900.0})  # the reminder is not delivered
    assert alerts.firing == {"latency_ms"}, (
        f"latency_ms is still in breach after its reminder failed to arrive: it stays firing, got {alerts.firing}"
    )
    notifier.down = False
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 100.0})
    assert [(n.status, n.delivered) for n in sent] == [("resolved", True)], (
        "the incident (alerted, then a reminder that was not delivered) is still open, so going back under the "
        f"limit sends one resolved notice; a failed reminder does not end the incident; got {sent}"
    )
    assert alerts.firing == set(), f"nothing is firing after recovery, got {alerts.firing}"


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("error", [TypeError("a bug in the notifier (on purpose)"),
                                   ConnectionRefusedError("a notifier that forgot to wrap its socket error"),
                                   smtplib.SMTPRecipientsRefused({"oncall@example.com": (550, b"a notifier that "
                                                                 b"forgot to wrap its SMTP error")})],
                         ids=["TypeError", "ConnectionRefusedError", "SMTPRecipientsRefused"])
def test_a_notifier_bug_is_not_mistaken_for_a_delivery_failure(clock, error):
    class BrokenNotifier:
        def send(self, subject: str, body: str) -> None:
            raise error

    alerts = AlertManager([latency_above_200()], BrokenNotifier(), clock=clock)
    try:
        sent = alerts.evaluate({"latency_ms": 900.0})
    except type(error):
        return
    pytest.fail(
        f"only AlertDeliveryError means 'could not deliver'; a {type(error).__name__} from the notifier is a bug "
        "(a notifier turns its own failures into AlertDeliveryError) and should propagate out of evaluate "
        f"(catch AlertDeliveryError, not Exception or OSError), but evaluate returned {sent}"
    )


@pytest.mark.task(taskno=4)
def test_the_default_clock_is_monotonic(notifier, monkeypatch):
    # A cooldown measured with time.time stops (or ends early) when NTP steps the wall clock.
    monotonic = time.monotonic
    fake = FakeClock(start=1000.0)  # seen only by a default looked up when the manager is built
    monkeypatch.setattr(time, "monotonic", fake)
    monkeypatch.setattr(time, "time", lambda: 0.0)
    alerts = AlertManager([latency_above_200()], notifier, cooldown_s=300)
    first = alerts.evaluate({"latency_ms": 900.0})
    assert [n.status for n in first] == ["firing"], f"a manager built without a clock alerts too, got {first}"
    default = inspect.signature(AlertManager).parameters["clock"].default
    if callable(default):
        before, reading, after = monotonic(), default(), monotonic()
        assert reading == fake.now or before - 1 <= reading <= after + 1, (
            f"AlertManager's default clock read {reading} while time.monotonic() read {before:.1f}: the default "
            "clock is time.monotonic (a wall clock such as time.time jumps when NTP sets it)"
        )
    else:  # a default resolved when the manager is built (clock=None)
        fake.advance(300)
        sent = alerts.evaluate({"latency_ms": 900.0})
        assert [n.status for n in sent] == ["firing"], (
            f"300 s of time.monotonic after the alert a reminder is due, got {sent}: the default clock is "
            "time.monotonic"
        )


@pytest.mark.task(taskno=4)
def test_undelivered_resolved_notice_is_logged_and_not_retried(notifier, clock, caplog):
    alerts = manager(notifier, clock)
    alerts.evaluate({"latency_ms": 900.0})
    notifier.down = True
    with caplog.at_level(logging.ERROR):
        sent = alerts.evaluate({"latency_ms": 100.0})
    assert [(n.status, n.delivered) for n in sent] == [("resolved", False)], f"got {sent}"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name == "alerting"]
    assert any("relay down (on purpose)" in r.getMessage() for r in errors), (
        "a recovery notice that could not be delivered is a delivery failure too: it is logged as an error on the "
        f"'alerting' logger with the notifier's message, got {[(r.name, r.getMessage()) for r in errors]}"
    )
    notifier.down = False
    assert alerts.evaluate({"latency_ms": 100.0}) == [], "a recovery notice is attempted once"


@pytest.mark.task(taskno=4)
def test_a_new_incidents_undelivered_alert_is_retried_whatever_the_old_cooldown(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})
    clock.advance(10)
    alerts.evaluate({"latency_ms": 100.0})
    clock.advance(10)
    notifier.down = True
    alerts.evaluate({"latency_ms": 700.0})
    notifier.down = False
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 750.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", True)], (
        "recovery forgets the old incident's cooldown: the new incident's first alert failed, so it is retried "
        f"at the next tick although the old alert was mailed only 30 s ago; got {sent}"
    )


@pytest.mark.task(taskno=4)
def test_recovery_forgets_the_cooldown_even_when_its_notice_was_not_delivered(notifier, clock):
    alerts = manager(notifier, clock, cooldown_s=300)
    alerts.evaluate({"latency_ms": 900.0})  # delivered
    clock.advance(10)
    notifier.down = True
    alerts.evaluate({"latency_ms": 100.0})  # the resolved notice fails
    clock.advance(10)
    alerts.evaluate({"latency_ms": 700.0})  # a new incident; its first alert fails too
    notifier.down = False
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 750.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", True)], (
        "recovery ends the incident and forgets its cooldown whether or not the resolved notice got through, "
        "so the new incident's failed first alert is retried at the next tick (the old alert was mailed "
        f"only 30 s ago); got {sent}"
    )


@pytest.mark.task(taskno=4)
def test_recovery_after_an_undelivered_alert_still_sends_a_resolved_notice(notifier, clock):
    alerts = manager(notifier, clock)
    notifier.down = True
    alerts.evaluate({"latency_ms": 900.0})
    notifier.down = False
    clock.advance(10)
    sent = alerts.evaluate({"latency_ms": 100.0})
    assert [(n.status, n.delivered) for n in sent] == [("resolved", True)], (
        f"the metric was firing (its alert just failed to arrive), so its recovery is announced; got {sent}"
    )


# --- task 5: real delivery over SMTP -----------------------------------------------


@pytest.mark.task(taskno=5)
def test_smtp_notifier_delivers_subject_body_sender_and_recipients(smtp):
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com", "ml@example.com"])
    notifier.send("[FIRING] test", "latency_ms = 900")
    received = smtp.wait_for(1)
    assert len(received) == 1, f"the SMTP server should receive one message, got {len(received)}"
    mail = received[0]
    assert mail.subject == "[FIRING] test", f"subject should arrive unchanged, got {mail.subject!r}"
    assert "latency_ms = 900" in mail.body, f"body should arrive as plain text, got {mail.body!r}"
    assert mail.mail_from == "alerts@example.com", f"envelope sender should be the configured one, got {mail.mail_from}"
    assert sorted(mail.rcpt_tos) == ["ml@example.com", "oncall@example.com"], (
        f"every recipient gets the mail, got {mail.rcpt_tos}"
    )
    assert all(r in str(mail.message["To"]) for r in ("oncall@example.com", "ml@example.com")), (
        f"the To header names every recipient, got {mail.message['To']!r}"
    )
    assert "alerts@example.com" in str(mail.message["From"]), "the From header names the sender"


@pytest.mark.task(taskno=5)
def test_smtp_notifier_delivers_non_ascii_subjects_and_bodies(smtp):
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"], timeout_s=5)
    subject = "[FIRING] latência_ms is 431, above the threshold 200"
    try:
        notifier.send(subject, "latência_ms = 431 ≥ 200 (modèle v2)")
    except (AlertDeliveryError, UnicodeError) as error:
        pytest.fail(f"a metric name with accents must still be mailed, send raised {error!r}: build the mail with "
                    "email.message.EmailMessage (or MIMEText), which encodes headers and body, not as a raw ASCII string")
    received = smtp.wait_for(1)
    assert [m.subject for m in received] == [subject], (
        f"the subject should arrive unchanged, accents included, got {[m.subject for m in received]}"
    )
    assert "latência_ms = 431 ≥ 200 (modèle v2)" in received[0].body, (
        f"the body should arrive unchanged, got {received[0].body!r}"
    )


@pytest.mark.task(taskno=5)
def test_smtp_notifier_delivers_long_subjects_whole(smtp):
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"], timeout_s=5)
    subjects = [
        "[FIRING] checkout_service_eu_west_1_p99_latency_ms is 431.5, above the threshold 200",
        "[FIRING] latência_do_serviço_de_pagamento_eu_west_1_p99_ms is 431.5, above the threshold 200",
        "[FIRING] availability is 0.9, below the threshold 0.95",
    ]
    for subject in subjects:
        notifier.send(subject, "latency_ms = 431.5, threshold 200\n")
    received = smtp.wait_for(3)
    assert [m.subject for m in received] == subjects, (
        f"subjects longer than a 78-character header line arrive whole, got {[m.subject for m in received]}: "
        "do not cut the subject, let the email package fold it"
    )


@pytest.mark.task(taskno=5)
def test_smtp_notifier_delivers_the_body_byte_for_byte(smtp):
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"], timeout_s=5)
    bodies = [
        "latency_ms = 431.5, threshold 200\n",
        "From the probe at 03:12: latency_ms = 431.5\n.\n.5 s over the threshold 200\n",
        "\n    availability = 0.9\n    threshold    = 0.95 (below)\n\n\n",
    ]
    for number, body in enumerate(bodies, start=1):
        notifier.send(f"[FIRING] alert {number}", body)
    received = smtp.wait_for(3)
    assert [m.body.replace("\r\n", "\n") for m in received] == bodies, (
        "bodies arrive byte for byte as given, a line starting with 'From ' or '.' included, and not stripped "
        "(leading blank lines and spaces, trailing blank lines stay), got "
        f"{[m.body for m in received]}: smtplib's send_message escapes 'From ' as '>From '; "
        "send msg.as_bytes() with sendmail instead"
    )


@pytest.mark.task(taskno=5)
def test_each_alert_reaches_a_relay_restarted_since_the_previous_one():
    with SmtpSink() as first:
        port = first.port
        notifier = SmtpNotifier(first.host, port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
        notifier.send("[FIRING] one", "first alert")
        assert [m.subject for m in first.wait_for(1)] == ["[FIRING] one"], "the first alert should arrive"
    with SmtpSink(port=port) as second:  # the relay restarted on the same address
        try:
            notifier.send("[FIRING] two", "second alert")
        except AlertDeliveryError as error:
            pytest.fail(f"the relay is up again, yet send failed: {error}; a connection kept from the earlier send "
                        "died with the old relay: open a fresh connection for each send")
        received = second.wait_for(1)
    assert [m.subject for m in received] == ["[FIRING] two"], (
        f"the second alert should reach the restarted relay, got {[m.subject for m in received]}"
    )


@pytest.mark.task(taskno=5)
def test_smtp_notifier_needs_a_recipient():
    with pytest.raises(ValueError):
        SmtpNotifier("127.0.0.1", 25, "alerts@example.com", [])
    with pytest.raises(ValueError):  # any empty sequence of recipients, not only an empty list
        SmtpNotifier("127.0.0.1", 25, "alerts@example.com", ())


NON_ASCII_ADDRESSES = {
    "sender": ("alértes@example.com", ["oncall@example.com"]),
    "recipient": ("alerts@example.com", ["jörg@example.org"]),
    "one-recipient-among-several": ("alerts@example.com", ["oncall@example.com", "jörg@example.org"]),
}


def delivery_error_of(notifier, what: str, hint: str, subject: str = "[FIRING] x", *,
                      may_deliver: bool = False) -> AlertDeliveryError | None:
    """The AlertDeliveryError of one `notifier.send(subject, ...)`, or None when it delivered and `may_deliver`;
    `what` says why delivery fails, `hint` what to catch if another exception escapes."""
    try:
        notifier.send(subject, "y")
    except AlertDeliveryError as error:
        return error
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - the point is what escapes
        pytest.fail(f"{what}: a failed delivery like any other, so send raises AlertDeliveryError, not {error!r} "
                    f"({hint})")
    if not may_deliver:
        pytest.fail(f"{what}, so nothing was delivered: send raises AlertDeliveryError")
    return None


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(15)
@pytest.mark.parametrize("subject", ["[FIRING] latency\nms is 900", "[FIRING] x\r\nBcc: everyone@example.com",
                                     "[FIRING] latency\rms is 900", "[FIRING] latency\u2028ms is 900",
                                     "[FIRING] latency\u2029ms is 900", "[FIRING] latency\x85ms is 900"],
                         ids=["LF", "CRLF-with-a-header-after-it", "CR", "U+2028-line-separator",
                              "U+2029-paragraph-separator", "U+0085-next-line"])
def test_a_subject_with_a_line_break_is_a_failed_delivery_or_one_line(smtp, subject):
    # A mail header is one line: a metric name holding a line break cannot be written into Subject as it is.
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
    refused = delivery_error_of(
        notifier, f"the subject {subject!r} holds a line break and cannot be one header line",
        "or send it with the break folded into a space; any other exception stops the manager's monitor loop",
        subject, may_deliver=True)
    if refused is not None:
        return  # a failed delivery, logged by the manager like any other
    [received] = smtp.wait_for(1)
    assert received.rcpt_tos == ("oncall@example.com",) and received.message["Bcc"] is None, (
        f"the text after a line break in the subject must never become a header of its own: sent to "
        f"{received.rcpt_tos}, Bcc {received.message['Bcc']!r}")
    assert " ".join(received.subject.split()) == " ".join(subject.split()), (
        f"delivered, the subject is the one given with its line break folded into a space: got {received.subject!r}")


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(15)
def test_an_empty_subject_is_sent_as_an_empty_subject_header(smtp):
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
    try:
        notifier.send("", "latency_ms = 900")
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - the point is what escapes
        pytest.fail(f"an empty subject is one (empty) header line: send delivers it, yet it raised {error!r}")
    [received] = smtp.wait_for(1)
    assert received.message["Subject"] is not None and received.subject == "", (
        f"the mail arrives with an empty Subject header, got {received.message['Subject']!r}"
    )
    assert "latency_ms = 900" in received.body, f"the body arrives as given, got {received.body!r}"


@pytest.fixture
def default_socket_timeout():
    """The process-wide default socket timeout before the test; put back afterwards whatever the test did."""
    before = socket.getdefaulttimeout()
    yield before
    socket.setdefaulttimeout(before)


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(15)
def test_send_leaves_the_process_wide_default_socket_timeout_alone(smtp, default_socket_timeout):
    # socket.setdefaulttimeout(timeout_s) would give every later socket of the process (the probe's, a database
    # client's, the scheduler's) the relay's timeout, far from the cause.
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"], timeout_s=0.75)
    notifier.send("[FIRING] x", "y")
    assert socket.getdefaulttimeout() == default_socket_timeout, (
        f"after a delivered send the process-wide default socket timeout is {socket.getdefaulttimeout()!r}, was "
        f"{default_socket_timeout!r}: pass the timeout to smtplib.SMTP(..., timeout=...), never to "
        "socket.setdefaulttimeout"
    )
    down = SmtpNotifier("127.0.0.1", free_port(), "alerts@example.com", ["oncall@example.com"], timeout_s=0.75)
    with pytest.raises(AlertDeliveryError):
        down.send("[FIRING] x", "y")
    assert socket.getdefaulttimeout() == default_socket_timeout, (
        f"after a failed send the process-wide default socket timeout is {socket.getdefaulttimeout()!r}, was "
        f"{default_socket_timeout!r}: send changes no process-wide setting, delivered or not"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(15)
@pytest.mark.parametrize("where", sorted(NON_ASCII_ADDRESSES))
def test_an_address_the_relay_cannot_take_is_a_failed_delivery_not_a_crash(smtp, clock, where):
    # The sink does not offer SMTPUTF8, so a non-ASCII local part cannot go into MAIL FROM / RCPT TO: smtplib raises
    # UnicodeEncodeError (neither an OSError nor an SMTPException) unless the notifier reports it.
    sender, recipients = NON_ASCII_ADDRESSES[where]
    notifier = SmtpNotifier(smtp.host, smtp.port, sender, recipients, timeout_s=2)
    failure = delivery_error_of(
        notifier, f"the relay offers no SMTPUTF8, so it cannot take the non-ASCII address ({where}: {sender} to "
        f"{recipients})", "smtplib raises UnicodeEncodeError for it: wrap that too")
    assert f"{smtp.host}:{smtp.port}" in str(failure), (
        f"the error should name the relay as host:port ({smtp.host}:{smtp.port}), got {failure}"
    )
    alerts = AlertManager([latency_above_200()], notifier, clock=clock)
    sent = alerts.evaluate({"latency_ms": 900.0})
    assert [(n.status, n.delivered) for n in sent] == [("firing", False)], (
        f"wired into a manager, the undeliverable alert is returned with delivered=False and the loop goes on, got {sent}"
    )


@pytest.mark.task(taskno=5)
def test_smtp_down_raises_alert_delivery_error_naming_the_relay():
    port = free_port()
    notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
    with pytest.raises(AlertDeliveryError) as info:
        notifier.send("[FIRING] x", "y")
    assert str(port) in str(info.value), f"the error should say which relay failed (port {port}), got {info.value}"


@pytest.mark.task(taskno=5)
def test_a_send_to_a_relay_that_is_down_makes_one_attempt(refused_port):
    # A relay being restarted refuses connections; a send that tries again (and sleeps in between) holds up the
    # whole monitor loop, and retrying is already the manager's job at its next tick.
    port, attempts = refused_port.port, refused_port.attempts
    notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
    with pytest.raises(AlertDeliveryError):
        notifier.send("[FIRING] x", "y")
    assert len(attempts) == 1, (
        f"nothing listens on port {port}, and send tried to connect {len(attempts)} times: one send is one "
        "attempt, it raises AlertDeliveryError at the first refused connection and leaves the retry to the "
        "manager's next tick"
    )


@pytest.mark.task(taskno=5)
def test_smtp_notifier_defaults_to_a_10_second_timeout(smtp):
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"])
    notifier.send("[FIRING] x", "y")
    assert [m.subject for m in smtp.wait_for(1)] == ["[FIRING] x"], "a notifier built without timeout_s delivers"
    default = inspect.signature(SmtpNotifier).parameters["timeout_s"].default
    assert default == 10.0, (
        f"SmtpNotifier's timeout_s defaults to 10.0 seconds (README), got {default!r}: a longer default lets a hung "
        "relay hold up every tick of the monitor loop that long"
    )


@pytest.mark.task(taskno=5)
def test_relay_name_that_does_not_resolve_raises_alert_delivery_error_naming_it(unresolvable):
    notifier = SmtpNotifier(unresolvable("relay.invalid"), 2525, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
    with pytest.raises(AlertDeliveryError) as info:
        notifier.send("[FIRING] x", "y")
    assert "relay.invalid:2525" in str(info.value), (
        f"the error should name the relay as host:port (relay.invalid:2525), got {info.value}"
    )


@pytest.mark.task(taskno=5)
def test_rejected_recipient_raises_alert_delivery_error_naming_the_relay():
    with SmtpSink(reject_recipients=True) as sink:
        notifier = SmtpNotifier(sink.host, sink.port, "alerts@example.com", ["nobody@example.com"], timeout_s=2)
        with pytest.raises(AlertDeliveryError) as info:
            notifier.send("[FIRING] x", "y")
    assert str(sink.port) in str(info.value), (
        f"the error for a rejected recipient should say which relay failed (port {sink.port}), got {info.value}"
    )


@pytest.mark.task(taskno=5)
def test_one_rejected_recipient_among_several_is_a_failed_delivery():
    with SmtpSink(reject_recipients={"nobody@example.com"}) as sink:
        notifier = SmtpNotifier(sink.host, sink.port, "alerts@example.com",
                                ["oncall@example.com", "nobody@example.com"], timeout_s=2)
        try:
            notifier.send("[FIRING] x", "y")
        except AlertDeliveryError as error:
            failure = error
        else:
            failure = None
    assert failure is not None, (
        "the relay refused nobody@example.com (and took oncall@example.com): a rejected recipient is a failed "
        "delivery, so send raises AlertDeliveryError; smtplib does not raise for that, it returns the refused ones"
    )
    assert str(sink.port) in str(failure), (
        f"the error should say which relay failed (port {sink.port}), got {failure}"
    )


@contextmanager
def scripted_relay(greeting: bytes | None, reply_to_data: bytes,
                   sessions: list[threading.Event] | None = None,
                   refused_recipient: bytes | None = None,
                   answers: dict[bytes, bytes | None] | None = None) -> Iterator[int]:
    """A loopback SMTP relay that greets with `greeting` (hanging up unless it is a 220) and answers the end of
    each message with `reply_to_data`, as a busy relay (421) or a content filter (554) does; yields the port.

    A `greeting` of None never greets (a hung relay). With `sessions`, each accepted connection adds an event
    there, set once the client ended the session (QUIT, or closed its end). With `refused_recipient`, a RCPT
    naming that address is refused (550) and the others are accepted. `answers` replaces the reply to a command
    (b"MAIL": b"550 ...\r\n"); a reply of None hangs up without answering, as a relay that crashes mid-session.
    """
    replies = {b"EHLO": b"250 relay.test\r\n", b"HELO": b"250 relay.test\r\n", b"MAIL": b"250 OK\r\n",
               b"RCPT": b"250 OK\r\n", b"RSET": b"250 OK\r\n", b"NOOP": b"250 OK\r\n", b"DATA": b"354 go on\r\n"}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.1)
        done = threading.Event()

        def talk(conn: socket.socket, ended: threading.Event) -> None:
            if greeting is None:
                while conn.recv(1024):  # silence, until the client gives up and closes its end
                    pass
                ended.set()
                return
            lines = conn.makefile("rb")
            conn.sendall(greeting)
            if not greeting.startswith(b"220"):
                ended.set()
                return
            for line in lines:
                verb = line[:4].upper()
                if verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
                if verb == b"RCPT" and refused_recipient is not None and refused_recipient in line:
                    conn.sendall(b"550 5.1.1 mailbox unavailable\r\n")
                    continue
                if answers is not None and verb in answers:
                    if answers[verb] is None:
                        break  # hang up: the session ends without a reply
                    conn.sendall(answers[verb])
                    continue
                conn.sendall(replies.get(verb, b"502 not implemented\r\n"))
                if verb == b"DATA":
                    for content in lines:  # the message, up to the lone dot that ends it
                        if content in (b".\r\n", b".\n"):
                            break
                    conn.sendall(reply_to_data)
            ended.set()  # QUIT, or the client closed its end

        def serve() -> None:
            while not done.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:  # no connection this tenth of a second (or the listener closed)
                    continue
                ended = threading.Event()
                if sessions is not None:
                    sessions.append(ended)
                with conn:
                    conn.settimeout(5)
                    try:
                        talk(conn, ended)
                    except OSError:
                        pass

        thread = threading.Thread(target=serve, name="scripted-relay", daemon=True)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            done.set()
            thread.join(timeout=10)


RELAY_REFUSALS = {
    "busy-relay-hangs-up": (b"421 4.3.2 too busy, try again later\r\n", b"250 OK\r\n"),
    "message-rejected": (b"220 relay.test ESMTP\r\n", b"554 5.7.1 message refused by policy\r\n"),
}


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(15)
@pytest.mark.parametrize("refusal", sorted(RELAY_REFUSALS))
def test_relay_refusing_the_connection_or_the_message_raises_alert_delivery_error(refusal):
    # smtplib reports these as smtplib.SMTPException (not an OSError, and not a refused recipient).
    with scripted_relay(*RELAY_REFUSALS[refusal]) as port:
        notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
        failure = delivery_error_of(
            notifier, f"the relay answered {refusal}", "catch smtplib.SMTPException as well as OSError")
    assert str(port) in str(failure), (
        f"the error should say which relay failed (port {port}), got {failure}"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(20)
@pytest.mark.parametrize("refusal", sorted(RELAY_REFUSALS) + ["relay-never-greets"])
def test_a_failed_send_makes_one_attempt_and_closes_its_connection(refusal):
    # Retrying is the manager's job (at the next tick); a send that tries again keeps the monitor loop waiting
    # several timeouts, and a session left open after a refusal holds one of the relay's connection slots.
    sessions: list[threading.Event] = []
    greeting, reply_to_data = RELAY_REFUSALS.get(refusal, (None, b""))
    with scripted_relay(greeting, reply_to_data, sessions) as port:
        notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=0.3)
        with pytest.raises(AlertDeliveryError) as info:
            notifier.send("[FIRING] x", "y")
        deadline = time.monotonic() + 2
        while not all(session.is_set() for session in sessions) and time.monotonic() < deadline:
            time.sleep(0.02)
        opened, closed = len(sessions), sum(session.is_set() for session in sessions)
        del info  # the error (and anything its traceback holds) lives until here
    assert opened <= 1, (
        f"the relay answered {refusal} and send connected {opened} times: one send is one attempt, it raises "
        "AlertDeliveryError at the first failure and leaves the retry to the manager's next tick"
    )
    assert closed == opened, (
        f"the relay answered {refusal}, send raised, but its connection to the relay is still open: close it "
        "(QUIT) whether or not the mail was delivered, e.g. `with smtplib.SMTP(...) as smtp:`"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(20)
def test_a_send_with_one_refused_recipient_closes_its_connection():
    # The relay takes the message for oncall@ but refuses nobody@: send raises, and must not leave the session open.
    sessions: list[threading.Event] = []
    with scripted_relay(b"220 relay.test ESMTP\r\n", b"250 OK\r\n", sessions,
                        refused_recipient=b"nobody@example.com") as port:
        notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com",
                                ["oncall@example.com", "nobody@example.com"], timeout_s=2)
        with pytest.raises(AlertDeliveryError) as info:
            notifier.send("[FIRING] x", "y")
        deadline = time.monotonic() + 2
        while not all(session.is_set() for session in sessions) and time.monotonic() < deadline:
            time.sleep(0.02)
        opened, closed = len(sessions), sum(session.is_set() for session in sessions)
        del info  # the error (and anything its traceback holds) lives until here
    assert opened == 1, f"one send is one connection to the relay, got {opened}"
    assert closed == opened, (
        "the relay refused one recipient, send raised, but its connection to the relay is still open: close it "
        "(QUIT) on every path, a partly refused delivery included, e.g. `with smtplib.SMTP(...) as smtp:`"
    )


SESSION_FAILURES = {
    "greeting-refused": {b"EHLO": b"550 5.7.1 client host rejected\r\n", b"HELO": b"550 5.7.1 client host rejected\r\n"},
    "sender-refused": {b"MAIL": b"550 5.7.1 sender rejected by policy\r\n"},
    "relay-hangs-up-mid-session": {b"MAIL": None},
}


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(15)
@pytest.mark.parametrize("failure", sorted(SESSION_FAILURES))
def test_relay_refusing_the_greeting_or_the_sender_or_hanging_up_raises_alert_delivery_error(failure):
    # smtplib reports these as SMTPHeloError, SMTPSenderRefused and SMTPServerDisconnected: a list of a few SMTP
    # errors misses them.
    with scripted_relay(b"220 relay.test ESMTP\r\n", b"250 OK\r\n", answers=SESSION_FAILURES[failure]) as port:
        notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
        failure_raised = delivery_error_of(
            notifier, f"the relay answered with {failure}", "catch every smtplib.SMTPException, not a few of them")
    assert str(port) in str(failure_raised), (
        f"the error should say which relay failed (port {port}), got {failure_raised}"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(20)
def test_a_delivered_send_closes_its_connection():
    # A session kept open "to save the handshake" holds one of the relay's connection slots between alerts.
    sessions: list[threading.Event] = []
    with scripted_relay(b"220 relay.test ESMTP\r\n", b"250 OK\r\n", sessions) as port:
        notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
        notifier.send("[FIRING] x", "y")
        deadline = time.monotonic() + 2
        while not all(session.is_set() for session in sessions) and time.monotonic() < deadline:
            time.sleep(0.02)
        opened, closed = len(sessions), sum(session.is_set() for session in sessions)
    assert opened == 1, f"one send is one connection to the relay, got {opened}"
    assert closed == opened, (
        "the mail was delivered and send returned, but its connection to the relay is still open: each send "
        "stands on its own and closes its connection (QUIT) before returning, e.g. `with smtplib.SMTP(...) as smtp:`"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.timeout(15)
@pytest.mark.parametrize("relay", ["that-never-answers", "that-never-accepts-the-connection"])
def test_hung_relay_times_out_with_alert_delivery_error_naming_it(relay, request):
    with (silent_listener() if relay == "that-never-answers"
          else nullcontext(request.getfixturevalue("port_that_never_accepts"))) as port:
        notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(AlertDeliveryError) as info:
            notifier.send("[FIRING] x", "y")
        waited = time.monotonic() - started
    assert str(port) in str(info.value), (
        f"a relay that times out is a failed delivery like any other: the error should say which relay failed "
        f"(port {port}), got {info.value!r}"
    )
    assert waited < 3, (  # 0.3 s asked for, plus room for a loaded machine
        f"with timeout_s=0.3 a relay that never answers is given up on after about 0.3 s, not {waited:.1f} s: "
        "pass timeout_s to the SMTP client (a fixed timeout ignores the caller's)"
    )


@pytest.mark.task(taskno=5)
def test_alerts_and_recovery_arrive_by_mail(smtp, clock):
    notifier = SmtpNotifier(smtp.host, smtp.port, "alerts@example.com", ["oncall@example.com"])
    alerts = AlertManager([latency_above_200(), availability_below_95()], notifier, cooldown_s=300, clock=clock)
    alerts.evaluate({"latency_ms": 431.0, "availability": 1.0})
    clock.advance(60)
    alerts.evaluate({"latency_ms": 512.0, "availability": 1.0})
    clock.advance(60)
    alerts.evaluate({"latency_ms": 150.0, "availability": 1.0})
    received = smtp.wait_for(2)
    assert [m.subject for m in received] == [
        "[FIRING] latency_ms is 431, above the threshold 200",
        "[RESOLVED] latency_ms is 150, no longer above the threshold 200",
    ], f"one alert and one recovery mail, got {[m.subject for m in received]}"
    for part in ("latency_ms", "431", "200"):
        assert part in received[0].body, f"the alert mail body should contain {part!r}: {received[0].body!r}"


@pytest.mark.task(taskno=5)
def test_manager_keeps_running_while_smtp_is_down_and_delivers_when_it_is_back(clock, caplog):
    port = free_port()
    notifier = SmtpNotifier("127.0.0.1", port, "alerts@example.com", ["oncall@example.com"], timeout_s=2)
    alerts = AlertManager([latency_above_200()], notifier, cooldown_s=300, clock=clock)
    with caplog.at_level(logging.ERROR):
        sent = alerts.evaluate({"latency_ms": 900.0})
    assert [n.delivered for n in sent] == [False], f"with SMTP down the alert is not delivered, got {sent}"
    assert any(str(port) in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR), (
        "the failed delivery is logged as an error that names the relay"
    )
    with SmtpSink(port=port) as sink:
        clock.advance(5)
        sent = alerts.evaluate({"latency_ms": 950.0})
        received = sink.wait_for(1)
    assert [n.delivered for n in sent] == [True], f"once SMTP is back the alert is delivered, got {sent}"
    assert [m.subject for m in received] == ["[FIRING] latency_ms is 950, above the threshold 200"], (
        f"the retried alert arrives with the current value, got {[m.subject for m in received]}"
    )
