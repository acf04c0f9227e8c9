"""Task 2: each tick's metrics from a real HTTP server and SQLite store, alerts mailed over real SMTP."""

import pytest

from monitoring_system import MonitoringSystem

pytestmark = pytest.mark.task(taskno=2)


def test_a_tick_reports_up_latency_and_window_metrics(kit, store, clock, fake_sleep, model_server):
    alerter = kit.RecordingAlerter()
    system = MonitoringSystem(kit.http_probe(store, model_server.url), store, alerter, clock=clock, sleep=fake_sleep,
                              interval_s=10, max_iterations=1)
    report = system.tick()
    metrics = report.metrics
    assert metrics.get("up") == 1.0 and isinstance(metrics["up"], float), (
        f"a server answering 200 should give up = 1.0 (a float, not True), metrics were {metrics}")
    assert metrics.get("latency_ms", 0) > 0, f"the probe's latency should be reported as latency_ms, metrics were {metrics}"
    assert metrics.get("sla_compliance") == pytest.approx(100.0), f"one fast sample means 100 % SLA, metrics were {metrics}"
    assert "p95_latency_ms" in metrics, f"the window's p95 latency should be reported, metrics were {metrics}"
    assert alerter.seen == [metrics], "the alerter should get exactly the tick's metrics, once"


def test_a_down_server_is_up_0_with_no_made_up_numbers(kit, store, clock, fake_sleep, model_server):
    model_server.set("failing")
    alerter = kit.RecordingAlerter()
    system = MonitoringSystem(kit.http_probe(store, model_server.url), store, alerter, clock=clock, sleep=fake_sleep,
                              interval_s=10, max_iterations=1)
    report = system.tick()
    metrics = report.metrics
    assert metrics == {"up": 0.0} and isinstance(metrics["up"], float), (
        f"a down server with no samples yet should give only up = 0.0 (a float, not False; no latency of 0, no SLA of 0, "
        f"no None), got {metrics}")
    assert report.error is None, (
        f"a probe that returns None reports a down server, it does not raise: the tick did not fail (error None; "
        f"up = 0.0 says the server is down), got error {report.error!r}")
    store.record("latency_ms", 150.0)  # an earlier answer, inside the window
    metrics = system.tick().metrics
    assert metrics == {"up": 0.0, "sla_compliance": pytest.approx(100.0), "p95_latency_ms": pytest.approx(150.0)}, (
        f"while the server is down the window still holds a 150 ms sample: up = 0.0 plus the window's SLA and p95, got {metrics}")


def test_a_long_outage_mails_once_and_its_recovery_once(kit, store, clock, fake_sleep, model_server, smtp):
    model_server.set("failing")
    fake_sleep.on_sleep = lambda n: model_server.set("healthy") if n == 4 else None
    alerter = kit.MailAlerter([kit.Rule("up", 1.0, "below")], smtp, clock, cooldown_s=3600)
    summary = MonitoringSystem(kit.http_probe(store, model_server.url), store, alerter, clock=clock, sleep=fake_sleep,
                               interval_s=60, max_iterations=6).run()
    subjects = [m.subject for m in smtp.wait_for(2)]
    assert subjects == ["[FIRING] up is 0", "[RESOLVED] up is 1"], (
        f"4 down ticks then 2 healthy ones should mail one alert and one recovery, got {subjects}")
    assert summary.notifications == 2, f"the summary should count 2 notifications, says {summary.notifications}"
    assert summary.errors == 0, (
        f"4 ticks of a down server (the probe returned None, nothing raised) are ticks that worked and reported up = 0.0, "
        f"not failed ticks: errors should be 0, says {summary.errors}")
    assert summary.last_metrics.get("up") == 1.0, f"the last tick was healthy, last_metrics {summary.last_metrics}"


def test_a_slow_server_breaches_the_sla(kit, store, clock, fake_sleep, model_server, smtp):
    model_server.set("slow", delay_s=0.25)
    alerter = kit.MailAlerter([kit.Rule("sla_compliance", 99.0, "below")], smtp, clock)
    MonitoringSystem(kit.http_probe(store, model_server.url), store, alerter, clock=clock, sleep=fake_sleep,
                     interval_s=60, max_iterations=2, sla_threshold_ms=200).run()
    subjects = [m.subject for m in smtp.wait_for(1)]
    assert subjects == ["[FIRING] sla_compliance is 0"], (
        f"answers over 200 ms should put the SLA at 0 % and mail one alert, got {subjects}")


