"""Task 2: the token-bucket rate limiter. Time comes from a fake clock the test moves."""

import importlib.util
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rate_limiter import TokenBucketRateLimiter

from mlops_katas.fakes import FakeClock
from mlops_katas.interleave import switching_threads

pytestmark = pytest.mark.task(taskno=2)


@pytest.fixture
def clock():
    return FakeClock()


# NaN fails every comparison (a numpy.float32 NaN too, which is no float: `isinstance(x, float) and math.isnan(x)`
# misses it): `capacity <= 0` and `refill_rate < 0` let it through, and the bucket then
# grants every request (a NaN capacity caps nothing; a NaN rate makes every refill NaN, so the count becomes NaN
# or, through min(capacity, NaN), jumps back to full on every call).
@pytest.mark.parametrize(
    "capacity, refill_rate",
    [(0, 1), (0.0, 1), (-5, 1), (10, -0.1), (float("nan"), 1), (10, float("nan")),
     (np.float32("nan"), 1), (10, np.float32("nan")), (np.float64("nan"), 1), (10, np.float64("nan")),
     (np.float16("nan"), 1), (10, np.float16("nan")), (np.longdouble("nan"), 1), (10, np.longdouble("nan"))],
    ids=["zero", "float-zero", "negative", "negative-rate", "nan", "nan-rate",
         "numpy-float32-nan", "numpy-float32-nan-rate", "numpy-float64-nan", "numpy-float64-nan-rate",
         "numpy-float16-nan", "numpy-float16-nan-rate", "numpy-longdouble-nan", "numpy-longdouble-nan-rate"],
)
def test_invalid_capacity_or_rate_is_rejected(capacity, refill_rate, clock):
    with pytest.raises(ValueError):
        TokenBucketRateLimiter(capacity, refill_rate, clock=clock)


def test_a_zero_refill_rate_is_allowed_and_never_refills(clock):
    bucket = TokenBucketRateLimiter(2, 0, clock=clock)
    assert bucket.consume(2), "a new bucket of 2 should give 2 tokens"
    clock.advance(3600)
    assert not bucket.consume(1), "with refill_rate 0 the bucket should stay empty"


def test_starts_full(clock):
    bucket = TokenBucketRateLimiter(10, 1, clock=clock)
    assert bucket.get_available_tokens() == pytest.approx(10), "a new bucket should hold `capacity` tokens"


def test_a_count_a_float_holds_exactly_is_reported_exactly(clock):
    # Reporting one float step below every count (so that a refused token is never reported) lowers exact ones too.
    bucket = TokenBucketRateLimiter(5, 1, clock=clock)
    for step, expected in (("new", 5.0), ("drained", 0.0), ("refilled for 2 s", 2.0)):
        if step == "drained":
            assert bucket.consume(5) is True, "a full bucket of 5 should give all 5 tokens"
        elif step == "refilled for 2 s":
            clock.advance(2)
        held = bucket.get_available_tokens()
        assert held == expected, (
            f"a bucket of 5 at 1 token/s, {step}, holds exactly {expected} tokens and should report exactly that "
            f"(unrounded, not one float step below), it reports {held!r}")


def test_each_limiter_keeps_its_own_tokens(clock):
    # One limiter per API key: state kept on the class (`state = {...}` in the class body) is shared by all.
    first = TokenBucketRateLimiter(3, 1, clock=clock)
    assert first.consume(3) is True, "a full bucket of 3 should give 3 tokens"
    second = TokenBucketRateLimiter(5, 0, clock=clock)
    assert second.consume(5) is True, "a second, new bucket of 5 should start full, whatever the first one did"
    assert first.get_available_tokens() == pytest.approx(0), (
        "draining one limiter (or making a new one) must not change another: the first bucket should still be empty"
    )
    clock.advance(1)
    assert first.get_available_tokens() == pytest.approx(1) and second.get_available_tokens() == pytest.approx(0), (
        "after 1 s the first bucket (1 token/s) should hold 1 token and the second (rate 0) none: each limiter "
        "refills at its own rate"
    )


def test_consume_takes_tokens(clock):
    bucket = TokenBucketRateLimiter(10, 1, clock=clock)
    assert bucket.consume(3) is True, "consuming 3 of 10 tokens should succeed"
    assert bucket.get_available_tokens() == pytest.approx(7), "10 - 3 should leave 7 tokens"


def test_consume_defaults_to_one_token(clock):
    bucket = TokenBucketRateLimiter(5, 1, clock=clock)
    assert bucket.consume() is True, "a full bucket of 5 should give 1 token"
    assert bucket.get_available_tokens() == pytest.approx(4), "consume() with no argument should take 1 token"


def test_consume_is_all_or_nothing(clock):
    bucket = TokenBucketRateLimiter(5, 1, clock=clock)
    assert bucket.consume(4), "a full bucket of 5 should give 4 tokens"
    assert bucket.consume(2) is False, "only 1 token is left, so consuming 2 should fail"
    assert bucket.get_available_tokens() == pytest.approx(1), "a failed consume must not take any tokens"


def test_more_than_capacity_is_refused_even_when_full(clock):
    bucket = TokenBucketRateLimiter(5, 1, clock=clock)
    assert bucket.consume(6) is False, "asking for more than the capacity can never succeed"
    assert bucket.get_available_tokens() == pytest.approx(5), "a refused request must not take tokens"


