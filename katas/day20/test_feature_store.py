"""Task 2: the online feature store on a real Redis. Read these tests as the specification.

Tests marked `redis` get a fresh `redis-server` each (the `redis_server` fixture; its
`url` is what you connect to); the others never need a server that answers. Stores on the
real server get `timeout_s=5`: the default is meant for a production Redis next door, and a
busy test machine can keep this one waiting longer.
"""

from __future__ import annotations

import itertools
import math
import random
import socket
import threading
import time
from types import MappingProxyType

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feature_store import OnlineFeatureStore, StoreUnavailable

pytestmark = pytest.mark.task(taskno=2)

FEATURES = {"count": 3, "total_amount": 42.5, "max_amount": 30.0, "distinct_merchants": 2}


@pytest.fixture
def raw(redis_server):
    """A plain client on the same server, to look at what the store really wrote."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def store(redis_server):
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as store:
        yield store


def elapsed_ms(began: float) -> float:
    """Milliseconds since `began` (time.monotonic), plus one for Redis' rounding to whole milliseconds."""
    return (time.monotonic() - began) * 1000 + 1


def ttls_ms(client) -> dict[str, int]:
    """Every key in the database with its remaining time to live (-1: none)."""
    return {key: client.pttl(key) for key in client.scan_iter()}


# --- construction and bad input (no Redis needed) ---------------------------------------------

@pytest.mark.parametrize("option", ["ttl_s", "timeout_s"])
@pytest.mark.parametrize("value", [0, 0.0, -1, math.nan, math.inf, True, "30"])
def test_a_ttl_or_timeout_that_is_not_a_positive_finite_number_is_rejected(option, value, closed_redis_url):
    with pytest.raises(ValueError):
        OnlineFeatureStore(closed_redis_url, **{option: value})


def test_creating_a_store_does_not_contact_redis(closed_redis_url):
    store = OnlineFeatureStore(closed_redis_url, ttl_s=0.001, timeout_s=0.001)
    store.close()