def test_window_metrics_use_the_sla_threshold_and_the_window(kit, store, clock, fake_sleep):
    import numpy

    store.record("latency_ms", 500.0)  # 4.5 h before the tick: outside both windows below
    clock.advance(3 * 3600)
    store.record("latency_ms", 300.0)  # 1.5 h before the tick: inside a 2 h window, outside the default 1 h
    clock.advance(1.5 * 3600)

    def probe():
        store.record("latency_ms", 100.0)
        return 100.0

    wide = MonitoringSystem(probe, store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep, max_iterations=1,
                            sla_threshold_ms=350, window_hours=2).tick().metrics
    assert wide.get("up") == 1.0 and wide.get("latency_ms") == pytest.approx(100.0), (
        f"the probe answered 100.0 ms: up = 1.0 and latency_ms = 100.0, the probe's value as it is (already in ms), "
        f"got {wide}")
    assert wide.get("sla_compliance") == pytest.approx(100.0), (
        f"over the last 2 h (300 and 100 ms) with sla_threshold_ms=350 every sample is within the SLA, got {wide}")
    assert wide.get("p95_latency_ms") == pytest.approx(float(numpy.percentile([300.0, 100.0], 95))), (
        f"p95_latency_ms should be the 95th percentile of the 2 h window's latencies (300 and 100 ms), got {wide}")
    default = MonitoringSystem(probe, store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep,
                               max_iterations=1).tick().metrics
    assert default.get("sla_compliance") == pytest.approx(100.0) and default.get("p95_latency_ms") == pytest.approx(100.0), (
        f"by default the window is the last hour (only the 100 ms samples) with a 200 ms SLA threshold, got {default}")
    strict = MonitoringSystem(probe, store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep, max_iterations=1,
                              sla_threshold_ms=200, window_hours=2).tick().metrics
    assert strict.get("sla_compliance") == pytest.approx(75.0), (
        f"over 2 h (300, 100, 100, 100 ms) a 200 ms threshold keeps 3 of 4 samples: 75 %, got {strict}")


def _numpy_number(kind, value):
    import numpy

    return getattr(numpy, kind)(value)


# ("numpy", kind, value): a probe timing with NumPy; numpy.float32 is no float (nor int) subclass, numpy.int64 no int
@pytest.mark.parametrize("latency", [0.0, 0, 12, ("numpy", "float32", 12.5), ("numpy", "int64", 12),
                                     ("numpy", "float32", 0.0), ("numpy", "int64", 0)],
                         ids=["0.0", "int-0", "int-12", "numpy-float32-12.5", "numpy-int64-12", "numpy-float32-0",
                              "numpy-int64-0"])
def test_a_latency_of_zero_ms_is_up_not_down(kit, store, clock, fake_sleep, latency):
    if isinstance(latency, tuple):
        latency = _numpy_number(*latency[1:])
    alerter = kit.RecordingAlerter()
    metrics = MonitoringSystem(lambda: latency, store, alerter, clock=clock, sleep=fake_sleep, max_iterations=1).tick().metrics
    assert metrics.get("up") == 1.0 and metrics.get("latency_ms") == latency, (
        f"a probe that returned {latency!r} ms answered (an int number of ms is a latency too, and so is a NumPy "
        f"number: only None means no answer): up = 1.0 and latency_ms = {latency!r}, got {metrics}")


def test_a_window_p95_of_zero_ms_is_sent_not_dropped(kit, store, clock, fake_sleep):
    def probe():
        store.record("latency_ms", 0.0)
        return 0.0

    metrics = MonitoringSystem(probe, store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep,
                               max_iterations=1).tick().metrics
    assert metrics.get("p95_latency_ms") == pytest.approx(0.0) and metrics.get("sla_compliance") == pytest.approx(100.0), (
        f"the window holds one 0 ms sample: p95_latency_ms = 0.0 is a value (only None is left out), with "
        f"sla_compliance = 100.0, got {metrics}")


def test_the_latency_is_sent_as_the_probe_measured_it(kit, store, clock, fake_sleep):
    alerter = kit.RecordingAlerter()
    metrics = MonitoringSystem(lambda: 12.3456789, store, alerter, clock=clock, sleep=fake_sleep,
                               max_iterations=1).tick().metrics
    assert metrics.get("latency_ms") == pytest.approx(12.3456789, abs=1e-9) and alerter.seen == [metrics], (
        f"a probe that measured 12.3456789 ms should be reported as latency_ms = 12.3456789, the probe's value as it "
        f"is (not rounded, not converted), to the alerter and in the report; got {metrics}, the alerter saw {alerter.seen}")


def test_an_explicit_sla_threshold_of_zero_is_used(kit, store, clock, fake_sleep):
    store.record("latency_ms", 100.0)
    metrics = MonitoringSystem(lambda: None, store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep,
                               max_iterations=1, sla_threshold_ms=0).tick().metrics
    assert metrics.get("sla_compliance") == pytest.approx(0.0), (
        f"sla_threshold_ms=0 is a threshold like any other (not 'use the 200 ms default'): a 100 ms sample is over it, "
        f"so sla_compliance = 0, got {metrics}")