@pytest.mark.parametrize("real", [np.float64, np.float32], ids=["numpy-float64", "numpy-float32"])
def test_consume_answers_with_plain_bools_for_numpy_numbers(real, clock):
    # Settings read with NumPy are numpy.float64: comparing them gives numpy.bool_, which is not True or
    # False and which json.dumps cannot encode, so an API that returns the answer as JSON crashes.
    # A float32 config array gives numpy.float32, which is no float: fractions.Fraction() raises TypeError on it.
    try:
        bucket = TokenBucketRateLimiter(real(2), real(1), clock=clock)
        answers = [bucket.consume(real(1.5)), bucket.consume(np.int64(1)), bucket.consume(real(3))]
    except TypeError as exc:
        pytest.fail(f"a bucket of numpy.{real.__name__}(2) tokens refilling numpy.{real.__name__}(1) per second, asked "
                    f"for numpy.{real.__name__}(1.5) tokens, raised {exc!r}: NumPy numbers of any width are numbers "
                    "(fractions.Fraction() refuses a numpy.float32: convert it with float() first)")
    assert [type(answer) for answer in answers] == [bool, bool, bool] and answers == [True, False, False], (
        f"a bucket of numpy.{real.__name__}(2) asked for 1.5, then 1, then 3 (more than it holds) tokens should answer "
        f"True, False, False as plain bools, it answered {answers!r} of types "
        f"{[type(answer).__name__ for answer in answers]}: return True or False themselves, not a comparison "
        "result (a numpy.bool_ breaks json.dumps)"
    )