def test_creating_a_store_opens_no_connection():
    listener = socket.create_server(("127.0.0.1", 0))  # a server that would see any connection made
    listener.settimeout(0.3)
    conn = None
    try:
        store = OnlineFeatureStore(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", timeout_s=0.5)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            conn = None
        store.close()
        assert conn is None, (
            "creating the store opened a connection to Redis: the client must connect lazily, on the first "
            "read or write (no ping or warm-up in __init__), so that a store can be built while Redis is down "
            "or slow without waiting for it")
    finally:
        if conn is not None:
            conn.close()
        listener.close()


def test_the_default_options_are_valid(closed_redis_url):
    store = OnlineFeatureStore(closed_redis_url)  # ttl_s=3600.0, timeout_s=0.1: positive finite numbers
    store.close()


@pytest.mark.parametrize("card_id, features, event_ts", [
    (None, FEATURES, 1.0),
    (123, FEATURES, 1.0),
    (b"c1", FEATURES, 1.0),
    ("c1", {}, 1.0),
    ("c1", {"count": math.nan}, 1.0),
    ("c1", {"count": math.inf}, 1.0),
    ("c1", {"count": -math.inf}, 1.0),
    ("c1", {"count": "3"}, 1.0),
    ("c1", {"count": None}, 1.0),
    ("c1", {1: 3.0}, 1.0),
    ("c1", FEATURES, math.nan),
    ("c1", FEATURES, math.inf),
    ("c1", FEATURES, -math.inf),
    ("c1", FEATURES, "100.0"),
    ("c1", FEATURES, None),
    ("c1", [("count", 3)], 1.0),
])
def test_bad_writes_raise_value_error_before_contacting_redis(card_id, features, event_ts, closed_redis_url):
    with OnlineFeatureStore(closed_redis_url) as store, pytest.raises(ValueError):
        store.write(card_id, features, event_ts=event_ts)


@pytest.mark.parametrize("card_id", [None, 123, b"c1"])
def test_reading_a_card_id_that_is_not_a_str_raises_value_error(card_id, closed_redis_url):
    with OnlineFeatureStore(closed_redis_url) as store, pytest.raises(ValueError):
        store.read(card_id)


def test_a_refused_connection_raises_store_unavailable(closed_redis_url):
    with OnlineFeatureStore(closed_redis_url) as store:
        with pytest.raises(StoreUnavailable):
            store.read("c1")
        with pytest.raises(StoreUnavailable):
            store.write("c1", FEATURES, event_ts=1.0)


@pytest.mark.redis
def test_a_redis_that_refuses_the_command_raises_store_unavailable(store, raw, closed_redis_url):
    store.write("c1", FEATURES, event_ts=100.0)
    port = int(closed_redis_url.rsplit(":", 1)[1].split("/")[0])
    raw.replicaof("127.0.0.1", port)  # a read-only replica of a primary that is not there: writes get READONLY
    try:
        try:
            store.write("c1", FEATURES, event_ts=101.0)
        except StoreUnavailable:
            pass
        except Exception as error:
            pytest.fail(f"a Redis that answers but refuses the write (READONLY, as an old primary after a "
                        f"failover does) makes write raise StoreUnavailable, like any redis error; got {error!r}")
        else:
            pytest.fail("Redis refused the write (READONLY), yet write returned: it should raise StoreUnavailable")
    finally:
        raw.replicaof("NO", "ONE")


def _time_until_unavailable(store: OnlineFeatureStore, limit_s: float, call: str = "read") -> float:
    outcome: list = []

    def run() -> None:
        started = time.monotonic()
        try:
            if call == "read":
                store.read("c1")
            else:
                store.write("c1", FEATURES, event_ts=100.0)
            outcome.append(("answered", time.monotonic() - started))
        except StoreUnavailable:
            outcome.append(("unavailable", time.monotonic() - started))
        except Exception as error:  # reported below, with its type
            outcome.append((repr(error), time.monotonic() - started))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert outcome, f"{call}() against a Redis that never answers was still waiting after {limit_s} s: no timeout?"
    assert outcome[0][0] == "unavailable", (
        f"{call}() against a Redis that never answers should raise StoreUnavailable, got {outcome[0][0]}")
    return outcome[0][1]


@pytest.mark.parametrize("call", ["read", "write"])
def test_a_redis_that_never_answers_raises_store_unavailable_after_timeout_s(hung_redis_url, call):
    with OnlineFeatureStore(hung_redis_url, timeout_s=0.01) as store:
        waited = _time_until_unavailable(store, limit_s=4, call=call)
    assert waited < 0.9, (  # far above 0.01 s, for a busy machine; far below a fixed 1 s
        f"with timeout_s=0.01 a Redis that never answers is given up on after about 0.01 s; {call}() waited "
        f"{waited:.2f} s: use timeout_s for the socket timeout, no fixed or longer one")


@pytest.mark.parametrize("call", ["read", "write"])
def test_a_call_to_a_redis_that_never_answers_is_tried_once(hung_redis, call):
    with OnlineFeatureStore(hung_redis.url, timeout_s=0.05) as store:
        _time_until_unavailable(store, limit_s=4, call=call)
        deadline = time.monotonic() + 5
        while hung_redis.connections() < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the server takes any connection still queued within 0.1 s
        made = hung_redis.connections()
    assert made == 1, (
        f"one {call}() against a Redis that never answers made {made} connections to it: a call tries Redis once "
        "and then raises StoreUnavailable. redis-py retries failed commands and connections by default (pass "
        "retry=Retry(NoBackoff(), 0)); every retry costs the caller another timeout_s for an answer the scoring "
        "path can no longer use")


@pytest.mark.parametrize("call", ["read", "write"])
def test_a_call_to_a_redis_that_drops_the_connection_is_tried_once(dropping_redis, call):
    with OnlineFeatureStore(dropping_redis.url, timeout_s=0.5) as store:
        with pytest.raises(StoreUnavailable):
            if call == "read":
                store.read("c1")
            else:
                store.write("c1", FEATURES, event_ts=100.0)
        time.sleep(0.3)  # the server takes any connection still queued
        made = dropping_redis.connections()
    assert made == 1, (
        f"one {call}() against a Redis that accepts the connection and closes it at once made {made} connections "
        "to it: a call tries Redis once, whatever the failure (a refused or dropped connection too, not only a "
        "timeout), and then raises StoreUnavailable. Catch no redis.ConnectionError to send the command again: "
        "a Redis that has gone away costs the caller one try, and the scorer counts its fallback")


def test_a_connection_that_never_completes_raises_store_unavailable_after_timeout_s(unconnectable_redis_url):
    with OnlineFeatureStore(unconnectable_redis_url, timeout_s=0.05) as store:
        waited = _time_until_unavailable(store, limit_s=4)  # redis-py's own connect timeout is 5 s
    assert waited < 0.9, (  # far above 0.05 s, for a busy machine; far below a fixed 1 s
        f"with timeout_s=0.05 a connection that does not complete is given up on after about 0.05 s; read() "
        f"waited {waited:.2f} s: use timeout_s for the connect timeout too, no fixed or longer one")


@pytest.mark.parametrize("timeout_s", [0.8, 2.5])  # 2.5 s: above a fixed connect timeout of 1 s or 2 s
def test_a_connection_gets_the_whole_timeout_s_to_complete(unconnectable_redis_url, timeout_s):
    with OnlineFeatureStore(unconnectable_redis_url, timeout_s=timeout_s) as store:
        waited = _time_until_unavailable(store, limit_s=10 * timeout_s)
    assert waited >= 0.9 * timeout_s, (  # a lower bound only: a busy machine makes it later, never sooner
        f"with timeout_s={timeout_s} a connection that does not complete is waited for {timeout_s} s before "
        f"StoreUnavailable; read() gave up after {waited:.2f} s: use timeout_s as the connect timeout too "
        "(socket_connect_timeout=timeout_s), no fixed one of your own, shorter or longer")


def test_the_default_timeout_is_short(hung_redis_url):
    with OnlineFeatureStore(hung_redis_url) as store:
        waited = _time_until_unavailable(store, limit_s=10)
    assert waited < 0.9, (  # far above 0.1 s, for a busy machine; far below a default of 1 s or more
        f"the default timeout_s is 0.1 s: a Redis that never answers is given up on after about 0.1 s; read() "
        f"waited {waited:.2f} s. Keep the signature's default (timeout_s=0.1) and use it for both timeouts")


# --- reading and writing (a real Redis) ---------------------------------------------------------

@pytest.mark.redis
def test_read_returns_what_was_written_as_floats(store):
    assert store.write("c1", FEATURES, event_ts=100.0) is True, "a first write is accepted: True"
    got = store.read("c1")
    assert got == {"count": 3.0, "total_amount": 42.5, "max_amount": 30.0, "distinct_merchants": 2.0}, (
        f"read should give back the written features as floats; got {got}")
    assert all(type(v) is float for v in got.values()), f"every value read is a float; got {got}"


PLAIN_VALUES = {"count": 123_457, "total_amount": 12_345.67, "max_amount": 0.1 + 0.2, "mean_amount": 1 / 3,
                "first_ts": 1_700_000_000.123456}
# What a NumPy or pandas window gives: numpy.int64 counts, numpy.float32 amounts (neither is an int or a float).
NUMPY_VALUES = {"count": np.int64(123_457), "total_amount": np.float32(12_345.67), "max_amount": np.float64(0.1 + 0.2),
                "mean_amount": np.float32(1 / 3), "distinct_merchants": np.int32(2)}


@pytest.mark.redis
@pytest.mark.parametrize("written", [PLAIN_VALUES, NUMPY_VALUES], ids=["python-numbers", "numpy-numbers"])
def test_feature_values_are_read_back_exactly(store, written):
    try:
        accepted = store.write("c1", written, event_ts=100.0)
    except Exception as error:
        pytest.fail(f"values {written!r} are finite numbers (NumPy ones are numbers like any other); "
                    f"write raised {error!r}")
    assert accepted is True, f"a first write is accepted: True; got {accepted!r}"
    got = store.read("c1")
    assert got == {name: float(value) for name, value in written.items()}, (
        f"every value reads back as the float written, to the last bit: wrote {written}, read {got}. Send "
        "repr(float(value)) or JSON of float(value), never a short format such as '%g' (six significant digits: "
        "12345.67 becomes 12345.7) or a fixed number of decimals")


@pytest.mark.redis
def test_features_may_be_any_mapping(store):
    assert store.write("c1", MappingProxyType({"count": 4, "max_amount": 9.5}), event_ts=100.0) is True, (
        "features is a mapping, not necessarily a dict: a read-only mapping (types.MappingProxyType) is accepted")
    assert store.read("c1") == {"count": 4.0, "max_amount": 9.5}, "the mapping's features are stored as given"


@pytest.mark.redis
def test_feature_names_that_look_like_the_stores_own_fields_are_features_like_any_other(store):
    written = {"ts": 5.0, "event_ts": 6.0, "features": 7.0, "f:count": 8.0, "ttl": 9.0, "count": 1}
    assert store.write("c1", written, event_ts=100.0) is True, "a first write is accepted"
    assert store.read("c1") == {name: float(value) for name, value in written.items()}, (
        f"any str is a feature name, even one the store might use for itself (its event time, its payload): "
        f"wrote {written}, read {store.read('c1')}. Keep the features apart from the store's own fields (a "
        "JSON payload, a name prefix, or another key)")
    assert store.write("c1", {"count": 2}, event_ts=50.0) is False, (
        "a feature named 'ts' or 'event_ts' (here 5.0 and 6.0) is a feature, never the stored event time (100.0): "
        "a write at event_ts 50.0 is older and ignored")


# Names a store might give its own fields (its event time, its payload, its metadata), in the styles people pick.
OWN_FIELD_NAMES = ["ts", "event_ts", "__event_ts__", "_ts", "__ts__", "_event_ts", "event_time", "updated_at",
                   ":ts", "@ts", "$ts", "ts:", "", "features", "payload", "data", "meta", "__meta__", "version",
                   "f:count", "feature:count", "ttl", "count"]
_cards = itertools.count()


@pytest.mark.redis
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.one_of(st.sampled_from(OWN_FIELD_NAMES), st.text(max_size=12)),
                      min_size=1, max_size=8, unique=True))