def test_an_explicit_window_of_zero_hours_is_used(kit, store, clock, fake_sleep):
    store.record("latency_ms", 300.0)  # a minute before the tick: inside the default 1 h window, outside a 0 h one
    clock.advance(60)

    def probe():
        store.record("latency_ms", 100.0)
        return 100.0

    metrics = MonitoringSystem(probe, store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep, max_iterations=1,
                               window_hours=0).tick().metrics
    assert metrics.get("sla_compliance") == pytest.approx(100.0) and metrics.get("p95_latency_ms") == pytest.approx(100.0), (
        f"window_hours=0 is a window like any other (not 'use the 1 h default'): only this instant's 100 ms sample is "
        f"in it, not the 300 ms one of a minute ago, got {metrics}")


def test_a_metric_missing_from_a_tick_is_not_carried_over_from_the_last(kit, store, clock, fake_sleep):
    answers = iter([12.0, None])
    system = MonitoringSystem(lambda: next(answers), store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep,
                              max_iterations=2)
    first, second = system.tick().metrics, system.tick().metrics
    assert first == {"up": 1.0, "latency_ms": 12.0}, f"the first tick answered in 12 ms, got {first}"
    assert second == {"up": 0.0}, (
        f"the second tick got no answer and the window is empty: only up = 0.0, no latency_ms left over from the "
        f"tick before, got {second}")
    answers = iter([12.0, None])
    summary = MonitoringSystem(lambda: next(answers), store, kit.RecordingAlerter(), clock=clock, sleep=fake_sleep,
                               max_iterations=2).run()
    assert summary.last_metrics == {"up": 0.0}, (
        f"a run whose last tick got no answer (after a 12 ms one) ends with last_metrics = that tick's metrics, only "
        f"up = 0.0: not merged with the earlier tick's latency_ms, got {summary.last_metrics}")


class FlickeringStore:
    """A window that empties between two reads: each metric alternates a value and None, call by call."""

    def __init__(self):
        self.calls = {"sla": 0, "p95": 0}

    def calculate_sla_compliance(self, latency_threshold_ms=200.0, hours=24):
        self.calls["sla"] += 1
        return 99.98765432 if self.calls["sla"] % 2 else None

    def latency_percentile(self, q, hours=24):
        self.calls["p95"] += 1
        return 150.123456789 if self.calls["p95"] % 2 else None


def test_a_window_metric_is_sent_as_it_was_read(kit, clock, fake_sleep):
    alerter = kit.RecordingAlerter()
    report = MonitoringSystem(lambda: 12.0, FlickeringStore(), alerter, clock=clock, sleep=fake_sleep,
                              max_iterations=1).tick()
    assert report.error is None and alerter.seen and all(value is not None for value in alerter.seen[0].values()), (
        f"each window metric should be read once and sent as read (a value, or left out when None); a second read "
        f"may find the window empty and send None: the alerter got {alerter.seen}, error {report.error!r}")
    assert report.metrics == {"up": 1.0, "latency_ms": 12.0, "sla_compliance": 99.98765432,
                              "p95_latency_ms": 150.123456789} and alerter.seen == [report.metrics], (
        f"the first read of each window metric had a value (99.98765432 % and 150.123456789 ms): each is sent as read, "
        f"to the alerter and in the report (not rounded: 99.99 % and 150.12 ms are other numbers), got "
        f"{report.metrics}, the alerter saw {alerter.seen}")


class Interrupting:
    """Wraps a collaborator; its method `where` raises `interrupt` (the others answer as the wrapped one does)."""

    def __init__(self, inner, where, interrupt):
        self.inner, self.where, self.interrupt = inner, where, interrupt

    def __getattr__(self, name):
        if name == self.where:
            def interrupted(*args, **kwargs):
                raise self.interrupt()
            return interrupted
        return getattr(self.inner, name)


@pytest.mark.parametrize("where", ["probe", "calculate_sla_compliance", "latency_percentile", "evaluate"])
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_from_a_collaborator_is_not_swallowed(kit, store, clock, fake_sleep, interrupt, where):
    def probe():
        if where == "probe":
            raise interrupt()
        return 12.0

    system = MonitoringSystem(probe, Interrupting(store, where, interrupt),
                              Interrupting(kit.RecordingAlerter(), where, interrupt), clock=clock, sleep=fake_sleep,
                              max_iterations=3)
    try:
        summary = system.run()
    except interrupt:
        return
    pytest.fail(f"a {interrupt.__name__} raised by {where}() (the probe, the store or the alerter alike) should go "
                f"through and end the run, not count as a failed tick; run() returned {summary}")