NUMPY_KINDS = [np.float16, np.float32, np.float64, np.longdouble, np.int8, np.int16, np.int32, np.int64, np.uint8,
               np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("kind", NUMPY_KINDS, ids=[f"numpy-{kind.__name__}" for kind in NUMPY_KINDS])
def test_numpy_numbers_of_every_width_are_numbers(kind, clock):
    # A config array or a computed request size can be of any NumPy type: float16 and longdouble are floats as much
    # as float32 and float64 are (a check for those two only sends the others to fractions.Fraction(), which raises
    # TypeError), and every integer width is a whole number.
    described = f"a bucket of numpy.{kind.__name__}(4) tokens refilling numpy.{kind.__name__}(2) per second"
    try:
        bucket = TokenBucketRateLimiter(kind(4), kind(2), clock=clock)
        answers = [bucket.consume(kind(3)), bucket.consume(kind(2))]
        clock.advance(0.5)
        answers.append(bucket.consume(kind(2)))
        available = bucket.get_available_tokens()
    except TypeError as exc:
        pytest.fail(f"{described}, asked for numpy.{kind.__name__} tokens, raised {exc!r}: NumPy numbers of any width "
                    "are numbers like any other (convert every NumPy float with float(), not only float32 and float64)")
    assert [type(answer) for answer in answers] == [bool, bool, bool] and answers == [True, False, True], (
        f"{described}, asked for 3, then 2 (1 left), then after 0.5 s 2 tokens (2 left by then), should answer True, "
        f"False, True as plain bools, it answered {answers!r} of types {[type(a).__name__ for a in answers]}"
    )
    assert float(available) == pytest.approx(0), (
        f"{described} gave 3 tokens, refilled 1 and gave 2 more, so it should hold 0 tokens, it holds {available!r}"
    )


def test_a_request_for_infinitely_many_tokens_is_refused_not_an_error(clock):
    bucket = TokenBucketRateLimiter(5, 1, clock=clock)
    assert bucket.consume(float("inf")) is False, (
        "float('inf') tokens are more than the capacity of 5, so consume should return False (only zero, "
        "negative or NaN requests are a ValueError)"
    )
    assert bucket.get_available_tokens() == pytest.approx(5), "a refused request must not take tokens"


@pytest.mark.parametrize(
    "capacity, refill_rate, first",
    [(5, 1, 1), (np.float64(5), 1, 1), (np.float32(5), 1, 1), (np.int64(5), 1, 1), (5, np.float64(1), 1),
     (5, np.float32(1), 1), (5, 1, np.float32(1))],
    ids=["int", "numpy-float64", "numpy-float32", "numpy-int64", "numpy-float64-rate", "numpy-float32-rate",
         "numpy-float32-request"],
)
def test_a_request_for_a_huge_whole_number_of_tokens_is_refused_not_an_error(capacity, refill_rate, first, clock):
    # A request size parsed from JSON can be an int too large for a float ("1" followed by 400 zeros):
    # math.isnan(10**400) raises OverflowError, so the limiter would answer with a crash, not a refusal.
    # So does comparing it with a NumPy float (`10**400 > numpy.float64(5)`: NumPy converts the int to a float
    # first), a capacity read from a config array, or a count refilled at a NumPy rate or left by a NumPy request.
    bucket = TokenBucketRateLimiter(capacity, refill_rate, clock=clock)
    assert bucket.consume(first) is True, f"a full bucket of 5 should give {first!r} token"
    clock.advance(0.5)
    described = f"a bucket of {capacity!r} tokens refilling {refill_rate!r} per second, asked for {first!r} token first"
    try:
        answer = bucket.consume(10**400)
    except OverflowError as exc:
        pytest.fail(f"{described}, then for 10**400 tokens, raised {exc!r}: 10**400 is more than the capacity, so "
                    "consume should return False; NumPy turns the int into a float to compare it with a NumPy float, "
                    "so turn NumPy numbers into Python ones first (or compare without converting 10**400)")
    assert answer is False, (
        f"{described}, then for 10**400 tokens (more than its capacity of 5), answered {answer!r}, not False: compare "
        "the number itself (`not tokens > 0` also catches NaN) instead of converting it to a float first"
    )
    assert bucket.get_available_tokens() == pytest.approx(4.5), "a refused request must not take tokens"
    assert bucket.consume(1) is True, f"{described}, then refused 10**400 tokens, should still give 1 of its 4.5"


def _used_from_another_thread_after(bucket, failing_calls, failure, what):
    """Make `failing_calls` (each must raise `failure`) in one thread and, while it is still alive, consume(1) and
    read the count in another: what the other thread got. A re-entrant lock (RLock) left held lets its own thread
    in again, and no other; a plain Lock left held lets no thread in."""
    results = []
    failed, others_done = threading.Event(), threading.Event()

    def fail():
        for call in failing_calls:
            try:
                call()
            except failure:
                pass
        failed.set()
        others_done.wait(timeout=10)  # stay alive: a new thread may reuse a finished thread's id

    def use():
        results.append((bucket.consume(1), bucket.get_available_tokens()))

    # Daemon threads: a hung call must not hang the test run.
    failer = threading.Thread(target=fail, daemon=True)
    failer.start()
    try:
        assert failed.wait(timeout=5), (
            f"after {what}, the calls that followed in the same thread did not return within 5 s: release the lock "
            "on every path (`with lock:`)")
        user = threading.Thread(target=use, daemon=True)
        user.start()
        user.join(timeout=5)
        assert not user.is_alive(), (
            f"after {what} in one thread, calls from another thread did not return within 5 s: release the lock on "
            "every path (`with lock:` or try/finally); a held RLock still lets the thread holding it in, no other")
    finally:
        others_done.set()
        failer.join(timeout=5)
    return results


def test_a_clock_that_fails_once_leaves_the_limiter_usable():
    # A clock may raise (a remote time source, a broken fake): the call fails, the bucket must not.
    # A lock taken with acquire() and released only on the normal path stays held for ever after.
    clock = FakeClock()
    failing = [False]

    def flaky_clock():
        if failing[0]:
            failing[0] = False
            raise OSError("clock unavailable")
        return clock()

    def failing_call(call):
        def fail():
            failing[0] = True
            call()
        return fail

    bucket = TokenBucketRateLimiter(5, 1, clock=flaky_clock)
    results = _used_from_another_thread_after(
        bucket, [failing_call(bucket.consume), failing_call(bucket.get_available_tokens)], OSError,
        "clock() raised inside consume() and then inside get_available_tokens()")
    assert results == [(True, pytest.approx(4))], (
        f"the bucket of 5 should still grant 1 token and then hold 4 after the failed calls, got {results}"
    )


def test_a_refused_request_leaves_the_limiter_usable_from_every_thread(clock):
    # A lock taken before the request is checked, and not released when the check raises, is held for ever.
    bucket = TokenBucketRateLimiter(5, 1, clock=clock)
    refused = [lambda tokens=tokens: bucket.consume(tokens) for tokens in (0, -1, float("nan"))]
    results = _used_from_another_thread_after(bucket, refused, ValueError,
                                              "consume(0), consume(-1) and consume(nan) raised ValueError")
    assert results == [(True, pytest.approx(4))], (
        f"the bucket of 5 should still grant 1 token and then hold 4 after the refused requests, got {results}"
    )


@pytest.mark.parametrize("tokens", [0, -1, -0.5, float("-inf")])
def test_non_positive_requests_are_rejected(tokens, clock):
    bucket = TokenBucketRateLimiter(5, 1, clock=clock)
    with pytest.raises(ValueError):
        bucket.consume(tokens)


@pytest.mark.parametrize(
    "nan", [float("nan"), np.float16("nan"), np.float32("nan"), np.float64("nan"), np.longdouble("nan")],
    ids=["float", "numpy-float16", "numpy-float32", "numpy-float64", "numpy-longdouble"],
)
def test_a_request_for_nan_tokens_is_rejected_and_changes_nothing(nan, clock):
    # NaN fails every comparison: `tokens <= 0` lets it through, and `available < tokens` then
    # lets it take NaN tokens, after which the count is NaN and the limiter stops limiting.
    # A numpy.float32 NaN (a request size computed with NumPy) is no float: `isinstance(tokens, float)` misses it.
    bucket = TokenBucketRateLimiter(2, 0, clock=clock)
    assert bucket.consume(2), "a full bucket of 2 should give 2 tokens"
    with pytest.raises(ValueError):
        bucket.consume(nan)
    assert bucket.consume(1) is False, "the bucket was empty before the NaN request and should still be empty"
    assert bucket.get_available_tokens() == pytest.approx(0), "a rejected NaN request must leave the count at 0"


def test_refill_counts_fractions_of_a_second(clock):
    bucket = TokenBucketRateLimiter(10, 2, clock=clock)
    assert bucket.consume(10), "a full bucket of 10 should give all 10 tokens"
    clock.advance(0.25)
    assert bucket.get_available_tokens() == pytest.approx(0.5), "0.25 s at 2 tokens/s should refill 0.5 tokens"
    assert bucket.consume(1) is False, "0.5 tokens are not enough for 1"
    clock.advance(0.25)
    assert bucket.consume(1) is True, "after 0.5 s at 2 tokens/s there should be 1 token"


def test_a_request_a_hair_above_the_tokens_held_is_refused(clock):
    bucket = TokenBucketRateLimiter(1, 1, clock=clock)
    assert bucket.consume(1), "a full bucket of 1 should give 1 token"
    clock.advance(0.99999)
    assert bucket.consume(1) is False, (
        "after 0.99999 s at 1 token/s the bucket holds 0.99999 tokens, not enough for 1: "
        "compare the exact count, not a rounded one"
    )
    assert bucket.get_available_tokens() == pytest.approx(0.99999, abs=1e-6), (
        "a refused request must leave the 0.99999 tokens in place"
    )


def test_a_request_a_trillionth_of_a_token_short_is_refused():
    clock = FakeClock(start=0.0)  # near zero a float resolves 1e-12 s; near today's epoch it cannot
    bucket = TokenBucketRateLimiter(1, 1, clock=clock)
    assert bucket.consume(1), "a full bucket of 1 should give 1 token"
    clock.advance(1 - 1e-12)
    assert bucket.consume(1) is False, (
        "after 1 s minus a trillionth at 1 token/s the bucket is a trillionth short of 1 token: compare the "
        "exact count, with no tolerance (math.isclose would round it up to enough)"
    )
    assert bucket.get_available_tokens() < 1, (
        "the bucket refused 1 token because it holds a trillionth less, so get_available_tokens() must report "
        "less than 1: return the count itself, unrounded (round(tokens, 9) reports 1.0 here)"
    )


def test_a_count_closer_to_one_than_a_float_can_say_is_never_reported_as_one():
    # An exact count (a Fraction, say) holds 1 - 2**-60 after 2**-60 of a token is taken, and float() rounds that
    # to 1.0; a float count stays 1.0 (it cannot hold the difference) and then grants 1. Either is consistent,
    # as long as a bucket that refuses 1 token does not report 1.
    bucket = TokenBucketRateLimiter(1, 1, clock=FakeClock(start=0.0))
    assert bucket.consume(2**-60), "a full bucket of 1 should give 2**-60 of a token"
    available = bucket.get_available_tokens()
    refused = bucket.consume(1) is False
    assert not (refused and available >= 1), (
        f"get_available_tokens() reported {available!r}, then consume(1) was refused: the count is below 1, so the "
        "report must be too; float() of an exact count rounds to the nearest float, which may be 1.0: round down "
        "instead (math.nextafter(f, 0) when float(count) > count)"
    )


def test_a_request_the_last_float_step_short_is_refused():
    clock = FakeClock(start=0.0)
    bucket = TokenBucketRateLimiter(1, 1, clock=clock)
    assert bucket.consume(1), "a full bucket of 1 should give 1 token"
    short = 1 - 2**-52  # 0.9999999999999998: exact in floats, two float steps below 1
    clock.advance(short)
    assert bucket.consume(1) is False, (
        f"after {short!r} s at 1 token/s the bucket holds {short!r} tokens, less than 1: compare the exact count "
        "with no tolerance at all (even `tokens + 1e-15 >= 1` grants a token the bucket does not hold)"
    )
    available = bucket.get_available_tokens()
    assert available == pytest.approx(short), "a refused request must leave the tokens in place"
    assert available < 1, (
        f"the bucket refused 1 token because it holds {short!r}, yet get_available_tokens() reports {available!r}: "
        "a bucket that refuses 1 token must never report 1, so return the count itself, unrounded (not even "
        "round(tokens, 15))"
    )


@pytest.mark.parametrize("elapsed, held", [(0.25, 0.5), (1, 2)], ids=["fractional-count", "whole-count"])
def test_the_available_tokens_come_back_as_a_float(elapsed, held, clock):
    # A status endpoint writes the count with json.dumps, which cannot encode a Fraction or a Decimal: an exact count
    # kept inside is fine, but convert it back before returning it, as the `-> float` of the signature says.
    bucket = TokenBucketRateLimiter(10, 2, clock=clock)
    assert bucket.consume(10), "a full bucket of 10 should give all 10 tokens"
    clock.advance(elapsed)
    available = bucket.get_available_tokens()
    assert isinstance(available, (int, float, np.floating)) and not isinstance(available, bool), (
        f"after {elapsed} s at 2 tokens/s get_available_tokens() returned {available!r}, a "
        f"{type(available).__module__}.{type(available).__qualname__}: it should return a float (an int, or the "
        "NumPy float type you were given, passes too); a Fraction or Decimal you compute with inside must not come "
        "out: convert it back with float()"
    )
    assert available == pytest.approx(held), f"after {elapsed} s at 2 tokens/s the bucket should hold {held} tokens"


def test_fractional_tokens_can_be_consumed(clock):
    bucket = TokenBucketRateLimiter(1, 1, clock=clock)
    assert bucket.consume(0.5) and bucket.consume(0.5), "two halves of a 1-token bucket should both succeed"
    assert bucket.consume(0.5) is False, "the bucket is empty now"


def test_refill_is_continuous_even_within_a_millisecond(clock):
    bucket = TokenBucketRateLimiter(10, 1024, clock=clock)
    assert bucket.consume(10), "a full bucket of 10 should give all 10 tokens"
    for quarter in range(1, 5):
        clock.advance(2**-12)  # a quarter of a token at 1024 tokens/s, exact in floats
        assert bucket.get_available_tokens() == pytest.approx(quarter / 4), (
            f"after {quarter} x 1/4096 s at 1024 tokens/s the bucket should hold {quarter / 4} tokens: the refill "
            "is continuous, so even a fraction of a millisecond counts the moment it has passed"
        )


def test_refill_is_capped_at_capacity(clock):
    bucket = TokenBucketRateLimiter(10, 5, clock=clock)
    assert bucket.consume(4), "a full bucket of 10 should give 4 tokens"
    clock.advance(1000)
    assert bucket.get_available_tokens() == pytest.approx(10), "tokens must never exceed the capacity"


def test_refill_does_not_double_count_time(clock):
    stepwise = TokenBucketRateLimiter(10, 1, clock=clock)
    assert stepwise.consume(10), "a full bucket of 10 should give all 10 tokens"
    for _ in range(4):
        clock.advance(0.5)
        stepwise.get_available_tokens()
    assert stepwise.get_available_tokens() == pytest.approx(2), (
        "4 steps of 0.5 s at 1 token/s should refill 2 tokens however often you look"
    )


@pytest.mark.parametrize("start", [0.0, 1.0])
def test_a_clock_that_starts_near_zero_refills_by_elapsed_time(start):
    # time.monotonic() counts from an arbitrary point, e.g. boot: small readings are normal.
    clock = FakeClock(start=start)
    bucket = TokenBucketRateLimiter(4, 2, clock=clock)
    assert bucket.consume(4), "a full bucket of 4 should give all 4 tokens"
    clock.advance(1.5)
    assert bucket.get_available_tokens() == pytest.approx(3), (
        f"with a clock starting at {start}, 1.5 s at 2 tokens/s should refill 3 tokens"
    )


def test_a_clock_that_reads_below_zero_refills_by_elapsed_time():
    # Only differences between readings mean anything: an injected clock may start below 0.
    clock = FakeClock(start=-1000.0)
    bucket = TokenBucketRateLimiter(4, 2, clock=clock)
    assert bucket.get_available_tokens() == pytest.approx(4), "a new bucket should start full whatever the clock reads"
    assert bucket.consume(4), "a full bucket of 4 should give all 4 tokens"
    clock.advance(1.5)
    assert bucket.get_available_tokens() == pytest.approx(3), (
        "with a clock reading -1000 s, 1.5 s at 2 tokens/s should refill 3 tokens: count the time from the "
        "first reading of the clock, not from 0"
    )


@pytest.mark.parametrize("stepped_back", ["get_available_tokens", "consume"], ids=["reader", "consumer"])
def test_a_clock_that_steps_back_refills_no_stretch_twice(stepped_back):
    # An injected clock may step back (a clock set back, a fake moved by hand). Clamping the negative gap to 0 but
    # still remembering the earlier reading makes the clock's way forward again (5 -> 10) refill a second time.
    now = [0.0]
    bucket = TokenBucketRateLimiter(100, 1, clock=lambda: now[0])
    assert bucket.consume(100) is True, "a full bucket of 100 should give all 100 tokens"
    now[0] = 10.0
    held = bucket.get_available_tokens()
    assert held == pytest.approx(10), f"10 s at 1 token/s should refill 10 tokens, the bucket holds {held!r}"
    now[0] = 5.0
    if stepped_back == "consume":
        assert bucket.consume(50) is False, "a bucket holding 10 tokens or fewer should refuse 50"
    else:
        held = bucket.get_available_tokens()
        assert held <= 10 + 1e-9, f"a clock stepping back from 10 s to 5 s should refill nothing, the bucket holds {held!r}"
    now[0] = 10.0
    held = bucket.get_available_tokens()
    assert held <= 10 + 1e-9, (
        f"the clock read 0, 10, 5 and 10 again at 1 token/s, and a {stepped_back}() call saw the 5: the bucket was "
        f"emptied at 0 and can hold at most 10 tokens, it holds {held!r}: the time from 5 to 10 was counted twice "
        "(a clock stepping back refills nothing, and the time it steps back over was counted already)"
    )
    now[0] = 12.0
    held = bucket.get_available_tokens()
    assert held == pytest.approx(12), (
        f"the clock read 0, 10, 5, 10 and then 12 at 1 token/s: the bucket emptied at 0 should hold 12 tokens, it "
        f"holds {held!r} (the 2 s past 10 refill as usual)"
    )


def test_a_clock_that_steps_back_takes_no_tokens_away():
    # The textbook refill, tokens + (now - last) * rate with no check that now is later, adds a negative gain.
    now = [0.0]
    bucket = TokenBucketRateLimiter(1, 1, clock=lambda: now[0])
    now[0] = -100.0
    held = bucket.get_available_tokens()
    assert held == pytest.approx(1), (
        f"a full bucket of 1 whose clock steps back from 0 to -100 s should still hold 1 token (stepping back "
        f"refills nothing and takes nothing away), it holds {held!r}")
    assert bucket.consume(1) is True, "a full bucket of 1 whose clock stepped back should still give its 1 token"


def test_uses_the_injected_clock_not_real_time(clock):
    bucket = TokenBucketRateLimiter(2, 1000, clock=clock)
    assert bucket.consume(2), "a full bucket of 2 should give 2 tokens"
    threading.Event().wait(0.02)  # real time passes; the injected clock does not
    assert bucket.get_available_tokens() == pytest.approx(0), "refill must follow the given clock only"


def test_the_default_clock_is_time_monotonic(monkeypatch):
    # Load your file afresh while time.monotonic and time.time are fakes, so the default binds to them.
    monotonic, wall = FakeClock(start=1000.0), FakeClock()
    monkeypatch.setattr(time, "monotonic", monotonic)
    monkeypatch.setattr(time, "time", wall)
    learner_file = sys.modules[TokenBucketRateLimiter.__module__].__file__
    spec = importlib.util.spec_from_file_location("fresh_rate_limiter", learner_file)
    fresh = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, fresh)
    spec.loader.exec_module(fresh)
    bucket = fresh.TokenBucketRateLimiter(2, 1)
    assert bucket.consume(2), "a full bucket of 2 should give 2 tokens"
    wall.advance(3600)
    assert bucket.get_available_tokens() == pytest.approx(0), (
        "the wall clock jumped an hour but time.monotonic() did not move: without a clock argument the "
        "bucket should follow time.monotonic (the default), not time.time, which jumps when the clock is set"
    )
    monotonic.advance(1.5)
    assert bucket.get_available_tokens() == pytest.approx(1.5), (
        "1.5 s of time.monotonic() at 1 token/s should refill 1.5 tokens when no clock is given"
    )