@example(names=OWN_FIELD_NAMES)
def test_any_str_is_a_feature_name_even_one_the_store_uses_for_itself(store, names):
    card = f"names-{next(_cards)}"  # a card of its own for each example: the store is shared between them
    written = {name: float(n) for n, name in enumerate(names)}
    assert _on_a_live_redis(store.write, card, written, event_ts=100.0) is True, (
        f"card {card!r} has nothing stored yet: its first write is accepted")
    got = _on_a_live_redis(store.read, card)
    assert got == written, (
        f"any str is a feature name, whatever the store calls its own fields: wrote {written}, read {got}. Keep "
        "the features apart from the store's own fields (a JSON payload, a name prefix on every feature, or "
        "another key), never next to them under bare names")
    assert _on_a_live_redis(store.write, card, {"count": -1.0}, event_ts=50.0) is False, (
        f"the stored event time is 100.0 whatever the features are called ({names!r}): a write as of 50.0 is "
        "older and ignored")
    assert _on_a_live_redis(store.read, card) == written, "an ignored write leaves the stored set as it was"


@pytest.mark.redis
def test_the_names_the_store_gives_its_own_fields_are_feature_names_too(store, raw):
    store.write("probe", {"count": 1}, event_ts=100.0)
    own = {field for key in raw.scan_iter() if raw.type(key) == "hash" for field in raw.hkeys(key)}
    written = {name: float(n) for n, name in enumerate(sorted(own | {"count"}))}
    assert _on_a_live_redis(store.write, "c2", written, event_ts=100.0) is True, "a first write is accepted"
    got = _on_a_live_redis(store.read, "c2")
    assert got == written, (
        f"the store's hashes hold the fields {sorted(own)}; a feature may have any of those names too: wrote "
        f"{written}, read {got}. Keep the features apart from the store's own fields")
    assert _on_a_live_redis(store.write, "c2", {"count": -1.0}, event_ts=50.0) is False, (
        "a feature named like the store's own fields is a feature, never the stored event time (100.0): a write "
        "as of 50.0 is older and ignored")


@pytest.mark.redis
def test_an_unknown_card_reads_as_none(store):
    store.write("c1", FEATURES, event_ts=100.0)
    assert store.read("c2") is None, "a card never written has no features: None"


