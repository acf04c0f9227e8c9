"""Day 11, tasks 1-3: a performance monitor with an SQLite store, an SLA and a latency probe."""

from __future__ import annotations

import datetime
import http.client
import math
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
from contextlib import closing, contextmanager
from typing import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_katas.fakes import FakeClock
from mlops_katas.infra.http_server import free_port
import performance_monitor
from performance_monitor import ModelPerformanceMonitor

HOUR = 3600.0

# Timestamps are whole seconds and windows whole quarter hours, so "exactly `hours`
# old" is exact in floating point whichever way an implementation computes it.
# Every example records at least one sample (empty stores have tests of their own).
windows = st.integers(min_value=1, max_value=48 * 4).map(lambda quarters: quarters / 4)


def record_at(monitor, clock, name, samples):
    """Record (timestamp, value) pairs in time order, moving the clock to each timestamp."""
    for timestamp, value in sorted(samples, key=lambda s: s[0]):
        clock.now = timestamp
        monitor.record_metric(name, value)


def samples(monitor, name, **window) -> list[tuple[float, float]]:
    """(timestamp, value) of each sample get_recent_metrics returns, checking each has both keys."""
    rows = monitor.get_recent_metrics(name, **window)
    for row in rows:
        assert "timestamp" in row and "value" in row, f"each sample is a dict with 'timestamp' and 'value', got {row!r}"
    return [(row["timestamp"], row["value"]) for row in rows]


def fresh_monitor(folder, make_clock):
    clock = make_clock()
    return ModelPerformanceMonitor(os.path.join(folder, "perf.db"), clock=clock), clock


# --- task 1: store and query ------------------------------------------------------


@pytest.mark.task(taskno=1)
def test_recorded_metric_comes_back_with_clock_timestamp_and_value(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 123.5)
    rows = monitor.get_recent_metrics("latency_ms")
    assert samples(monitor, "latency_ms") == [(clock.now, 123.5)], (
        "one recorded sample should come back as {'timestamp': <the injected clock's epoch seconds>, "
        f"'value': 123.5}}, got {rows}"
    )