steps = st.lists(
    st.tuples(st.floats(0, 5, allow_nan=False), st.floats(0.01, 12, allow_nan=False)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=80)
@given(capacity=st.floats(0.5, 10), rate=st.floats(0, 4), steps=steps)
# Always tried first: a refused request after a partial refill must leave the refill in place.
@example(capacity=4.0, rate=2.0, steps=[(0.0, 4.0), (0.5, 3.0), (0.0, 3.0)])
def test_matches_a_simple_model_for_any_sequence(capacity, rate, steps):
    clock = FakeClock()
    bucket = TokenBucketRateLimiter(capacity, rate, clock=clock)
    tokens = capacity
    for wait, request in steps:
        before = clock()
        clock.advance(wait)
        # The clock reads ~1.7e9 s, so `wait` itself is not exactly representable as a
        # step of it: the model refills by the elapsed time the bucket can actually see.
        tokens = min(capacity, tokens + (clock() - before) * rate)
        allowed = request <= tokens + 1e-9
        got = bucket.consume(request)
        if abs(request - tokens) > 1e-6:  # leave float ties at the boundary alone
            assert got == allowed, f"consume({request}) with {tokens:.6f} tokens should be {allowed}"
        if got:
            tokens -= request
        assert bucket.get_available_tokens() == pytest.approx(tokens, abs=1e-6), (
            f"after waiting {wait}s and consume({request}) the bucket should hold {tokens:.6f} tokens"
        )


class YieldingFloat(float):
    """A token count whose comparisons pause, so other threads run between a check and a take."""

    def _pause(self):
        time.sleep(0.0002)

    def __lt__(self, other):
        self._pause()
        return float(self) < other

    def __le__(self, other):
        self._pause()
        return float(self) <= other

    def __gt__(self, other):
        self._pause()
        return float(self) > other

    def __ge__(self, other):
        self._pause()
        return float(self) >= other


@pytest.fixture
def threads_switch_between_lines(impl_dir):
    """Every thread started in the test gives up the CPU before each line of your code runs, so
    a check on one line and a take on the next interleave with other threads unless a lock holds
    them together, whatever number types your code converts the tokens to."""
    with switching_threads(impl_dir):
        yield


@pytest.fixture
def threads_switch_between_operations(impl_dir):
    """Like threads_switch_between_lines, but before every bytecode operation of your code: a
    count read and written back within one line (`self.tokens = min(...)`) then interleaves too,
    even when the arithmetic runs in exact fractions or decimals that no test number can pause."""
    with switching_threads(impl_dir, operations=True):
        yield


@pytest.mark.parametrize(
    "buckets, capacity, attempts, switch_between_lines",
    [(1, 100, 30, False), (12, 2, 2, True)],
    ids=["one-bucket", "many-small-buckets-line-by-line"],
)
def test_concurrent_consumers_never_get_more_than_the_bucket_holds(
    buckets, capacity, attempts, switch_between_lines, clock, request
):
    # Many small buckets: each one's last token is a fresh chance for two threads to race.
    if switch_between_lines:
        request.getfixturevalue("threads_switch_between_lines")
    limiters = [TokenBucketRateLimiter(capacity, 0, clock=clock) for _ in range(buckets)]
    workers = 8
    start = threading.Barrier(workers)
    one = YieldingFloat(1)

    def hammer(_):
        start.wait(timeout=10)
        return [sum(bucket.consume(one) for _ in range(attempts)) for bucket in limiters]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        granted = [sum(column) for column in zip(*pool.map(hammer, range(workers)))]
    assert granted == [capacity] * buckets, (
        f"{workers} threads each asked {attempts} times for 1 token from every bucket of {capacity} (never "
        f"refilling); each bucket should grant exactly {capacity}, they granted {granted} (make consume "
        "thread-safe: refill, check and take under one lock)"
    )
    assert all(bucket.get_available_tokens() == pytest.approx(0) for bucket in limiters), (
        "every bucket should be empty afterwards"
    )


def test_threads_sharing_a_brand_new_limiter_never_get_more_than_it_holds(threads_switch_between_lines):
    # The first calls to a new limiter may come from many threads at once. A lock made on first use
    # (`if self._lock is None: self._lock = Lock()`) is a check-then-act race of its own: two threads
    # both see no lock, each makes one, and each holds "the" lock while taking the same last token.
    buckets = [TokenBucketRateLimiter(1, 0, clock=FakeClock()) for _ in range(60)]
    workers = 6
    start = threading.Barrier(workers)
    granted = [0] * len(buckets)
    count_lock = threading.Lock()
    errors = []

    def first_calls():
        try:
            for index, bucket in enumerate(buckets):
                start.wait(timeout=5)  # all threads make their first call to each limiter together
                if bucket.consume(1):
                    with count_lock:
                        granted[index] += 1
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))

    # Daemon threads: a call hung on a lock must not hang the test run.
    threads = [threading.Thread(target=first_calls, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), (
        f"{workers} threads each calling consume(1) once on {len(buckets)} new limiters did not finish within 10 s: "
        "a lock is held for ever (made lazily, one thread released another thread's lock?); create the lock "
        "in __init__"
    )
    assert not errors, f"consume raised while threads shared new limiters: {errors[:3]} (create the lock in __init__)"
    overgranted = [index for index, count in enumerate(granted) if count != 1]
    assert not overgranted, (
        f"every new limiter of capacity 1 should grant exactly 1 token to {workers} threads asking at once, but "
        f"limiters {overgranted[:5]} granted {[granted[i] for i in overgranted[:5]]}: the lock must exist before the "
        "first call (create it in __init__), a lock made on first use lets two threads each make and hold their own"
    )


class TickingClock:
    """A clock that moves forward a tick (a millisecond unless told) every time it is read, as a real
    one always has by the next call: a reader that refills only when time has passed still writes."""

    def __init__(self, start=1_700_000_000.0, tick=0.001):
        self.now = start
        self.tick = tick
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.now += self.tick
            return self.now


class StallingClock(TickingClock):
    """A ticking clock that holds every other reader back a millisecond after it has read the time,
    as a thread preempted right after reading the clock would be: a later reading can reach the
    bucket before an earlier one."""

    def __init__(self, start, tick):
        super().__init__(start, tick)
        self.reads = 0

    def __call__(self):
        with self._lock:
            self.now += self.tick
            self.reads += 1
            now, stall = self.now, self.reads % 2
        if stall:
            time.sleep(0.001)
        return now


def test_concurrent_consumers_get_no_more_than_the_capacity_plus_the_refill():
    # Every read moves the clock 1/1024 s and the bucket refills 64 tokens/s, 1/16 token per read
    # (exact in floats and fractions alike). A consumer that reads the clock before taking the lock
    # can record an older time after a newer one, and the next refill counts that time twice.
    clock = StallingClock(start=1024.0, tick=2**-10)
    capacity, rate = 2, 64
    bucket = TokenBucketRateLimiter(capacity, rate, clock=clock)
    workers, attempts = 8, 40
    start = threading.Barrier(workers)

    def hammer(_):
        start.wait(timeout=10)
        return sum(bucket.consume(1) for _ in range(attempts))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        granted = sum(pool.map(hammer, range(workers)))
    refilled = (clock.now - 1024.0) * rate
    assert granted <= capacity + refilled, (
        f"a bucket of {capacity} that refilled at most {refilled:g} tokens over the whole test granted {granted} "
        f"tokens to {workers} threads: read the clock, refill, check and take under one lock, so that no "
        "stretch of time is counted twice"
    )


def test_every_moment_of_clock_time_refills_once():
    # The clock moves a tick on every read. A refill that computes the elapsed time from one
    # reading and stores another loses the time between the two on every call.
    tick = 2**-10
    clock = TickingClock(start=1024.0, tick=tick)
    bucket = TokenBucketRateLimiter(1000, 1 / tick, clock=clock)  # one token per tick, exact in floats
    assert bucket.consume(1000), "a full bucket of 1000 should give all 1000 tokens"
    emptied = clock.now  # the bucket was emptied at this reading or an earlier one
    for _ in range(50):
        bucket.get_available_tokens()
    last_call_reads_from = clock.now + tick
    available = bucket.get_available_tokens()
    at_least = (last_call_reads_from - emptied) / tick
    assert available >= at_least - 1e-9, (
        f"{at_least:g} ticks of clock time passed between emptying the bucket and the last "
        f"get_available_tokens() (one token per tick), yet it holds only {available:g} tokens: every stretch of "
        "clock time must refill, also the time between the reading a refill counts from and the one it stores"
    )


def test_calls_less_than_a_microsecond_apart_each_refill_their_share():
    # A busy server calls the limiter more often than once a microsecond. A refill that skips a tiny
    # gain ("sub-microsecond jitter") but still remembers the new reading loses all of that time.
    tick = 2**-23  # about 0.12 microseconds per read, exact in floats near 1024
    clock = TickingClock(start=1024.0, tick=tick)
    bucket = TokenBucketRateLimiter(1000, 1 / tick, clock=clock)  # one token per tick, exact in floats
    assert bucket.consume(1000), "a full bucket of 1000 should give all 1000 tokens"
    emptied = clock.now
    for _ in range(50):
        bucket.get_available_tokens()
    available = bucket.get_available_tokens()
    at_least = (clock.now - emptied) / tick - 2
    assert available >= at_least - 1e-9, (
        f"{at_least:g} ticks of 0.12 microseconds passed after emptying the bucket (one token per tick), read "
        f"one call at a time, yet it holds only {available:g} tokens: every stretch of clock time refills, "
        "however short, so never skip a small gain while moving the remembered reading on"
    )


@pytest.mark.parametrize("float32", ["capacity", "refill_rate", "request"])
def test_numpy_float32_settings_still_count_every_tiny_stretch(float32):
    # NumPy keeps float32 arithmetic float32 when a Python float joins it (5.0 - float32(5) is a float32, and so is
    # 1e-7 * float32(1)): a count kept that way has steps of about 5e-7 near 5, so a refill of 1e-7 tokens rounds
    # to nothing, while the clock reading moves on. Turn NumPy numbers into Python ones (float()) first.
    tick = 2**-23  # about 0.12 microseconds, exact in floats near 1024
    clock = FakeClock(start=1024.0)
    settings = {"capacity": 10.0, "refill_rate": 1.0, "request": 5.0}
    settings[float32] = np.float32(settings[float32])
    bucket = TokenBucketRateLimiter(settings["capacity"], settings["refill_rate"], clock=clock)
    assert bucket.consume(settings["request"]) is True, "a full bucket of 10 should give 5 tokens"
    for _ in range(1000):
        clock.advance(tick)
        bucket.get_available_tokens()
    available = float(bucket.get_available_tokens())
    assert available >= 5 + 0.9 * 1000 * tick, (
        f"a bucket of 10 refilling 1 token/s, with a numpy.float32 {float32.replace('_', ' ')}, holds {available!r} "
        f"tokens after giving 5 and being read 1000 times 0.12 microseconds apart; it should hold {5 + 1000 * tick!r}: "
        "count in Python floats (or exactly), not float32, so every tiny stretch of clock time still refills"
    )


@pytest.mark.parametrize("held_back", ["consume", "get_available_tokens"], ids=["consumer", "reader"])
def test_a_call_held_back_after_reading_the_clock_does_not_refill_time_twice(held_back):
    # "slow" reads 10.0 and is held back before it can take the lock; "fast" reads 20.0 meanwhile.
    # If fast gets through first, slow must not then store its older reading: the next refill
    # would count 10..20 again. A bucket that reads the clock under its lock makes fast wait instead.
    # A reader refills too, so a held-back get_available_tokens() must not store an old reading either.
    now_of = {"slow": 10.0, "fast": 20.0}
    main_now = [0.0]
    slow_has_read, fast_has_read, release_slow = threading.Event(), threading.Event(), threading.Event()

    def clock():
        name = threading.current_thread().name
        if name == "slow" and not slow_has_read.is_set():
            slow_has_read.set()
            release_slow.wait(timeout=10)
        elif name == "fast":
            fast_has_read.set()
        return now_of.get(name, main_now[0])

    bucket = TokenBucketRateLimiter(100, 1, clock=clock)
    assert bucket.consume(100), "a full bucket of 100 should give all 100 tokens"
    granted = []

    def call():
        if threading.current_thread().name == "slow" and held_back == "get_available_tokens":
            bucket.get_available_tokens()
        else:
            granted.append(bucket.consume(1))

    threads = {name: threading.Thread(target=call, name=name, daemon=True) for name in ("slow", "fast")}
    try:
        threads["slow"].start()
        assert slow_has_read.wait(timeout=10), f"{held_back}() in the first thread never read the clock"
        threads["fast"].start()
        if fast_has_read.wait(timeout=0.5):  # fast read the clock while slow holds no lock
            threads["fast"].join(timeout=10)
    finally:
        release_slow.set()
    for thread in threads.values():
        thread.join(timeout=10)
        assert not thread.is_alive(), f"the call in thread {thread.name!r} did not return within 10 s"
    main_now[0] = 20.0
    available = bucket.get_available_tokens()
    assert granted.count(True) + available <= 20 + 1e-9, (
        f"the bucket was emptied at 0 s and refills 1 token/s, so by 20 s it can have handed out and held at most "
        f"20 tokens together; it granted {granted.count(True)} and holds {available:g}: a {held_back}() held back "
        "after reading the clock stored its older reading after a newer one, so that time refilled twice (read "
        "the clock under the lock, or never move the stored time backwards)"
    )
    assert granted.count(True) + available == pytest.approx(20), (
        f"the bucket was emptied at 0 s and refills 1 token/s, so by 20 s it has handed out and held 20 tokens "
        f"together; it granted {granted.count(True)} and holds {available:g}: a {held_back}() held back after "
        "reading the clock counted from its older reading, and that time was lost (every stretch refills once)"
    )


def test_a_limiter_waiting_on_its_clock_holds_up_no_other_limiter():
    release, entered = threading.Event(), threading.Event()

    def stuck_clock():
        if threading.current_thread().name == "stuck":
            entered.set()
            release.wait(timeout=10)
        return 0.0

    stuck = TokenBucketRateLimiter(5, 1, clock=stuck_clock)
    other = TokenBucketRateLimiter(5, 1, clock=lambda: 0.0)
    waiting = threading.Thread(target=stuck.consume, name="stuck", daemon=True)
    waiting.start()
    try:
        assert entered.wait(timeout=10), "consume() on the first limiter never read its clock"
        answered = []
        caller = threading.Thread(target=lambda: answered.append(other.consume(1)), daemon=True)
        caller.start()
        caller.join(timeout=5)
        assert answered == [True], (
            "a second limiter's consume(1) did not answer while the first limiter waited on its clock: each limiter "
            "has its own lock (made in __init__, not one shared by the class or the module)")
    finally:
        release.set()
        waiting.join(timeout=10)


@pytest.mark.parametrize(
    "switching, tokens, attempts",
    [
        (None, 60, 20),
        ("threads_switch_between_lines", 30, 10),
        ("threads_switch_between_operations", 20, 10),
    ],
    ids=["free-running", "line-by-line", "operation-by-operation"],
)
def test_reading_the_tokens_while_others_consume_never_grants_extra(switching, tokens, attempts, request):
    # A reader refills too: if it does so outside the lock, it can write back a stale count.
    # The clock ticks on every read and the bucket refills a millionth of a token per second,
    # so every refill changes the count, yet all of them together add far less than 1 token.
    if switching:
        request.getfixturevalue(switching)
    bucket = TokenBucketRateLimiter(YieldingFloat(tokens), 1e-6, clock=TickingClock())
    workers = 8
    start = threading.Barrier(workers)
    consumers_left = [workers // 2]
    count_lock = threading.Lock()
    consumers_done = threading.Event()

    def hammer(worker):
        start.wait(timeout=10)
        if worker % 2:
            for _ in range(attempts if not switching else 30 * attempts):
                bucket.get_available_tokens()
                if consumers_done.is_set():  # line by line, read on until every consumer has finished
                    break
            return 0
        granted = sum(bucket.consume(1) for _ in range(attempts))
        with count_lock:
            consumers_left[0] -= 1
            if not consumers_left[0]:
                consumers_done.set()
        return granted

    with ThreadPoolExecutor(max_workers=workers) as pool:
        granted = sum(pool.map(hammer, range(workers)))
    assert granted == tokens, (
        f"a bucket of {tokens} that refills less than 1 token in the whole test should grant exactly {tokens} of "
        f"{workers // 2 * attempts} "
        f"requests; it granted {granted} while other threads called get_available_tokens(): refilling and "
        "reading the count must happen under the same lock as consume"
    )