@pytest.mark.redis
def test_another_process_reads_what_this_one_wrote(store, redis_server):
    store.write("c1", FEATURES, event_ts=100.0)
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as other:
        assert other.read("c1") == pytest.approx(FEATURES), (
            "the features live in Redis, not in this object: a second store on the same server reads them")
        assert store.read("c1") == pytest.approx(FEATURES), "the writer reads its own features back"
        assert other.write("c1", {"count": 9}, event_ts=101.0) is True, "a newer write by the second store lands"
        assert store.read("c1") == {"count": 9.0}, (
            "after another store wrote a newer set, read() gives that set: every read asks Redis, never a copy "
            f"this store kept from an earlier read or write; got {store.read('c1')}")


@pytest.mark.redis
def test_the_database_number_in_the_url_is_used(redis_server, raw):
    url = redis_server.url.rsplit("/", 1)[0] + "/3"
    with OnlineFeatureStore(url, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
    db3 = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    try:
        in_db3 = list(db3.scan_iter())
    finally:
        db3.close()
    assert in_db3 and not list(raw.scan_iter()), (
        f"a store on {url} writes to database 3 (the URL's /3), not database 0; keys in db 3: {in_db3}, "
        f"in db 0: {list(raw.scan_iter())} (redis.Redis.from_url reads the whole URL)")


@pytest.mark.redis
def test_writes_keep_working_after_redis_forgets_its_scripts(store, raw):
    assert store.write("c1", {"count": 1}, event_ts=100.0) is True, "a first write is accepted"
    raw.script_flush()  # what a restarted Redis looks like: no script it loaded before is known
    try:
        accepted = store.write("c1", {"count": 2}, event_ts=101.0)
    except StoreUnavailable as error:
        pytest.fail(f"Redis is up, yet the write raised {error!r}: a script loaded once and then called by its "
                    "SHA (EVALSHA) fails with NOSCRIPT after a restart; register_script() reloads it")
    assert accepted is True and store.read("c1") == {"count": 2.0}, (
        "after Redis forgot its scripts a newer write is still accepted and stored")


@pytest.mark.redis
@pytest.mark.parametrize("stored_ts, older_ts", [(200.0, 199.5), (0.0, -0.5), (0, -1)],
                         ids=["epoch-like", "stored-zero-float", "stored-zero-int"])
def test_an_older_write_is_ignored(store, stored_ts, older_ts):
    store.write("c1", {"count": 5}, event_ts=stored_ts)
    assert store.write("c1", {"count": 1}, event_ts=older_ts) is False, (
        f"a write as of {older_ts!r}, older than the stored {stored_ts!r}, returns False: a stored time of 0 is a "
        "time like any other (a replay whose clock starts at 0), so test `is None` for 'nothing stored', never the "
        "truthiness of the stored time")
    assert store.read("c1") == {"count": 5.0}, (
        f"features as of t={older_ts!r} arriving after those of t={stored_ts!r} must not overwrite them "
        f"(out-of-order stream); got {store.read('c1')}")


@pytest.mark.redis
def test_event_times_are_compared_to_the_fraction_of_a_second(store):
    store.write("c1", {"count": 2}, event_ts=100.75)
    assert store.write("c1", {"count": 1}, event_ts=100.25) is False, (
        "event_ts 100.25 is older than the stored 100.75: the write is ignored (keep the fraction of a second)")
    assert store.read("c1") == {"count": 2.0}, "the newer set (event_ts 100.75) must still be stored"


@pytest.mark.redis
def test_real_epoch_times_are_compared_exactly(store):
    store.write("c1", {"count": 2}, event_ts=1_700_000_500.75)
    assert store.write("c1", {"count": 1}, event_ts=1_700_000_000.25) is False, (
        "event_ts 1700000000.25 is older than the stored 1700000500.75: ignored. Send the time to Redis "
        "exactly (repr(float(ts))), not in a short format such as '%g' (1.7e+09 for both)")
    assert store.write("c1", {"count": 3}, event_ts=1_700_000_500.5) is False, (
        "1700000500.5 is older than the stored 1700000500.75 by a quarter of a second: ignored")
    assert store.read("c1") == {"count": 2.0}, "the newest set (event_ts 1700000500.75) must still be stored"


@pytest.mark.redis
def test_event_times_are_compared_below_the_millisecond(store):
    t0, tick = 1_700_000_000, 2 ** -12  # a tick is about 0.24 ms; t0 + tick and t0 + 2 * tick are exact
    store.write("c1", {"count": 2}, event_ts=t0 + 2 * tick)
    assert store.write("c1", {"count": 1}, event_ts=t0 + tick) is False, (
        f"event_ts t0 + {tick} is older than the stored t0 + {2 * tick} (by 0.24 ms): ignored. Send the time to "
        "Redis exactly (repr(float(ts))), never rounded to milliseconds")
    assert store.read("c1") == {"count": 2.0}, "the newer set (t0 + 2 ticks) must still be stored"


@pytest.mark.redis
def test_event_times_one_float_step_apart_are_told_apart(store):
    t0 = 1_700_000_000.0
    step = math.ulp(t0)  # 2 ** -22 s, about 0.24 microseconds: the next float after t0 is t0 + step
    store.write("c1", {"count": 2}, event_ts=t0 + 2 * step)
    assert store.write("c1", {"count": 1}, event_ts=t0 + step) is False, (
        f"event_ts t0 + {step} is older than the stored t0 + {2 * step}: ignored. Times are compared exactly, "
        "to the last bit of the float: send repr(float(ts)), never a fixed number of decimals such as "
        "f'{ts:.6f}' (microseconds), which makes these two times equal")
    assert store.read("c1") == {"count": 2.0}, "the newer set (t0 + 2 steps) must still be stored"


@pytest.mark.redis
def test_event_ts_may_be_an_int(store):
    assert store.write("c1", {"count": 5}, event_ts=200) is True, "event_ts is a number: an int is accepted"
    assert store.write("c1", {"count": 1}, event_ts=199) is False, "an int event_ts older than the stored one is ignored"
    assert store.write("c1", {"count": 6}, event_ts=1_700_000_000) is True, "a newer int event_ts is accepted"
    assert store.read("c1") == {"count": 6.0}, f"the newest set is stored; got {store.read('c1')}"


@pytest.mark.redis
def test_a_numpy_float64_event_ts_and_values_are_floats_like_any_other(store):
    # A time or a feature taken from a pandas column is a numpy.float64: a float subclass, whose repr under
    # NumPy 2 is 'np.float64(1700000000.25)', a string Redis cannot read as a number.
    written = {"count": np.float64(3.0), "total_amount": np.float64(42.25)}
    assert store.write("c1", written, event_ts=np.float64(1_700_000_000.25)) is True, (
        "a numpy.float64 event_ts is a float: a first write is accepted (send repr(float(ts)), never repr(ts))")
    assert store.read("c1") == {"count": 3.0, "total_amount": 42.25}, (
        f"numpy.float64 values read back as the floats written; got {store.read('c1')}")
    assert store.write("c1", {"count": 1}, event_ts=np.float64(1_700_000_000.0)) is False, (
        "a numpy.float64 event_ts older than the stored one (1_700_000_000.25) is ignored")
    assert store.write("c1", {"count": 4}, event_ts=np.float64(1_700_000_000.5)) is True, (
        "a numpy.float64 event_ts newer than the stored one is accepted")
    assert store.read("c1") == {"count": 4.0}, f"the newest set is stored; got {store.read('c1')}"


@pytest.mark.redis
def test_a_write_at_the_same_time_replaces(store):
    store.write("c1", {"count": 5}, event_ts=200.0)
    assert store.write("c1", {"count": 6}, event_ts=200.0) is True, "a write as new as the stored one is accepted"
    assert store.read("c1") == {"count": 6.0}, "the later of two writes with the same event time wins"


@pytest.mark.redis
def test_a_newer_write_replaces_the_whole_set(store):
    store.write("c1", {"count": 5, "old_feature": 1.0}, event_ts=200.0)
    assert store.write("c1", {"count": 7}, event_ts=300.0) is True, "a newer write is accepted"
    assert store.read("c1") == {"count": 7.0}, "a write replaces the card's whole feature set, it does not merge"


@pytest.mark.redis
def test_cards_are_independent(store):
    store.write("c1", {"count": 1}, event_ts=500.0)
    assert store.write("c2", {"count": 2}, event_ts=100.0) is True, "another card's newer time does not matter"
    assert (store.read("c1"), store.read("c2")) == ({"count": 1.0}, {"count": 2.0}), "each card has its own features"
    lookalikes = {" c1": 3, "c1 ": 4, "C1": 5}
    for card, count in lookalikes.items():
        assert store.write(card, {"count": count}, event_ts=100.0) is True, (
            f"card {card!r} is another card than 'c1': its first write (older than c1's) is accepted")
    got = {card: store.read(card) for card in ["c1", *lookalikes]}
    assert got == {"c1": {"count": 1.0}, **{card: {"count": float(n)} for card, n in lookalikes.items()}}, (
        "card ids are used exactly as given, never stripped or case-folded: 'c1', ' c1', 'c1 ' and 'C1' are four "
        f"cards with four feature sets; got {got}")


# Real card ids and tokens hold colons, quotes and more; one that ends like a key the store might derive from
# another card's ("c1:ts", "c1:features") is still a card of its own.
ODD_CARD_IDS = ["c1:ts", "c1", "c1:event_ts", "c1:features", "c1:meta", "c1:f", "card:c1", "o'brien",
                'say "hi"', "back\\slash", "new\nline", "]]--", "*?[x]", "ünï-карта", ""]


def _on_a_live_redis(call, card: str, *args, **kwargs):
    """`call(card, ...)` on a Redis that is up: a StoreUnavailable there is a failure of the test."""
    try:
        return call(card, *args, **kwargs)
    except StoreUnavailable as error:
        pytest.fail(f"Redis is up, yet a call for card {card!r} raised {error!r}: a card id is data, whatever "
                    "it holds; pass it as a key (KEYS[1] of a script, an argument), never inside a script's text, "
                    "and give each card keys no other card can have")


@pytest.mark.redis
def test_any_str_is_a_card_id_of_its_own(store):
    for n, card in enumerate(ODD_CARD_IDS):
        assert _on_a_live_redis(store.write, card, {"count": n}, event_ts=100.0) is True, (
            f"card {card!r} has nothing stored yet: its first write is accepted")
    got = {card: _on_a_live_redis(store.read, card) for card in ODD_CARD_IDS}
    assert got == {card: {"count": float(n)} for n, card in enumerate(ODD_CARD_IDS)}, (
        "every str is a card id and every card its own feature set, whatever it holds (colons, quotes, a "
        "backslash, a newline, glob characters, nothing at all: '' is a str too): never paste a card id into a script's text, and never derive "
        f"one card's key from another's by a suffix ('c1' + ':ts' is card 'c1:ts'); got {got}")
    older = {card: _on_a_live_redis(store.write, card, {"count": -1}, event_ts=50.0)
             for card in ODD_CARD_IDS}
    assert not any(older.values()), (
        "each card still holds its time 100.0, so a write as of 50.0 is older and ignored for every one of "
        f"them; these were accepted: {[card for card, done in older.items() if done]}")


@pytest.mark.redis
def test_concurrent_out_of_order_writers_leave_the_newest_set(redis_server):
    times = list(range(1, 201))
    random.Random(20).shuffle(times)
    errors: list[BaseException] = []
    stores = [OnlineFeatureStore(redis_server.url, timeout_s=5) for _ in range(4)]

    def writer(own: OnlineFeatureStore, chunk: list[int]) -> None:
        try:
            for ts in chunk:
                own.write("c1", {"count": ts}, event_ts=float(ts))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(stores[i], times[i::4])) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for own in stores:
        own.close()
    assert not errors, f"writers failed: {errors!r}"
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as store:
        assert store.read("c1") == {"count": 200.0}, (
            "four writers racing with out-of-order times must leave the newest set: compare and write in one "
            "atomic step (a Lua script, or WATCH/MULTI)")