@pytest.mark.task(taskno=1)
def test_recent_metrics_are_newest_first(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for value in (1.0, 2.0, 3.0):
        monitor.record_metric("accuracy", value)
        clock.advance(60)
    rows = monitor.get_recent_metrics("accuracy")
    assert [row["value"] for row in rows] == [3.0, 2.0, 1.0], f"newest sample should come first, got {rows}"
    assert [row["timestamp"] for row in rows] == [clock.now - 60, clock.now - 120, clock.now - 180], (
        f"timestamps should be the clock's value at each record_metric call, got {rows}"
    )


@pytest.mark.task(taskno=1)
def test_newest_first_even_when_recorded_out_of_order(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    clock.now = 2000.0
    monitor.record_metric("m", 2.0)
    clock.now = 1000.0  # a backfill of an older sample
    monitor.record_metric("m", 1.0)
    clock.now = 3000.0
    monitor.record_metric("m", 3.0)
    rows = monitor.get_recent_metrics("m")
    assert [row["timestamp"] for row in rows] == [3000.0, 2000.0, 1000.0], (
        f"order is by timestamp (newest first), not by insertion, got {rows}"
    )


@pytest.mark.task(taskno=1)
def test_a_sample_stamped_ahead_of_the_clock_is_in_the_window(db_path, clock):
    # Another prober whose clock runs 5 s ahead writes into the same file (or a backfill stamps a sample later).
    now = clock.now
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 100.0)
    ahead = ModelPerformanceMonitor(db_path, clock=FakeClock(start=now + 5))
    ahead.record_metric("latency_ms", 900.0)
    got = samples(monitor, "latency_ms", hours=1)
    assert got == [(now + 5, 900.0), (now, 100.0)], (
        "the window is every sample stamped at least clock() - hours * 3600, with no upper end: the sample "
        f"stamped 5 s after this monitor's clock is in, newest first; got {got}"
    )
    assert monitor.calculate_sla_compliance() == pytest.approx(50.0), (
        "the sample stamped ahead of the clock counts towards the SLA too: 1 of 2 within 200 ms"
    )
    p0, p100 = monitor.latency_percentile(0), monitor.latency_percentile(100)
    assert (p0, p100) == (pytest.approx(100.0), pytest.approx(900.0)), (
        "the percentiles read the same window as get_recent_metrics, with no upper end: p0 is 100 ms and p100 is "
        f"the 900 ms sample stamped 5 s ahead of the clock; got p0={p0} and p100={p100}"
    )


@pytest.mark.task(taskno=1)
def test_only_the_named_metric_is_returned_whatever_its_model_version(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 10.0, model_version="v1")
    clock.advance(1)
    monitor.record_metric("availability", 1.0)
    clock.advance(1)
    monitor.record_metric("latency_ms", 20.0, model_version="v2")
    for lookalike in ("LATENCY_MS", "latencyXms"):  # names SQL LIKE would match
        monitor.record_metric(lookalike, 99.0)
    values = [row["value"] for row in monitor.get_recent_metrics("latency_ms")]
    assert values == [20.0, 10.0], (
        f"both versions' latency samples and nothing else (names match exactly, case and all), got {values}"
    )
    assert monitor.get_recent_metrics("nothing-recorded") == [], "an unknown metric has no samples"


@pytest.mark.task(taskno=1)
def test_a_sample_keeps_its_model_version_in_the_database(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 12.5, model_version="v7-candidate")
    with closing(sqlite3.connect(db_path)) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells = {str(cell) for table in tables for row in db.execute(f'SELECT * FROM "{table}"') for cell in row}
    assert "v7-candidate" in cells, (
        f"record_metric(..., model_version='v7-candidate') should store the version with the sample in the "
        f"database (a dashboard compares versions with SQL); no table holds it: {sorted(cells)[:10]}")


@pytest.mark.task(taskno=1)
def test_metric_names_match_character_for_character(db_path, clock):
    # Wildcards of SQL LIKE (% _) and GLOB (* ? [), and stray spaces that a "clean-up" of the name would strip.
    names = ["latency_ms", "latency_ms ", " latency_ms", "latency_*", "latency_?s", "[l]atency_ms", "latency%"]
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for value, name in enumerate(names):
        monitor.record_metric(name, float(value))
    for value, name in enumerate(names):
        got = [v for _, v in samples(monitor, name)]
        assert got == [float(value)], (
            f"metric {name!r} holds exactly its own sample {float(value)}, got {got}: names match character for "
            "character (compare with `=`, not LIKE or GLOB, and do not strip or change the name)"
        )


@pytest.mark.task(taskno=1)
def test_sample_exactly_hours_old_is_in_the_window_and_older_is_out(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    now = clock.now
    record_at(monitor, clock, "m", [(now - 2 * HOUR - 1, 1.0), (now - 2 * HOUR, 2.0), (now - 1, 3.0)])
    clock.now = now
    values = [row["value"] for row in monitor.get_recent_metrics("m", hours=2)]
    assert values == [3.0, 2.0], (
        f"with hours=2 the sample exactly 2 h old is in and the one a second older is out, got {values}"
    )


@pytest.mark.task(taskno=1)
def test_window_takes_fractional_hours_and_defaults_to_24(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    now = clock.now
    record_at(monitor, clock, "m", [(now - 25 * HOUR, 1.0), (now - 24 * HOUR, 2.0),
                                    (now - 1800, 3.0), (now - 1801, 4.0)])
    clock.now = now
    half_hour = [row["value"] for row in monitor.get_recent_metrics("m", hours=0.5)]
    assert half_hour == [3.0], f"hours=0.5 is a 30-minute window, got {half_hour}"
    default = sorted(row["value"] for row in monitor.get_recent_metrics("m"))
    assert default == [2.0, 3.0, 4.0], f"the default window is 24 hours, got {default}"


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("hours, span", [(np.float32(0.5), 0.5 * HOUR), (np.int64(2), 2 * HOUR)],
                         ids=["float32", "int64"])
def test_a_numpy_number_of_hours_is_the_window_it_holds(db_path, clock, hours, span):
    # hours read from a NumPy array (a float32 config table): clock() - np.float32(0.5) * 3600 is a float32, too
    # narrow for today's clock (it is minutes off), and sqlite3 binds a NumPy number as raw bytes anyway.
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    now = clock.now
    record_at(monitor, clock, "m", [(now - span - 1, 1.0), (now - span, 2.0), (now - 1, 3.0)])
    clock.now = now
    values = [row["value"] for row in monitor.get_recent_metrics("m", hours=hours)]
    assert values == [3.0, 2.0], (
        f"hours={hours!r} ({type(hours).__name__}) is a window of {span:g} s: the sample exactly that old is in, the "
        f"one a second older out, got {values} (compute the bound as a Python float: float(hours))"
    )


@pytest.mark.task(taskno=1)
def test_window_moves_with_the_injected_clock(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("m", 1.0)
    clock.advance(HOUR)
    assert len(monitor.get_recent_metrics("m", hours=1)) == 1, "a sample 1 h old is inside a 1 h window"
    clock.advance(1)
    assert monitor.get_recent_metrics("m", hours=1) == [], (
        "once the injected clock moved past the window the sample is out: use `clock`, not the wall clock"
    )


@pytest.mark.task(taskno=1)
def test_timestamps_are_numbers_kept_exactly_across_a_change_of_digit_count(db_path):
    # 999_999_999.5 and 1_000_000_000.0625: compared as text, "999..." sorts after "1000...",
    # and a value rounded to whole seconds or to milliseconds no longer equals what the clock said.
    clock = FakeClock(start=999_999_999.5)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("m", 1.0)
    clock.now = 1_000_000_000.0625
    monitor.record_metric("m", 2.0)
    got = samples(monitor, "m", hours=1)
    assert got == [(1_000_000_000.0625, 2.0), (999_999_999.5, 1.0)], (
        "timestamps come back exactly as the clock gave them (fractions included), newest first by numeric "
        f"value, and both are inside a 1 h window: store them as numbers, not text or whole seconds; got {got}"
    )
    clock.now = 999_999_999.5 + HOUR
    assert [v for _, v in samples(monitor, "m", hours=1)] == [2.0, 1.0], (
        "a sample exactly 1 h old (to the fraction of a second) is still in the window"
    )
    clock.now = 999_999_999.5 + HOUR + 0.5
    assert [v for _, v in samples(monitor, "m", hours=1)] == [2.0], (
        "half a second later the older sample is out of the 1 h window"
    )


@pytest.mark.task(taskno=1)
def test_timestamps_keep_fractions_finer_than_a_microsecond(db_path):
    # time.time() carries about a quarter of a microsecond at today's epoch; 2**-21 s (0.48 us) is exact in
    # floating point but lost by a datetime (whole microseconds) or an integer count of microseconds.
    stamp = 1_700_000_000.0 + 2**-21
    clock = FakeClock(start=stamp)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("m", 1.0)
    got = samples(monitor, "m", hours=0)
    assert got == [(stamp, 1.0)], (
        f"the sample stamped {stamp!r} should come back with that very timestamp (and be inside the window that "
        "starts at clock() itself): store the clock's float as a number (REAL), not as a datetime, ISO text or "
        f"whole microseconds; got {got}"
    )
    # The window start, too, is computed from the clock's float as it is: 1 h before `stamp` is
    # 1_699_996_400 + 2**-21. Through datetime.fromtimestamp(clock()) it is rounded to 1_699_996_400.0, and a
    # sample stamped there (2**-21 s more than 1 h old) would be in.
    record_at(monitor, clock, "m", [(stamp - HOUR - 2**-21, 2.0), (stamp - HOUR, 3.0)])
    clock.now = stamp
    got = [v for _, v in samples(monitor, "m", hours=1)]
    assert got == [1.0, 3.0], (
        f"at clock {stamp!r} a 1 h window starts at {stamp - HOUR!r}: the sample stamped exactly then is in and the "
        "one 2**-21 s (half a microsecond) older is out; compute clock() - hours * 3600 from the clock's float, not "
        f"through a datetime (whole microseconds); got {got}"
    )


@pytest.mark.task(taskno=1)
def test_window_start_keeps_the_fraction_of_a_second_of_the_clock(db_path):
    # Binary fractions (.25, .5, .75) are exact in floating point, so the boundary is exact too.
    clock = FakeClock(start=1_700_000_000.75 - HOUR - 0.5)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("m", 1.0)  # 1 h and half a second before "now" below
    clock.now = 1_700_000_000.75 - HOUR
    monitor.record_metric("m", 2.0)  # exactly 1 h before "now"
    clock.now = 1_700_000_000.75
    got = [v for _, v in samples(monitor, "m", hours=1)]
    assert got == [2.0], (
        "at clock 1_700_000_000.75 a 1 h window starts at 1_699_996_400.75: the sample exactly 1 h old is in and "
        "the one half a second older is out; use the clock's value as it is, not rounded or cut to whole seconds; "
        f"got {got}"
    )


@pytest.mark.task(taskno=1)
def test_window_length_keeps_fractions_of_a_second(db_path, clock):
    # 2**-10 hours is 3.515625 s, exact in floating point, so the boundary is exact whichever way it is computed.
    hours = 2**-10
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    now = clock.now
    record_at(monitor, clock, "m", [(now - 3.75, 1.0), (now - 3.515625, 2.0), (now - 3.5, 3.0)])
    clock.now = now
    got = [v for _, v in samples(monitor, "m", hours=hours)]
    assert got == [3.0, 2.0], (
        f"hours={hours} is a window of {hours * 3600} s: the samples 3.5 s and exactly 3.515625 s old are in, the "
        "one 3.75 s old is out; compute clock() - hours * 3600 as a float, do not cut the window length to whole "
        f"seconds; got {got}"
    )


@pytest.mark.task(taskno=1)
def test_a_zero_hour_window_holds_only_samples_stamped_now(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("m", 1.0)
    clock.advance(1)
    monitor.record_metric("m", 2.0)
    got = [v for _, v in samples(monitor, "m", hours=0)]
    assert got == [2.0], (
        "hours=0 is a window that starts at clock() itself: only the sample stamped now is in it "
        f"(0 is a value, not 'use the default of 24'); got {got}"
    )


@pytest.mark.task(taskno=1)
def test_a_negative_window_starts_that_far_after_the_clock(db_path, clock):
    # The same rule as any window: samples stamped at least clock() - hours * 3600, here an hour after clock().
    now = clock.now
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    record_at(monitor, clock, "m", [(now, 1.0), (now + HOUR - 1, 2.0), (now + HOUR, 3.0), (now + HOUR + 1, 4.0)])
    clock.now = now
    got = samples(monitor, "m", hours=-1)
    assert got == [(now + HOUR + 1, 4.0), (now + HOUR, 3.0)], (
        "hours=-1 is a window that starts an hour after clock(): only the samples stamped at least 3600 s ahead "
        f"are in, newest first ({[(now + HOUR + 1, 4.0), (now + HOUR, 3.0)]}); got {got}"
    )


@pytest.mark.task(taskno=1)
def test_a_nan_window_holds_no_samples(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("m", 1.0)
    got = samples(monitor, "m", hours=float("nan"))
    assert got == [], f"hours=nan gives a window start no sample is at or after: [] expected, got {got}"


@pytest.mark.task(taskno=1)
def test_whole_number_values_and_timestamps_come_back_as_floats(db_path, clock):
    # clock.now is a whole second (1_700_000_000.0) and 1.0 / 200.0 are whole numbers: a column
    # declared NUMERIC or INTEGER would turn them into Python ints.
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("availability", 1.0)
    monitor.record_metric("latency_ms", 200.0)
    for name in ("availability", "latency_ms"):
        rows = monitor.get_recent_metrics(name)
        kinds = [(type(row["timestamp"]).__name__, type(row["value"]).__name__) for row in rows]
        assert kinds == [("float", "float")], (
            f"each sample is {{'timestamp': float, 'value': float}}, even when the number is whole; {name} came back "
            f"with types {kinds} ({rows}): declare the columns REAL"
        )


@pytest.mark.task(taskno=1)
def test_int_values_and_an_int_clock_come_back_as_floats(db_path):
    # Python code passes ints where floats are expected (a count, `int(time.time())`); SQLite keeps an int
    # as an int unless the column says REAL.
    clock = FakeClock(start=1_700_000_000)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("requests_in_flight", 3)
    rows = monitor.get_recent_metrics("requests_in_flight")
    assert rows == [{"timestamp": 1_700_000_000.0, "value": 3.0}], f"the sample should come back, got {rows}"
    kinds = [(type(row["timestamp"]).__name__, type(row["value"]).__name__) for row in rows]
    assert kinds == [("float", "float")], (
        "each sample is {'timestamp': float, 'value': float} even when record_metric was given an int and the "
        f"clock said an int; got types {kinds}: declare the columns REAL (or convert)"
    )


@pytest.mark.task(taskno=1)
def test_numpy_numbers_and_ints_past_64_bits_come_back_as_floats(db_path, clock):
    # ML code hands over NumPy numbers (a count from np.sum, a float32 model output): sqlite3 binds those as raw
    # bytes (a BLOB), whatever the column says; and an int past 2**63 does not fit SQLite's INTEGER at all.
    given = {"errors": np.int64(3), "score": np.float32(0.5), "bytes_served": 2**64}
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for name, value in given.items():
        try:
            monitor.record_metric(name, value)
        except NotImplementedError:
            raise
        except Exception as error:  # noqa: BLE001 - the point is that the number is accepted
            pytest.fail(f"record_metric({name!r}, {value!r}) ({type(value).__name__}) raised {error!r}: any real "
                        "number is a value; convert it with float() before it reaches SQLite")
    for name, value in given.items():
        rows = monitor.get_recent_metrics(name)
        assert rows == [{"timestamp": clock.now, "value": float(value)}], (
            f"record_metric({name!r}, {value!r}) ({type(value).__name__}) should come back as the float "
            f"{float(value)!r}, got {rows}: sqlite3 stores a NumPy number as raw bytes unless you convert it with "
            "float() first"
        )
        assert [type(row["value"]) for row in rows] == [float], f"the value comes back as a float, got {rows}"


@pytest.mark.task(taskno=1)
def test_a_monitor_built_in_one_thread_works_from_another(db_path, clock):
    # A monitor built at start-up and driven by a scheduler's worker thread (and read by the main thread).
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 100.0)
    outcome: dict[str, object] = {}

    def worker() -> None:
        try:
            monitor.record_metric("latency_ms", 300.0)
            outcome["seen"] = sorted(v for _, v in samples(monitor, "latency_ms"))
            outcome["sla"] = monitor.calculate_sla_compliance()
        except Exception as error:  # noqa: BLE001 - reported below, in the test's own thread
            outcome["error"] = error

    thread = threading.Thread(target=worker, name="probe-loop", daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the monitor's calls from a worker thread did not finish within 10 s"
    if isinstance(outcome.get("error"), NotImplementedError):
        raise outcome["error"]
    assert "error" not in outcome, (
        f"the monitor was built in the main thread and used from a worker thread, which raised {outcome.get('error')!r}: "
        "a monitor works from any thread (open a short connection per call, or pass check_same_thread=False to a "
        "shared one)"
    )
    assert outcome == {"seen": [100.0, 300.0], "sla": pytest.approx(50.0)}, (
        f"from the worker thread both samples are seen and 1 of 2 is within 200 ms, got {outcome}"
    )
    assert sorted(v for _, v in samples(monitor, "latency_ms")) == [100.0, 300.0], (
        "back in the main thread the sample the worker recorded is there too"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.timeout(60)
def test_reads_in_one_thread_stay_right_while_another_thread_records(db_path, clock):
    # A probe loop records in its worker thread while the dashboard reads in the main one, at the same moment.
    recorded = 200
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for value in (10.0, 20.0, 30.0):
        monitor.record_metric("dashboard_ms", value)
    problems: list[object] = []

    def probe_loop() -> None:
        # A probe loop records now and then, not back to back: with no pause at all, a reader on a busy machine can
        # wait out SQLite's busy timeout behind one commit after another, which says nothing about thread safety.
        try:
            for _ in range(recorded):
                monitor.record_metric("latency_ms", 120.0)
                time.sleep(0.002)
        except Exception as error:  # noqa: BLE001 - reported below, in the test's own thread
            problems.append(error)

    thread = threading.Thread(target=probe_loop, name="probe-loop", daemon=True)
    thread.start()
    try:
        reads = 0
        while thread.is_alive() and not problems:
            reads += 1
            try:
                got = sorted(v for _, v in samples(monitor, "dashboard_ms"))
            except Exception as error:  # noqa: BLE001 - reported below
                problems.append(error)
                break
            if got != [10.0, 20.0, 30.0]:
                problems.append(f"read {reads} returned {got}")
                break
    finally:
        thread.join(timeout=20)
    assert not thread.is_alive(), "the recording thread did not finish within 20 s"
    assert not problems, (
        f"while a worker thread recorded latency_ms, reading dashboard_ms from the main thread went wrong: {problems!r}; "
        "the three dashboard_ms samples must come back at every read: give each call its own connection (or "
        "cursor), or guard a shared one with a lock"
    )
    stored = len(monitor.get_recent_metrics("latency_ms"))
    assert stored == recorded, f"the worker thread recorded {recorded} latency_ms samples, {stored} are stored"


@pytest.mark.task(taskno=1)
def test_the_default_clock_stamps_samples_in_epoch_seconds(db_path):
    monitor = ModelPerformanceMonitor(db_path)
    before = time.time()
    monitor.record_metric("m", 1.0)
    after = time.time()
    stamps = [row["timestamp"] for row in monitor.get_recent_metrics("m")]
    assert len(stamps) == 1 and before - 1 <= stamps[0] <= after + 1, (
        f"without a clock the sample is stamped with time.time() (epoch seconds, between {before:.0f} and "
        f"{after:.0f}), got {stamps}: time.monotonic counts from an arbitrary point (often the boot), so its "
        "stamps mean nothing in another process or after a restart"
    )


class SqlWatchingConnection(sqlite3.Connection):
    """A real sqlite3 connection that also keeps the SQL text of every statement it is given (and its parameters)."""

    statements: list[str] = []
    bindings: list[tuple[str, object]] = []

    def execute(self, sql, *args, **kwargs):
        SqlWatchingConnection.note(sql, *args, **kwargs)
        return super().execute(sql, *args, **kwargs)

    def executemany(self, sql, *args, **kwargs):
        self.statements.append(sql)
        return super().executemany(sql, *args, **kwargs)

    def executescript(self, sql, *args, **kwargs):
        self.statements.append(sql)
        return super().executescript(sql, *args, **kwargs)

    def cursor(self, *args, **kwargs):
        return super().cursor(SqlWatchingCursor)

    @classmethod
    def note(cls, sql, parameters=(), *args, **kwargs):
        cls.statements.append(sql)
        cls.bindings.append((sql, parameters))


class SqlWatchingCursor(sqlite3.Cursor):
    def execute(self, sql, *args, **kwargs):
        SqlWatchingConnection.note(sql, *args, **kwargs)
        return super().execute(sql, *args, **kwargs)

    def executemany(self, sql, *args, **kwargs):
        SqlWatchingConnection.statements.append(sql)
        return super().executemany(sql, *args, **kwargs)


def limit_bound_to(sql: str, parameters) -> object:
    """The value bound to `LIMIT ?` (or `LIMIT :name`) in `sql`, or None when its LIMIT is not a parameter."""
    match = re.search(r"\bLIMIT\s+(\?|[:@$]\w+)", sql, re.IGNORECASE)
    if match is None:
        return None
    try:
        if match.group(1) == "?":
            return list(parameters)[sql[:match.start(1)].count("?")]
        return dict(parameters)[match.group(1)[1:]]
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def watch_sql(monkeypatch) -> list[str]:
    """From now on, the SQL text of every statement the monitor gives SQLite lands in the returned list (and the
    text with its parameters in SqlWatchingConnection.bindings)."""
    import performance_monitor

    statements: list[str] = []
    monkeypatch.setattr(SqlWatchingConnection, "statements", statements)
    monkeypatch.setattr(SqlWatchingConnection, "bindings", [])
    connect = sqlite3.connect

    def watched_connect(*args, **kwargs):
        return connect(*args, factory=SqlWatchingConnection, **kwargs)

    # sqlite3.connect, the same function under sqlite3.dbapi2, and any copy the module imported by name.
    monkeypatch.setattr(sqlite3, "connect", watched_connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", watched_connect)
    for attribute, value in vars(performance_monitor).items():
        if value is connect:
            monkeypatch.setattr(performance_monitor, attribute, watched_connect)
    return statements


@pytest.mark.task(taskno=1)
def test_numbers_reach_sqlite_as_parameters_not_as_sql_text(db_path, monkeypatch):
    statements = watch_sql(monkeypatch)
    clock = FakeClock(start=1_700_001_234.75)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("checkout_p95_ms", 431.625, model_version="v7-candidate")
    rows = monitor.get_recent_metrics("checkout_p95_ms", hours=2.5)
    assert [row["value"] for row in rows] == [431.625], f"the sample should come back, got {rows}"
    window_start = 1_700_001_234.75 - 2.5 * 3600
    values = {"the metric name": "checkout_p95_ms", "the model version": "v7-candidate", "the value": "431.625",
              "the timestamp": "1700001234.75", "the window start": str(window_start),
              "the window length in hours": "2.5", "the window length in seconds": "9000"}
    for what, text in values.items():
        inside = [sql for sql in statements if text in sql]
        assert not inside, (
            f"{what} ({text}) was written into the SQL text {inside}: every value, numbers included, reaches "
            "SQLite as a parameter (? or :name) and the SQL text only holds placeholders"
        )


@pytest.mark.task(taskno=1)
def test_the_window_query_is_not_capped_by_a_fixed_limit(db_path, clock, monkeypatch):
    statements = watch_sql(monkeypatch)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 120.0)
    reading = len(statements)  # only the statements of the window query itself are judged
    binding = len(SqlWatchingConnection.bindings)
    assert [row["value"] for row in monitor.get_recent_metrics("latency_ms")] == [120.0], "the sample comes back"
    capped = [sql for sql in statements[reading:] if re.search(r"\bLIMIT\s+\d", sql, re.IGNORECASE)]
    capped += [f"{sql} with LIMIT bound to {bound!r}" for sql, parameters in SqlWatchingConnection.bindings[binding:]
               if isinstance(bound := limit_bound_to(sql, parameters), (int, float)) and bound >= 0]
    assert not capped, (
        f"the window query carries a fixed cap {capped}: get_recent_metrics returns every sample of the window, "
        "however many (no LIMIT); an SLA over the newest N samples of a busy day is a wrong SLA"
    )


@pytest.mark.task(taskno=1)
def test_a_busy_window_returns_every_sample_however_many(db_path, clock, monkeypatch):
    # Only a speed-up for the test: the 1050 one-row transactions below skip fsync.
    connect = sqlite3.connect

    def connect_without_fsync(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA journal_mode=MEMORY")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect_without_fsync)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect_without_fsync)  # the name SQLAlchemy calls
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for i in range(1050):  # one sample a second: the oldest 50 were slow, the newest 1000 fast
        monitor.record_metric("latency_ms", 900.0 if i < 50 else 100.0)
        clock.advance(1)
    rows = monitor.get_recent_metrics("latency_ms")
    assert len(rows) == 1050, (
        f"all 1050 samples of the last 18 minutes are in the 24 h window, got {len(rows)}: "
        "do not cap the query (no LIMIT), an SLA over a truncated window is a wrong SLA"
    )
    assert monitor.calculate_sla_compliance() == pytest.approx(100.0 * 1000 / 1050), (
        "the 50 oldest (slow) samples of a busy window count towards the SLA too"
    )


@pytest.mark.task(taskno=1)
def test_metrics_persist_across_instances_sharing_a_db_file(db_path, clock):
    first = ModelPerformanceMonitor(db_path, clock=clock)
    first.record_metric("latency_ms", 42.0)
    again = ModelPerformanceMonitor(db_path, clock=clock)
    assert samples(again, "latency_ms") == [(clock.now, 42.0)], (
        "a second monitor on the same db file should see what the first recorded (and not wipe it)"
    )
    again.record_metric("latency_ms", 43.0)
    assert sorted(row["value"] for row in first.get_recent_metrics("latency_ms")) == [42.0, 43.0], (
        "a monitor opened earlier sees what another monitor recorded in the file since (read the file, "
        "not a copy taken when the monitor was opened)"
    )
    third = ModelPerformanceMonitor(db_path, clock=clock)
    assert sorted(row["value"] for row in third.get_recent_metrics("latency_ms")) == [42.0, 43.0], (
        "samples from both monitors should be kept in the file"
    )


@pytest.mark.task(taskno=1)
@pytest.mark.parametrize("existing", ["empty-file", "file-with-other-tables"])
def test_an_existing_sqlite_file_without_the_table_gets_it(db_path, clock, existing):
    # The file is already there: created empty by a deployment script, or shared with another tool's tables.
    with closing(sqlite3.connect(db_path)) as conn, conn:
        if existing == "file-with-other-tables":
            conn.execute("CREATE TABLE deployments (model TEXT, deployed_at REAL)")
            conn.execute("INSERT INTO deployments VALUES (?, ?)", ("iris-v2", 1.0))
    assert os.path.exists(db_path), "the test prepared the file"
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 42.0)
    got = samples(monitor, "latency_ms")
    assert got == [(clock.now, 42.0)], (
        f"the SQLite file existed already ({existing}) but had no table for the samples: create it when it is "
        f"missing (CREATE TABLE IF NOT EXISTS), not only when the file is new; got {got}"
    )
    with closing(sqlite3.connect(db_path)) as conn:
        kept = conn.execute("SELECT name FROM sqlite_master WHERE name = 'deployments'").fetchall()
    assert len(kept) == (existing == "file-with-other-tables"), "the other tables in the file are left alone"


@pytest.mark.task(taskno=1)
def test_a_monitor_sees_what_another_monitor_recorded_at_the_same_clock_reading(db_path, clock):
    # A dashboard and a prober share the file; the dashboard asks again before its clock moved.
    dashboard = ModelPerformanceMonitor(db_path, clock=clock)
    prober = ModelPerformanceMonitor(db_path, clock=clock)
    prober.record_metric("latency_ms", 100.0)
    assert [v for _, v in samples(dashboard, "latency_ms")] == [100.0], "the prober's first sample is seen"
    assert dashboard.calculate_sla_compliance() == pytest.approx(100.0), "one sample within 200 ms: 100 percent"
    assert dashboard.latency_percentile(100) == pytest.approx(100.0), "one sample of 100 ms: p100 is 100 ms"
    prober.record_metric("latency_ms", 900.0)  # same clock reading, written by the other monitor
    got = sorted(v for _, v in samples(dashboard, "latency_ms"))
    assert got == [100.0, 900.0], (
        "every query reads the file as it is now: the sample the other monitor just recorded (at the same clock "
        f"reading) is in the answer, not an answer remembered from the previous call; got {got}"
    )
    sla, p100 = dashboard.calculate_sla_compliance(), dashboard.latency_percentile(100)
    assert sla == pytest.approx(50.0) and p100 == pytest.approx(900.0), (
        "after the other monitor's 900 ms sample, 1 of 2 samples is within 200 ms (50 percent) and p100 is 900 ms; "
        f"got {sla} and {p100}: do not reuse earlier answers, the file may have changed since"
    )


@pytest.mark.task(taskno=1)
def test_old_samples_are_kept_for_a_long_window(db_path, clock):
    month_ago = clock.now - 30 * 24 * HOUR
    now = clock.now
    first = ModelPerformanceMonitor(db_path, clock=clock)
    record_at(first, clock, "latency_ms", [(month_ago, 120.0)])
    clock.now = now
    second = ModelPerformanceMonitor(db_path, clock=clock)  # opening the file again
    second.record_metric("latency_ms", 80.0)  # and recording after it
    for monitor in (first, second):
        got = samples(monitor, "latency_ms", hours=31 * 24)
        assert got == [(now, 80.0), (month_ago, 120.0)], (
            "samples are never deleted: a 31-day window still holds the sample recorded 30 days ago, after the "
            f"file was opened again and a newer sample recorded; got {got}"
        )


@pytest.mark.task(taskno=1)
def test_samples_are_kept_whatever_their_age(db_path, clock):
    two_years_ago = clock.now - 2 * 365 * 24 * HOUR
    now = clock.now
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    record_at(monitor, clock, "latency_ms", [(two_years_ago, 120.0)])
    clock.now = now
    ModelPerformanceMonitor(db_path, clock=clock).record_metric("latency_ms", 80.0)  # reopened, recorded again
    got = samples(monitor, "latency_ms", hours=3 * 365 * 24)
    assert got == [(now, 80.0), (two_years_ago, 120.0)], (
        "samples are never deleted, however old (no retention sweep of 30, 90 or 365 days either): a 3-year "
        f"window still holds the sample recorded 2 years ago; got {got}"
    )


@pytest.mark.task(taskno=1)
@settings(max_examples=25)
@given(samples=st.lists(st.tuples(st.integers(0, 48 * 3600), st.floats(-1e6, 1e6)), min_size=1, max_size=15),
       hours=windows)
def test_window_query_matches_a_brute_force_filter(make_clock, samples, hours):
    with tempfile.TemporaryDirectory() as folder:
        monitor, clock = fresh_monitor(folder, make_clock)
        now = clock.now
        stamped = [(now - offset, value) for offset, value in samples]
        record_at(monitor, clock, "m", stamped)
        clock.now = now
        rows = monitor.get_recent_metrics("m", hours=hours)
    expected = sorted((ts, v) for ts, v in stamped if now - ts <= hours * 3600)
    got = sorted((row["timestamp"], row["value"]) for row in rows)
    assert got == expected, f"hours={hours}: expected the samples at most {hours} h old {expected}, got {got}"
    stamps = [row["timestamp"] for row in rows]
    assert stamps == sorted(stamps, reverse=True), f"samples should be newest first, got {stamps}"


tricky_names = st.one_of(
    st.sampled_from([
        "it's", 'say "hi"', "x'; DROP TABLE metrics; --", "' OR '1'='1", "latency_ms' --",
        "%s", "?", "{}", "a\\b", "名前", "", " ",
    ]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
)


@pytest.mark.task(taskno=1)
@settings(max_examples=30)
@given(name=tricky_names, value=st.floats(-1e9, 1e9), version=tricky_names)
def test_metric_names_with_quotes_and_sql_round_trip_unharmed(make_clock, name, value, version):
    with tempfile.TemporaryDirectory() as folder:
        monitor, _ = fresh_monitor(folder, make_clock)
        monitor.record_metric("other", 7.0)
        monitor.record_metric(name, value, model_version=version)
        mine = [row["value"] for row in monitor.get_recent_metrics(name)]
        other = [row["value"] for row in monitor.get_recent_metrics("other")]
    if name == "other":
        assert sorted(mine) == sorted([7.0, value]), f"both samples of {name!r} should come back, got {mine}"
    else:
        assert mine == [value], f"metric {name!r} should hold exactly its one sample {value}, got {mine}"
        assert other == [7.0], f"recording {name!r} must not change other metrics, got {other}"


# --- task 2: SLA compliance and percentiles ---------------------------------------


@pytest.mark.task(taskno=2)
def test_sla_compliance_counts_samples_at_or_below_the_threshold(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for latency in (100.0, 200.0, 200.5, 900.0):
        monitor.record_metric("latency_ms", latency)
    assert monitor.calculate_sla_compliance(200.0) == pytest.approx(50.0), (
        "2 of 4 samples are <= 200 ms (exactly 200 complies), so compliance is 50 (percent)"
    )
    assert monitor.calculate_sla_compliance(1000.0) == pytest.approx(100.0), "all within 1000 ms is 100 percent"
    assert monitor.calculate_sla_compliance(50.0) == pytest.approx(0.0), "none within 50 ms is 0 percent"


@pytest.mark.task(taskno=2)
def test_sla_compliance_defaults_to_200_ms_over_24_hours(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    now = clock.now
    record_at(monitor, clock, "latency_ms", [(now - 25 * HOUR, 1.0), (now - 24 * HOUR, 2.0), (now - 4, 200.5),
                                             (now - 3, 200.0), (now - 2, 150.0), (now - 1, 250.0), (now, 199.0)])
    assert monitor.calculate_sla_compliance() == pytest.approx(400 / 6), (
        "defaults: threshold 200 ms, window 24 h (a sample exactly 24 h old is in); 4 of the 6 samples "
        "in the window are <= 200 ms (200.0 complies, 200.5 does not)"
    )


@pytest.mark.task(taskno=2)
def test_sla_compliance_is_none_when_there_are_no_latency_samples_in_the_window(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    assert monitor.calculate_sla_compliance() is None, "no samples at all: None, not 0 or 100"
    monitor.record_metric("availability", 1.0)
    monitor.record_metric("other_ms", 5.0)
    assert monitor.calculate_sla_compliance() is None, "only latency_ms samples count"
    monitor.record_metric("latency_ms", 10.0)
    clock.advance(2 * HOUR + 1)
    assert monitor.calculate_sla_compliance(hours=2) is None, "a sample older than the window does not count"


@pytest.mark.task(taskno=2)
def test_summaries_read_only_the_metric_named_exactly_latency_ms(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for lookalike in ("Latency_MS", "latency-ms", "latency_ms_p99", "latency_ms ", "latencyXms"):
        monitor.record_metric(lookalike, 900.0)
    assert monitor.calculate_sla_compliance() is None and monitor.latency_percentile(50) is None, (
        "only samples named exactly latency_ms count: Latency_MS, latency-ms, latency_ms_p99, 'latency_ms ' and "
        "latencyXms are other metrics (no LIKE, no case folding, no prefix match), so the window holds no data: None"
    )
    monitor.record_metric("latency_ms", 100.0)
    sla, p100 = monitor.calculate_sla_compliance(), monitor.latency_percentile(100)
    assert (sla, p100) == (pytest.approx(100.0), pytest.approx(100.0)), (
        f"the one latency_ms sample (100 ms) is the whole window: 100 percent and p100 100 ms, got {sla} and {p100}; "
        "the 900 ms samples of look-alike names do not count"
    )


@pytest.mark.task(taskno=2)
def test_summaries_include_a_sample_recorded_since_the_last_call(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 100.0)
    assert monitor.calculate_sla_compliance() == pytest.approx(100.0), "one sample within 200 ms: 100 percent"
    assert monitor.latency_percentile(100) == pytest.approx(100.0), "one sample of 100 ms: p100 is 100 ms"
    monitor.record_metric("latency_ms", 900.0)  # same second, same arguments: only the data changed
    sla, p100 = monitor.calculate_sla_compliance(), monitor.latency_percentile(100)
    assert sla == pytest.approx(50.0), (
        f"after a second sample (900 ms) 1 of 2 samples is within 200 ms: 50 percent, got {sla}; every call reads "
        "the samples stored now, it does not reuse an earlier answer"
    )
    assert p100 == pytest.approx(900.0), f"after a 900 ms sample p100 is 900 ms, got {p100}"


@pytest.mark.task(taskno=2)
def test_a_zero_threshold_is_used_not_replaced_by_the_default(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for latency in (0.0, 5.0, 150.0, 250.0):
        monitor.record_metric("latency_ms", latency)
    got = monitor.calculate_sla_compliance(latency_threshold_ms=0.0)
    assert got == pytest.approx(25.0), (
        "with a threshold of 0 ms only the 0.0 sample complies: 25 percent (0 is a threshold, not "
        f"'use the default of 200'); got {got}"
    )


@pytest.mark.task(taskno=2)
def test_sla_threshold_keeps_fractions_of_a_millisecond(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for latency in (199.25, 199.5, 199.75, 200.0):
        monitor.record_metric("latency_ms", latency)
    got = monitor.calculate_sla_compliance(latency_threshold_ms=199.5)
    assert got == pytest.approx(50.0), (
        "with a threshold of 199.5 ms the samples 199.25 and 199.5 comply and 199.75 and 200.0 do not: 50 percent; "
        f"use the threshold as given, not rounded or cut to whole milliseconds; got {got}"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("threshold, expected", [(float("nan"), 0.0), (float("inf"), 100.0)], ids=["nan", "inf"])
def test_a_nan_threshold_is_met_by_no_sample_and_an_infinite_one_by_every_sample(db_path, clock, threshold, expected):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for latency in (0.0, 150.0, 900.0):
        monitor.record_metric("latency_ms", latency)
    got = monitor.calculate_sla_compliance(latency_threshold_ms=threshold)
    assert got is not None and got == pytest.approx(expected), (
        f"with the threshold {threshold} {'no sample is' if expected == 0 else 'every sample is'} within it: "
        f"{expected} percent expected, got {got}"
    )


@pytest.mark.task(taskno=2)
def test_a_numpy_number_of_hours_windows_the_summaries(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    now = clock.now
    record_at(monitor, clock, "latency_ms", [(now - 1801, 900.0), (now - 1800, 100.0), (now - 1, 300.0)])
    clock.now = now
    hours = np.float32(0.5)  # from a float32 config table
    compliance, p0 = monitor.calculate_sla_compliance(hours=hours), monitor.latency_percentile(0, hours=hours)
    assert (compliance, p0) == (pytest.approx(50.0), pytest.approx(100.0)), (
        f"hours=np.float32(0.5) is a 30-minute window holding 100 and 300 ms (the 900 ms sample is a second older): "
        f"50 percent comply and the 0th percentile is 100 ms, got {compliance} and {p0}"
    )


@pytest.mark.task(taskno=2)
@pytest.mark.parametrize("threshold, expected", [(np.float32(199.5), 100 * 2 / 6), (np.int64(200), 100 * 4 / 6)],
                         ids=["float32", "int64"])
def test_sla_threshold_may_be_a_numpy_number(db_path, clock, threshold, expected):
    # A threshold read from a NumPy array (a float32 SLO table, an int64 column). sqlite3 binds a NumPy number as raw
    # bytes (a BLOB, which sorts above every number), so an SQL `value <= ?` given it unconverted counts every sample.
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for latency in (199.25, 199.5, 199.75, 200.0, 200.5, 900.0):  # exact in float32 as well
        monitor.record_metric("latency_ms", latency)
    got = monitor.calculate_sla_compliance(latency_threshold_ms=threshold)
    assert got == pytest.approx(expected), (
        f"with the threshold {threshold!r} ({type(threshold).__name__}) {expected:.4g} percent of 199.25, 199.5, "
        f"199.75, 200.0, 200.5 and 900.0 ms comply, got {got}: a NumPy threshold is the number it holds (convert it "
        "with float() before it reaches SQLite)"
    )


@pytest.mark.task(taskno=2)
def test_sla_compares_samples_at_full_precision(db_path, clock):
    # 200.000001 and 200.0000001 are over 200 ms; narrowed to float32 (7 significant digits) they become 200.0.
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for latency in (199.999999, 200.0, 200.0000001, 200.000001):
        monitor.record_metric("latency_ms", latency)
    got = monitor.calculate_sla_compliance(latency_threshold_ms=200.0)
    assert got == pytest.approx(50.0), (
        "199.999999 and 200.0 ms are within 200 ms, 200.0000001 and 200.000001 ms are not: 50 percent; compare the "
        f"samples as they were stored (float64), not narrowed to float32 or rounded; got {got}"
    )


@pytest.mark.task(taskno=2)
def test_a_zero_hour_window_summarises_only_the_samples_stamped_now(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("latency_ms", 900.0)
    clock.advance(1)
    monitor.record_metric("latency_ms", 100.0)
    sla = monitor.calculate_sla_compliance(hours=0)
    assert sla == pytest.approx(100.0), (
        "hours=0 keeps only the sample stamped exactly clock() (100 ms, within 200 ms): 100 percent; "
        f"0 hours is a window, not 'use the default of 24'; got {sla}"
    )
    p50 = monitor.latency_percentile(50, hours=0)
    assert p50 == pytest.approx(100.0), (
        f"hours=0 keeps only the sample stamped now, so its p50 is 100 ms, got {p50}"
    )
    clock.advance(1)
    assert monitor.calculate_sla_compliance(hours=0) is None and monitor.latency_percentile(50, hours=0) is None, (
        "one second later no sample is stamped exactly now: no data, None"
    )


@pytest.mark.task(taskno=2)
@settings(max_examples=25)
@given(samples=st.lists(st.tuples(st.integers(0, 48 * 3600), st.integers(0, 1000).map(float)), min_size=1,
                        max_size=15),
       noise=st.lists(st.floats(0, 1000), max_size=3),
       threshold=st.integers(0, 1000).map(float), hours=windows)
def test_sla_compliance_equals_a_brute_force_count(make_clock, samples, noise, threshold, hours):
    with tempfile.TemporaryDirectory() as folder:
        monitor, clock = fresh_monitor(folder, make_clock)
        now = clock.now
        stamped = [(now - offset, value) for offset, value in samples]
        record_at(monitor, clock, "latency_ms", stamped)
        for value in noise:
            monitor.record_metric("error_rate", value)
        clock.now = now
        got = monitor.calculate_sla_compliance(latency_threshold_ms=threshold, hours=hours)
    window = [v for ts, v in stamped if now - ts <= hours * 3600]
    if not window:
        assert got is None, f"no latency samples within {hours} h: expected None, got {got}"
    else:
        expected = 100.0 * sum(v <= threshold for v in window) / len(window)
        assert got == pytest.approx(expected), (
            f"{window} with threshold {threshold} ms: {expected} percent comply, got {got}"
        )


@pytest.mark.task(taskno=2)
def test_percentile_interpolates_linearly_between_samples(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    for latency in (40.0, 10.0, 30.0, 20.0):
        monitor.record_metric("latency_ms", latency)
    cases = {0: 10.0, 0.5: 10.15, 1: 10.3, 50: 25.0, 90: 37.0, 95: 38.5, 100: 40.0}  # q is a percent, 1 is p1
    for q, expected in cases.items():
        got = monitor.latency_percentile(q)
        assert got == pytest.approx(expected), (
            f"p{q} of 10, 20, 30, 40 ms is {expected} with linear interpolation (numpy.percentile; q is a percent, "
            f"so q=1 is p1, not p100), got {got}"
        )


@pytest.mark.task(taskno=2)
def test_percentile_window_defaults_to_24_hours(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    now = clock.now
    record_at(monitor, clock, "latency_ms", [(now - 24 * HOUR - 1, 1000.0), (now - 24 * HOUR, 10.0), (now, 30.0)])
    assert monitor.latency_percentile(0) == pytest.approx(10.0), (
        "by default the window is 24 hours and a sample exactly 24 h old is in it: p0 should be 10 ms"
    )
    assert monitor.latency_percentile(100) == pytest.approx(30.0), (
        "a sample 24 h and 1 s old is outside the default window: p100 should be 30 ms, not 1000"
    )


@pytest.mark.task(taskno=2)
def test_percentile_is_none_without_latency_samples_in_the_window(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    assert monitor.latency_percentile(95) is None, "no samples: None"
    monitor.record_metric("availability", 1.0)
    assert monitor.latency_percentile(95) is None, "only latency_ms samples count"
    monitor.record_metric("latency_ms", 80.0)
    assert monitor.latency_percentile(95) == pytest.approx(80.0), "one sample is every percentile"
    clock.advance(HOUR + 1)
    assert monitor.latency_percentile(95, hours=1) is None, "a sample older than the window does not count"


@pytest.mark.task(taskno=2)
@settings(max_examples=25)
@given(samples=st.lists(st.tuples(st.integers(0, 48 * 3600), st.floats(0, 1e5)), min_size=1, max_size=15),
       q=st.floats(0, 100), hours=windows)
def test_percentile_equals_numpy_percentile_over_the_window(make_clock, samples, q, hours):
    with tempfile.TemporaryDirectory() as folder:
        monitor, clock = fresh_monitor(folder, make_clock)
        now = clock.now
        stamped = [(now - offset, value) for offset, value in samples]
        record_at(monitor, clock, "latency_ms", stamped)
        clock.now = now
        got = monitor.latency_percentile(q, hours=hours)
    window = [v for ts, v in stamped if now - ts <= hours * 3600]
    if not window:
        assert got is None, f"no latency samples within {hours} h: expected None, got {got}"
    else:
        expected = float(np.percentile(window, q))
        assert got is not None and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6), (
            f"p{q} of {sorted(window)} should be {expected} (numpy.percentile, linear), got {got}"
        )


# --- task 3: the latency probe ----------------------------------------------------


@pytest.mark.task(taskno=3)
def test_probe_of_a_healthy_server_returns_and_records_latency_in_milliseconds(db_path, clock, model_server):
    model_server.set("healthy", delay_s=0.25)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    started = time.monotonic()
    latency = monitor.check_model_latency(model_server.url)
    call_ms = (time.monotonic() - started) * 1000
    assert latency is not None and latency >= 250, (
        f"the server took at least 0.25 s, so the latency is at least 250 (milliseconds), got {latency}; "
        "time the request with a monotonic timer, not the injected clock, and convert seconds to ms"
    )
    assert latency <= call_ms + 1, (
        f"the probe reported {latency:.1f} ms but the whole call took {call_ms:.1f} ms: measure the time "
        "between sending the request and getting the answer, (end - start) * 1000"
    )
    for digits, unit in ((0, "whole milliseconds"), (1, "tenths of a millisecond")):
        assert latency != round(latency, digits), (
            f"the probe returned {latency!r} ms, rounded to {unit}: keep the timer's full precision (a request of "
            "200.4 ms rounded to 200, or of 200.04 ms rounded to 200.0, would count as within a 200 ms SLA)"
        )
    assert ("POST", "/predict") in model_server.requests, "the probe should POST to {endpoint}/predict"
    assert samples(monitor, "latency_ms") == [(clock.now, pytest.approx(latency))], (
        "a 200 records one latency_ms sample equal to the returned latency, stamped by the injected clock"
    )
    assert samples(monitor, "availability") == [(clock.now, 1.0)], (
        "a 200 records availability 1.0"
    )


@pytest.mark.task(taskno=3)
def test_probe_latency_is_not_fooled_by_a_wall_clock_step(db_path, clock, model_server, monkeypatch):
    model_server.set("healthy", delay_s=0.25)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    wall = time.time
    steps = iter(range(1_000_000))

    def wall_clock_stepping_back():
        # As if NTP set the system clock back an hour at every reading.
        return wall() - HOUR * next(steps)

    real_datetime = datetime.datetime

    class SteppingDatetime(real_datetime):
        @classmethod
        def now(cls, tz=None):
            return super().now(tz) - datetime.timedelta(hours=next(steps))

        @classmethod
        def utcnow(cls):
            return super().utcnow() - datetime.timedelta(hours=next(steps))

        @classmethod
        def today(cls):
            return cls.now()

    monkeypatch.setattr(time, "time", wall_clock_stepping_back)
    monkeypatch.setattr(time, "time_ns", lambda: int(wall_clock_stepping_back() * 1e9))
    # datetime.now() reads the wall clock too: step it, and any copy the module imported by name.
    monkeypatch.setattr(datetime, "datetime", SteppingDatetime)
    for attribute, value in vars(performance_monitor).items():
        if value is real_datetime:
            monkeypatch.setattr(performance_monitor, attribute, SteppingDatetime)
    started = time.monotonic()
    latency = monitor.check_model_latency(model_server.url)
    call_ms = (time.monotonic() - started) * 1000
    monkeypatch.undo()
    assert latency is not None and 250 <= latency <= call_ms + 1, (
        f"the server took 0.25 s and the call {call_ms:.0f} ms while the wall clock was stepped back, "
        f"yet the probe reported {latency} ms: time the request with a monotonic timer "
        "(time.perf_counter or time.monotonic), not time.time or datetime.now"
    )


@pytest.mark.task(taskno=3)
def test_probe_posts_one_row_of_four_zeros_by_default(db_path, clock, model_server):
    ModelPerformanceMonitor(db_path, clock=clock).check_model_latency(model_server.url)
    assert len(model_server.received) == 1, f"one request per probe, got {model_server.received}"
    request = model_server.received[0]
    path, content_type, body = request.path, request.content_type, request.body
    assert path == "/predict", f"the probe should POST to /predict, not {path}"
    assert "application/json" in content_type, f"the payload is sent as JSON, Content-Type was {content_type!r}"
    assert body == {"features": [[0.0, 0.0, 0.0, 0.0]]}, (
        "the default payload is one row of 4 zeros, a list holding one list: {'features': [[0.0, 0.0, 0.0, 0.0]]} "
        f"(a flat [0.0, 0.0, 0.0, 0.0] is not a batch of rows); got {body!r}"
    )


@pytest.mark.task(taskno=3)
def test_probe_posts_to_predict_under_the_endpoints_path(db_path, clock, model_server):
    # A model behind a gateway lives under a path; urljoin(endpoint, "predict") would drop it.
    ModelPerformanceMonitor(db_path, clock=clock).check_model_latency(f"{model_server.url}/models/iris")
    assert model_server.requests == [("POST", "/models/iris/predict")], (
        "the probe POSTs to {endpoint}/predict, keeping the endpoint's own path: for .../models/iris that is "
        f"/models/iris/predict; got {model_server.requests}"
    )


@pytest.mark.task(taskno=3)
def test_probe_posts_the_given_payload(db_path, clock, model_server):
    payload = {"features": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    latency = ModelPerformanceMonitor(db_path, clock=clock).check_model_latency(model_server.url, payload)
    assert latency is not None, "a 200 answer returns the latency"
    assert [r.body for r in model_server.received] == [payload], (
        f"the probe should send the given payload as the JSON body, got {model_server.received}"
    )


@pytest.mark.task(taskno=3)
def test_probe_posts_an_empty_payload_as_given(db_path, clock, model_server):
    ModelPerformanceMonitor(db_path, clock=clock).check_model_latency(model_server.url, {})
    assert [r.body for r in model_server.received] == [{}], (
        "only payload=None means the default; a given payload, even an empty one, is sent as it is; "
        f"got {[r.body for r in model_server.received]}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("status", [500, 503, 404, 201])
def test_probe_of_a_non_200_answer_records_only_unavailability(db_path, clock, model_server, status):
    model_server.set("failing", status=status)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    assert monitor.check_model_latency(model_server.url) is None, f"an HTTP {status} answer returns None"
    assert samples(monitor, "availability") == [(clock.now, 0.0)], (
        f"an HTTP {status} answer records availability 0.0"
    )
    assert monitor.get_recent_metrics("latency_ms") == [], (
        f"an HTTP {status} answer records no latency: a fast error must not improve the SLA"
    )


@pytest.mark.task(taskno=3)
def test_probe_does_not_retry_a_failed_answer_into_a_success(db_path, clock, model_server):
    # The model answers 503 once, then would answer 200: a probe that retries hides the outage.
    model_server.set("failing", status=503)
    model_server.follow(["failing", "healthy"])
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    assert monitor.check_model_latency(model_server.url) is None, (
        f"the model answered 503: the probe returns None, got a latency (requests made: {model_server.requests}); "
        "one POST per probe, a failed answer is not retried into a success"
    )
    assert samples(monitor, "availability") == [(clock.now, 0.0)], "the 503 records availability 0.0"
    assert monitor.get_recent_metrics("latency_ms") == [], "the 503 records no latency"


@pytest.mark.task(taskno=3)
def test_probe_does_not_follow_a_redirect_to_a_page_answering_200(db_path, clock, model_server):
    # A proxy in front of a dead model: POST /predict answers 302 to /login, and /login answers 200.
    model_server.set("redirect")
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    assert monitor.check_model_latency(model_server.url) is None, (
        "/predict answered 302 (a redirect to a login page): that is not a 200 from the model, so the probe "
        "returns None; do not follow redirects (requests: allow_redirects=False)"
    )
    assert samples(monitor, "availability") == [(clock.now, 0.0)], "a redirect records availability 0.0"
    assert monitor.get_recent_metrics("latency_ms") == [], "a redirect records no latency"
    assert model_server.requests == [("POST", "/predict")], (
        f"the probe should stop at the 302, not fetch the login page, got {model_server.requests}"
    )


@contextmanager
def server_answering(raw_answer: bytes, *later_answers: bytes, body_after_s: float = 0.0,
                     tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A loopback server that reads each request and writes `raw_answer` back as it is, then hangs up.

    With `later_answers`, the second request gets the first of them, and so on; the last one then stays.
    With `body_after_s`, the answer's head (status line and headers) goes out at once and its body that many
    seconds later, as from a model that streams its predictions. With `tls` (a server-side context), it speaks
    https with that context's certificate.
    """
    answers = [raw_answer, *later_answers]
    served = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.1)
        done = threading.Event()

        def serve() -> None:
            while not done.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:  # no request this tenth of a second (or the listener closed)
                    continue
                with conn:
                    conn.settimeout(5)
                    try:
                        if tls is not None:  # the handshake; the plain socket is handed over to the TLS one
                            conn = tls.wrap_socket(conn, server_side=True)
                        request = b""
                        while b"\r\n\r\n" not in request:  # the headers
                            chunk = conn.recv(65536)
                            if not chunk:
                                break
                            request += chunk
                        head, _, body = request.partition(b"\r\n\r\n")
                        length = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
                        while length and len(body) < int(length.group(1)):  # and the whole body, so that
                            chunk = conn.recv(65536)  # hanging up sends a clean end, not a reset
                            if not chunk:
                                break
                            body += chunk
                        answer = answers[min(len(served), len(answers) - 1)]
                        head_end = answer.find(b"\r\n\r\n") + 4 if body_after_s else 0
                        conn.sendall(answer[:head_end])
                        time.sleep(body_after_s)
                        conn.sendall(answer[head_end:])
                        served.append(request)
                    except OSError:
                        pass
                    finally:
                        conn.close()

        thread = threading.Thread(target=serve, name="broken-model-server", daemon=True)
        thread.start()
        try:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            done.set()
            thread.join(timeout=5)


BROKEN_ANSWERS = {
    "not-http": b"this is not an HTTP answer\r\n\r\n",
    "cut-short": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                  b'{"predictions": ['),
}

HEALTHY_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n"
                  b"Connection: close\r\n\r\n"
                  b'{"predictions": [0]}')


@pytest.mark.task(taskno=3)
def test_probe_latency_leaves_out_the_time_spent_storing_it(db_path, clock, model_server):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    monitor.record_metric("warm-up", 0.0)  # the table exists before another writer locks the file
    model_server.set("healthy")
    with closing(sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)) as other_writer:
        other_writer.execute("BEGIN IMMEDIATE")  # another monitor on the same file is writing
        release = threading.Timer(0.5, lambda: other_writer.execute("COMMIT"))
        release.start()
        try:
            started = time.monotonic()
            latency = monitor.check_model_latency(model_server.url)
            call_ms = (time.monotonic() - started) * 1000
        finally:
            release.join(timeout=10)
    assert latency is not None and latency < 250, (
        f"the model answered at once, but another writer held the database for 0.5 s, so the call took "
        f"{call_ms:.0f} ms; the probe reported {latency} ms: latency_ms is the request's time only (stop the timer "
        "when the answer has arrived, then store the samples)")


@pytest.mark.task(taskno=3)
def test_probe_latency_includes_the_body_of_the_answer(db_path, clock):
    # The model sends its status line and headers at once and its predictions 0.25 s later.
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    with server_answering(HEALTHY_ANSWER, body_after_s=0.25) as url:
        started = time.monotonic()
        latency = monitor.check_model_latency(url)
        call_ms = (time.monotonic() - started) * 1000
    assert latency is not None and 250 <= latency <= call_ms + 1, (
        f"the answer's body arrived 0.25 s after its headers and the call took {call_ms:.0f} ms, yet the probe "
        f"reported {latency} ms: the latency runs until the whole answer, body included, has arrived (stop the timer "
        "after reading the body, not when the headers come in)"
    )
    assert samples(monitor, "latency_ms") == [(clock.now, pytest.approx(latency))], (
        "the recorded latency_ms is the returned latency"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("answer", sorted(BROKEN_ANSWERS))
def test_probe_of_a_broken_answer_records_unavailability(db_path, clock, answer):
    # A crashing worker: the answer is not HTTP at all, or its body stops half-way (100 bytes announced, 17 sent).
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    with server_answering(BROKEN_ANSWERS[answer]) as url:
        try:
            latency = monitor.check_model_latency(url)
        except NotImplementedError:
            raise
        except Exception as error:  # noqa: BLE001 - the point is that nothing escapes
            pytest.fail(f"the probe raised {error!r} for a server whose answer is {answer}: it never raises for a "
                        "broken server (requests: catch requests.RequestException; urllib/http.client: also "
                        "http.client.HTTPException, which is not an OSError)")
    assert latency is None, f"an answer that is {answer} is not a successful prediction: None, got {latency}"
    assert samples(monitor, "availability") == [(clock.now, 0.0)], f"an answer that is {answer} records availability 0.0"
    assert monitor.get_recent_metrics("latency_ms") == [], f"an answer that is {answer} records no latency"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("answer", sorted(BROKEN_ANSWERS))
def test_probe_does_not_retry_a_broken_answer_into_a_success(db_path, clock, answer):
    # The worker crashes on the first request, then a healthy one answers: a probe that retries hides the crash.
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    with server_answering(BROKEN_ANSWERS[answer], HEALTHY_ANSWER) as url:
        latency = monitor.check_model_latency(url)
    assert latency is None, (
        f"the first (and only) answer was {answer}: the probe returns None, got a latency of {latency}; one POST "
        "per probe, a broken answer is recorded as it is and not retried into a success"
    )
    assert samples(monitor, "availability") == [(clock.now, 0.0)], f"an answer that is {answer} records availability 0.0"
    assert monitor.get_recent_metrics("latency_ms") == [], f"an answer that is {answer} records no latency"


@pytest.fixture
def self_signed_tls(tmp_path) -> ssl.SSLContext:
    """A server-side TLS context whose certificate (for 127.0.0.1) is signed by itself, not by a known authority."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed, so no self-signed certificate can be made for this test")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(20)
def test_probe_of_an_https_endpoint_whose_certificate_does_not_verify_records_unavailability(
        db_path, clock, self_signed_tls):
    # Anyone in the path (a captive portal, a man in the middle, the wrong host) can answer 200 over TLS with a
    # certificate of their own making: the probe checks the certificate, as requests and urllib do by default.
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    with server_answering(HEALTHY_ANSWER, tls=self_signed_tls) as url:
        unchecked = ssl.create_default_context()
        unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE
        port = int(url.rsplit(":", 1)[1])
        with closing(http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=unchecked)) as check:
            check.request("POST", "/predict", body=b"{}", headers={"Content-Type": "application/json"})
            assert check.getresponse().status == 200, "the test's https server should answer 200 (a broken test)"
        latency = monitor.check_model_latency(url)
    assert latency is None, (
        f"the endpoint {url} answered 200 with a self-signed certificate, and the probe returned a latency of "
        f"{latency} ms: a certificate that does not verify is a failed probe (keep certificate checks on, no "
        "verify=False)"
    )
    assert samples(monitor, "availability") == [(clock.now, 0.0)], (
        "a certificate that does not verify records availability 0.0"
    )
    assert monitor.get_recent_metrics("latency_ms") == [], "a certificate that does not verify records no latency"


@pytest.mark.task(taskno=3)
def test_probe_of_a_refused_connection_records_unavailability(db_path, clock):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    url = f"http://127.0.0.1:{free_port()}"
    assert monitor.check_model_latency(url) is None, "a refused connection returns None (and does not raise)"
    assert [row["value"] for row in monitor.get_recent_metrics("availability")] == [0.0], (
        "a refused connection records availability 0.0"
    )
    assert monitor.get_recent_metrics("latency_ms") == [], "a refused connection records no latency"


@pytest.mark.task(taskno=3)
def test_probe_of_a_refused_connection_makes_one_attempt(db_path, clock, refused_port):
    # A model server being restarted refuses connections for a moment: a probe that connects again (a retry loop,
    # an HTTPAdapter with max_retries) turns the outage into a slow success, or hides it altogether.
    port, attempts = refused_port.port, refused_port.attempts
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    assert monitor.check_model_latency(f"http://127.0.0.1:{port}") is None, "a refused connection returns None"
    assert len(attempts) == 1, (
        f"nothing listens on port {port}, and the probe tried to connect {len(attempts)} times: one probe is one "
        "connection attempt, a refused connection is recorded as availability 0.0 at once, not retried (no "
        "max_retries on the HTTP client)"
    )
    assert [row["value"] for row in monitor.get_recent_metrics("availability")] == [0.0], (
        "a refused connection records availability 0.0"
    )


@pytest.mark.task(taskno=3)
def test_probe_of_a_host_name_that_does_not_resolve_records_unavailability(db_path, clock, unresolvable):
    host = unresolvable("model.invalid")
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    try:
        latency = monitor.check_model_latency(f"http://{host}:8000")
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - the point is that nothing escapes
        pytest.fail(f"the probe raised {error!r} for a model host name that does not resolve: it never raises for a "
                    "broken server (socket.gaierror is an OSError, but neither a ConnectionError nor a timeout)")
    assert latency is None, f"a host name that does not resolve counts as down: None, got {latency}"
    assert samples(monitor, "availability") == [(clock.now, 0.0)], (
        "a host name that does not resolve records availability 0.0"
    )
    assert monitor.get_recent_metrics("latency_ms") == [], "a host name that does not resolve records no latency"


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(45)
def test_probe_gives_up_on_a_server_that_never_answers(db_path, clock, model_server):
    model_server.set("slow", delay_s=120)
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    started = time.monotonic()
    assert monitor.check_model_latency(model_server.url) is None, (
        "a server that does not answer within the probe's timeout counts as down: None"
    )
    waited = time.monotonic() - started
    assert waited < 35, (  # 30 s allowed, plus room for a loaded machine
        f"the probe waited {waited:.0f} s for a server that never answers; give up after at most 30 s "
        "(a few seconds is plenty when the SLA is 200 ms)"
    )
    assert [row["value"] for row in monitor.get_recent_metrics("availability")] == [0.0], (
        "a timed-out probe records availability 0.0"
    )
    assert monitor.get_recent_metrics("latency_ms") == [], "a timed-out probe records no latency"
    assert model_server.requests == [("POST", "/predict")], (
        "one POST per probe, a timeout included: the probe gave up and must not try again (a second try that "
        f"answers in time turns a hung model into a slow success); the server received {model_server.requests}"
    )


@pytest.mark.task(taskno=3)
@pytest.mark.timeout(45)
def test_probe_gives_up_on_a_server_that_never_accepts_the_connection(db_path, clock, port_that_never_accepts):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    started = time.monotonic()
    latency = monitor.check_model_latency(f"http://127.0.0.1:{port_that_never_accepts}")
    waited = time.monotonic() - started
    assert latency is None, f"a connection that never gets through counts as down: None, got {latency}"
    assert waited < 35, (  # 30 s allowed, plus room for a loaded machine
        f"the probe waited {waited:.0f} s to connect to a host that drops connection attempts; the timeout covers "
        "connecting too (give the timeout to the client before it connects, not to the socket afterwards)"
    )
    assert [row["value"] for row in monitor.get_recent_metrics("availability")] == [0.0], (
        "a probe that could not connect records availability 0.0"
    )
    assert monitor.get_recent_metrics("latency_ms") == [], "a probe that could not connect records no latency"


@pytest.mark.task(taskno=3)
def test_probe_results_feed_the_sla(db_path, clock, model_server):
    monitor = ModelPerformanceMonitor(db_path, clock=clock)
    model_server.set("healthy", delay_s=0.0)
    monitor.check_model_latency(model_server.url)
    model_server.set("failing", status=503)
    monitor.check_model_latency(model_server.url)
    availability = sorted(row["value"] for row in monitor.get_recent_metrics("availability"))
    assert availability == [0.0, 1.0], f"one good and one failed probe, got availability {availability}"
    assert monitor.calculate_sla_compliance(latency_threshold_ms=30_000) == pytest.approx(100.0), (
        "only the successful probe's latency counts towards the SLA"
    )