@pytest.mark.redis
def test_a_write_raced_by_an_older_one_still_lands(redis_server, racing_redis):
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as other, OnlineFeatureStore(racing_redis.url, timeout_s=5) as store:
        other.write("c1", {"count": 1}, event_ts=1.0)
        # Between this store's read of the card and its write, another client sets an older time
        # (5) than ours (10), but newer than the one stored (1).
        racing_redis.before_commit(lambda: other.write("c1", {"count": 5}, event_ts=5.0))
        written = store.write("c1", {"count": 10}, event_ts=10.0)
        assert racing_redis.fired.is_set() and racing_redis.error is None, (
            f"the other client's write should have landed mid-write; it failed: {racing_redis.error!r}")
        assert written is True and other.read("c1") == {"count": 10.0}, (
            "a write of time 10 that meets another client's write of time 5 mid-way is still the newest: it must "
            f"land and return True (with WATCH/MULTI, retry after a WatchError); returned {written}, "
            f"stored {other.read('c1')}")


@pytest.mark.redis
def test_a_write_raced_by_a_newer_one_leaves_the_newer(redis_server, racing_redis):
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as other, OnlineFeatureStore(racing_redis.url, timeout_s=5) as store:
        other.write("c1", {"count": 1}, event_ts=1.0)
        # Between this store's read of the card (time 1) and its write, another client sets a newer time (20).
        racing_redis.before_commit(lambda: other.write("c1", {"count": 20}, event_ts=20.0))
        store.write("c1", {"count": 10}, event_ts=10.0)
        assert racing_redis.fired.is_set() and racing_redis.error is None, (
            f"the other client's write should have landed mid-write; it failed: {racing_redis.error!r}")
        assert other.read("c1") == {"count": 20.0}, (
            "a write of time 10 must not overwrite the time-20 set another client made after it read the card: "
            "compare and write in one atomic step (a Lua script, or WATCH the key before reading it, then "
            f"MULTI/EXEC); stored {other.read('c1')}")


@pytest.mark.redis
def test_concurrent_writers_never_move_a_card_back_in_time(redis_server):
    errors: list[BaseException] = []
    went_back: list[tuple[int, float]] = []
    stores = [OnlineFeatureStore(redis_server.url, timeout_s=5) for _ in range(4)]

    def writer(own: OnlineFeatureStore, first: int) -> None:
        try:
            for ts in range(first, 400, 4):  # four writers, interleaved times, each always just behind the others
                own.write("c1", {"count": ts}, event_ts=float(ts))
                now = own.read("c1")["count"]
                if now < ts:
                    went_back.append((ts, now))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(stores[i], i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for own in stores:
        own.close()
    assert not errors, f"writers failed: {errors!r}"
    assert not went_back, (
        "after a write of time t returns, the card's stored time is t or newer; here writers read back older "
        f"sets {went_back[:3]} ((written t, read back), {len(went_back)} in all): a writer compared with a stale "
        "stored time and overwrote a newer set. Compare and write in one atomic step (a Lua script, or "
        "WATCH the key before reading it, then MULTI/EXEC)")


@pytest.mark.redis
def test_threads_sharing_one_store_never_move_a_card_back_in_time(redis_server):
    errors: list[BaseException] = []
    went_back: list[tuple[int, float]] = []

    def writer(shared: OnlineFeatureStore, first: int) -> None:
        try:
            for ts in range(first, 400, 4):  # four threads, interleaved times, one store object between them
                shared.write("c1", {"count": ts}, event_ts=float(ts))
                now = shared.read("c1")["count"]
                if now < ts:
                    went_back.append((ts, now))
        except Exception as error:  # reported below
            errors.append(error)

    with OnlineFeatureStore(redis_server.url, timeout_s=5) as shared:
        threads = [threading.Thread(target=writer, args=(shared, i)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        final = shared.read("c1")
    assert not errors, (
        "one store used by four threads at once (as a threaded scoring service does) must keep working: the "
        f"writes and reads failed with {errors[:3]!r} ({len(errors)} in all). Keep no per-call state on the "
        "store object (a pipeline, a WATCHed connection): take a fresh pipeline per write, or use the client's "
        "connection pool")
    assert not went_back and final == {"count": 399.0}, (
        f"threads sharing one store read back older sets {went_back[:3]} ((written t, read back)) or left "
        f"{final} instead of the newest set (count 399)")


# --- time to live -------------------------------------------------------------------------------

@pytest.mark.redis
def test_every_key_expires_after_the_default_ttl_of_an_hour(store, raw):
    began = time.monotonic()
    store.write("c1", FEATURES, event_ts=100.0)
    ttls = ttls_ms(raw)
    lowest = 3_600_000 - elapsed_ms(began)  # what is left of an hour set during the write
    assert ttls, "the store wrote nothing to Redis"
    assert all(lowest <= ttl <= 3_600_000 for ttl in ttls.values()), (
        f"every key the store writes should expire one hour (ttl_s=3600, 3,600,000 ms) after the write, which "
        f"leaves {lowest:.0f} to 3,600,000 ms now; got {ttls} (ms, -1 = never)")


@pytest.mark.redis
def test_every_key_expires_after_ttl_s(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, ttl_s=30, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
    ttls = ttls_ms(raw)
    assert ttls and all(25_000 < ttl <= 30_000 for ttl in ttls.values()), (
        f"with ttl_s=30 every key should expire 30 s after the write; got {ttls} (ms, -1 = never)")


@pytest.mark.redis
def test_the_ttl_is_kept_to_the_millisecond(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, ttl_s=1.75, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
        ttls = ttls_ms(raw)
    assert ttls and all(1_000 < ttl <= 1_750 for ttl in ttls.values()), (
        "with ttl_s=1.75 every key should expire 1750 ms after the write, not a whole number of seconds "
        f"(PEXPIRE / PX take milliseconds); got {ttls} (ms)")


@pytest.mark.redis
def test_an_accepted_write_restarts_the_ttl_and_an_ignored_one_does_not(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, ttl_s=30, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
        for key in raw.scan_iter():
            raw.pexpire(key, 5_000)  # as if 25 s had passed
        store.write("c1", FEATURES, event_ts=90.0)
        ttls = ttls_ms(raw)
        assert ttls and all(0 < ttl <= 5_000 for ttl in ttls.values()), (
            f"an ignored (older) write changes nothing, its TTL included; got {ttls} (ms)")
        store.write("c1", FEATURES, event_ts=110.0)
        ttls = ttls_ms(raw)
        assert ttls and all(25_000 < ttl <= 30_000 for ttl in ttls.values()), (
            f"an accepted write gives the card ttl_s to live again; got {ttls} (ms)")


@pytest.mark.redis
def test_a_key_has_its_ttl_from_the_moment_the_write_lands(redis_server, cutting_redis, raw):
    with OnlineFeatureStore(cutting_redis.url, ttl_s=30, timeout_s=5) as store:
        try:
            store.write("c1", FEATURES, event_ts=100.0)  # Redis goes away right after the atomic step
        except StoreUnavailable:
            pass  # the connection was cut after the write: the caller may well hear of it
    ttls = ttls_ms(raw)
    assert ttls, "the write's atomic step reached Redis, yet the store wrote nothing"
    assert all(25_000 < ttl <= 30_000 for ttl in ttls.values()), (
        "Redis went away right after the write's atomic step (its EVALSHA or EXEC), and the store's keys were "
        f"left with {ttls} (ms to live, -1 = never): the TTL is set in the same atomic step as the write "
        "(PEXPIRE inside the Lua script or the MULTI block), never by a later command that may not arrive, "
        "or a card whose Redis blinked keeps its features for ever")


@pytest.mark.redis
def test_features_are_gone_once_the_ttl_has_passed(redis_server):
    with OnlineFeatureStore(redis_server.url, ttl_s=0.2, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
        deadline = time.monotonic() + 10
        while store.read("c1") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.read("c1") is None, "with ttl_s=0.2 the features should be gone (None) after 0.2 s (waited 10 s)"
        assert store.write("c1", {"count": 1}, event_ts=50.0) is True, (
            "once expired, nothing is stored: even an older write is accepted")


@pytest.mark.redis
def test_a_quiet_card_expires_whatever_other_cards_do(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, ttl_s=30, timeout_s=5) as store:
        store.write("quiet", {"count": 9}, event_ts=100.0)
        for key in raw.scan_iter():
            raw.pexpire(key, 300)  # as if the quiet card's last write were 29.7 s ago
        assert store.write("busy", {"count": 1}, event_ts=200.0) is True, "a first write of another card is accepted"
        deadline = time.monotonic() + 10
        while store.read("quiet") is not None and time.monotonic() < deadline:
            store.write("busy", {"count": 2}, event_ts=201.0)
            time.sleep(0.05)
        quiet, busy = store.read("quiet"), store.read("busy")
        assert quiet is None, (
            "card 'quiet' had 0.3 s left to live and was not written again; 10 s later it still reads "
            f"{quiet}: each card's features expire ttl_s after that card's own last accepted write, whatever other "
            "cards do (one key per card: a write of card 'busy' must not restart the TTL of 'quiet')")
        assert busy == {"count": 2.0}, f"card 'busy' was written just now and lives on; got {busy}"
        older = store.write("quiet", {"count": 1}, event_ts=50.0)
        store.write("busy", {"count": 3}, event_ts=202.0)
        quiet = store.read("quiet")
    assert (older, quiet) == (True, {"count": 1.0}), (
        "card 'quiet' has expired, so nothing is stored for it: a write as of 50.0 (older than its expired 100.0) "
        f"is accepted and read back, while card 'busy' keeps being written; the write returned {older}, a read "
        f"gave {quiet}. Keep each card's event time with its features, in its own key with its own TTL, never in "
        "a place that other cards' writes keep alive")


@pytest.mark.redis
def test_a_read_is_one_round_trip_to_redis(redis_server, counting_redis):
    with OnlineFeatureStore(counting_redis.url, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
        store.read("c1")  # connections made, scripts loaded: only the reads below are counted
        store.read("nobody")
        trips = {}
        for card in ("c1", "nobody"):
            counting_redis.reset()
            got = store.read(card)
            trips[card] = counting_redis.round_trips()
    assert got is None, f"card 'nobody' was never written and reads as None; got {got}"
    assert trips == {"c1": 1, "nobody": 1}, (
        "a read asks Redis in one round trip (one command, one pipeline, or one script): a check such as EXISTS "
        "followed by a fetch pays a slow Redis' delay twice and lets the key expire in between; round trips per "
        f"read (a stored card, a card never written): {trips}")


# --- key prefix -----------------------------------------------------------------------------------

@pytest.mark.redis
def test_keys_start_with_the_prefix(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as default, OnlineFeatureStore(redis_server.url, prefix="shadow:", timeout_s=5) as other:
        default.write("c1", {"count": 1}, event_ts=100.0)
        assert all(key.startswith("fraud:") for key in raw.scan_iter()), (
            f"by default every key starts with 'fraud:'; got {sorted(raw.scan_iter())}")
        other.write("c1", {"count": 2}, event_ts=50.0)
        assert {key for key in raw.scan_iter() if key.startswith("shadow:")}, (
            f"with prefix='shadow:' the store's keys start with 'shadow:'; got {sorted(raw.scan_iter())}")
        assert (default.read("c1"), other.read("c1")) == ({"count": 1.0}, {"count": 2.0}), (
            "two prefixes are two separate stores on one Redis")


# --- timeouts and connections ----------------------------------------------------------------------

@pytest.mark.redis
def test_a_longer_timeout_s_waits_out_a_slow_redis(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
        raw.client_pause(1000)  # the server answers nobody for 1 s
        try:
            got = store.read("c1")
        except StoreUnavailable as error:
            pytest.fail(f"with timeout_s=5 a Redis that stalls for 1 s is waited for, not unavailable: {error!r}")
    assert got == pytest.approx(FEATURES), f"the read answered after the stall with the stored features; got {got}"


@pytest.mark.redis
def test_close_releases_the_connections(redis_server, raw):
    already = {client["id"] for client in raw.client_list()}
    store = OnlineFeatureStore(redis_server.url, timeout_s=5)
    store.write("c1", FEATURES, event_ts=100.0)
    store.read("c1")
    opened = {client["id"] for client in raw.client_list()} - already
    assert opened, "the store wrote and read, yet Redis lists no connection of its own"
    store.close()
    deadline = time.monotonic() + 5
    while opened & {client["id"] for client in raw.client_list()} and time.monotonic() < deadline:
        time.sleep(0.02)
    left = opened & {client["id"] for client in raw.client_list()}
    assert not left, f"close() should close the store's connections to Redis; still open 5 s later: {sorted(left)}"


# --- Redis going away -------------------------------------------------------------------------------

@pytest.mark.redis
def test_a_redis_that_stops_raises_store_unavailable(redis_server):
    with OnlineFeatureStore(redis_server.url, timeout_s=5) as store:
        store.write("c1", FEATURES, event_ts=100.0)
        redis_server.stop()
        with pytest.raises(StoreUnavailable):
            store.read("c1")
        with pytest.raises(StoreUnavailable):
            store.write("c1", FEATURES, event_ts=101.0)


def _once_available(call, limit_s: float = 10):
    """`call()`'s result as soon as it stops raising StoreUnavailable (a busy machine may miss a short
    timeout now and then); the StoreUnavailable errors seen before, if it never does within `limit_s`."""
    failures: list[StoreUnavailable] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            return call(), failures
        except StoreUnavailable as error:
            failures.append(error)
            time.sleep(0.1)
    return None, failures


@pytest.mark.redis
def test_the_first_calls_after_redis_answers_again_reach_it(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, timeout_s=0.5) as store:
        _once_available(lambda: store.write("c1", FEATURES, event_ts=100.0))
        raw.client_pause(1500)  # the server answers nobody for 1.5 s: far past timeout_s
        with pytest.raises(StoreUnavailable):
            store.read("c1")
        raw.ping()  # returns once the pause is over: Redis answers again from here on
        got, failures = _once_available(lambda: store.read("c1"), limit_s=1.5)
    assert got == pytest.approx(FEATURES), (
        "Redis answered again, yet for 1.5 s more every read raised StoreUnavailable "
        f"({len(failures)} times, last {failures[-1:]!r}): the store must try Redis on every call, never fail "
        "fast for a while after a failure (no circuit breaker: the scorer counts its fallbacks, and a breaker "
        "would turn a blip of Redis into seconds of rule-only decisions)")


@pytest.mark.redis
def test_the_store_answers_again_once_redis_does(redis_server, raw):
    with OnlineFeatureStore(redis_server.url, timeout_s=0.5) as store:
        _once_available(lambda: store.write("c1", FEATURES, event_ts=100.0))
        raw.client_pause(2000)  # the server answers nobody for 2 s: far past timeout_s
        with pytest.raises(StoreUnavailable):
            store.read("c1")
        got, failures = _once_available(lambda: store.read("c1"))
        assert got == pytest.approx(FEATURES), (
            "Redis answers again 2 s after it stalled, yet the store kept raising StoreUnavailable for 10 s more "
            f"({len(failures)} times, last {failures[-1:]!r}): every call must try Redis afresh, never remember "
            "a failure and replay it")
        written, _ = _once_available(lambda: store.write("c1", {"count": 9}, event_ts=101.0))
        got, _ = _once_available(lambda: store.read("c1"))
        assert (written, got) == (True, {"count": 9.0}), (
            f"once Redis answers again, writes land as before; the write returned {written}, a read gave {got}")
