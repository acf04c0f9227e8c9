"""Task 1: the micro-batcher, driven by real threads.

`predict_batch` here is a recorder the tests control: it notes every batch it is given
and, when gated, holds its first call until the test opens the gate. While the worker is
held inside that call, everything submitted waits in the queue, so the tests know the
queue's state without timing anything.
"""

import contextlib
import subprocess
import sys
import threading
import time
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import batcher as batcher_module
import pytest
from batcher import MicroBatcher, QueueFull
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_katas.interleave import on_every_line_of, switching_threads

pytestmark = pytest.mark.task(taskno=1)

WAIT_S = 5  # generous bound on anything that should happen within milliseconds


class Recorder:
    """A predict_batch that records its batches; `gated` holds the first call until `open()`."""

    def __init__(self, gated: bool = False, result=lambda x: ("done", x)) -> None:
        self.batches: list[list] = []
        self.non_lists: list = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.result = result
        self._lock = threading.Lock()

    def __call__(self, items):
        if not isinstance(items, list):
            self.non_lists.append(type(items).__name__)
        with self._lock:
            self.batches.append(list(items))
        self.entered.set()
        assert self.gate.wait(WAIT_S), "test gate never opened"
        return [self.result(x) for x in items]

    def open(self) -> None:
        self.gate.set()

    @property
    def items(self) -> list:
        return [x for batch in self.batches for x in batch]


@contextlib.contextmanager
def opened_on_exit(recorder: Recorder):
    """Opens the gate when the block ends, also on a failed assertion, before the batcher closes:
    a close() that waits for the held batch must not wait out the gate's own time limit."""
    try:
        yield
    finally:
        recorder.open()


def batcher_threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def wait_for_threads_to_end(threads: set[threading.Thread]) -> list[str]:
    """Names of the threads of `threads` still alive after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threads if t.is_alive()]


def hold_worker(recorder: Recorder, batcher: MicroBatcher):
    """Submit one item and wait until the worker is inside predict_batch with it (after the
    batcher's max_wait_s, which these tests keep short). Full batches queued behind it are
    then sent without waiting."""
    first = batcher.submit("first")
    assert recorder.entered.wait(WAIT_S), (
        f"one submitted item should reach predict_batch within {WAIT_S} s (is the worker thread started?)")
    return first


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"max_batch_size": 0, "max_wait_s": 0.01},
    {"max_batch_size": -3, "max_wait_s": 0.01},
    {"max_batch_size": 4, "max_wait_s": -0.001},
    {"max_batch_size": 4, "max_wait_s": 0.01, "max_queue": 0},
    {"max_batch_size": 4, "max_wait_s": 0.01, "max_queue": -1},
    pytest.param({"max_batch_size": float("nan"), "max_wait_s": 0.01}, id="max_batch_size-nan"),
    pytest.param({"max_batch_size": 4, "max_wait_s": float("nan")}, id="max_wait_s-nan"),
    pytest.param({"max_batch_size": 4, "max_wait_s": 0.01, "max_queue": float("nan")}, id="max_queue-nan"),
])
def test_invalid_arguments_raise_value_error(kwargs):
    try:
        with pytest.raises(ValueError):
            batcher = MicroBatcher(Recorder(), **kwargs)
    except pytest.fail.Exception:
        batcher.close()
        pytest.fail(f"MicroBatcher(..., {kwargs}) should raise ValueError (NaN too: every comparison with NaN is "
                    "false, so a check like `max_wait_s < 0` lets it through; check `not max_wait_s >= 0`)")


@pytest.mark.parametrize("kwargs", [
    {"max_batch_size": 1, "max_wait_s": 0},
    {"max_batch_size": 1, "max_wait_s": 0.0, "max_queue": 1},
    {"max_batch_size": 2, "max_wait_s": 0.01, "max_queue": None},
])
def test_the_smallest_allowed_values_are_accepted(kwargs):
    recorder = Recorder()
    with MicroBatcher(recorder, **kwargs) as batcher:
        assert batcher.submit(7).result(timeout=WAIT_S) == ("done", 7), (
            f"a batcher made with {kwargs} should answer a submitted item")


# --- answers -----------------------------------------------------------------------------------


def test_a_submitted_item_resolves_to_its_result_and_the_context_manager_hands_back_the_batcher():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=4, max_wait_s=0.01) as batcher:
        assert isinstance(batcher, MicroBatcher), "`with MicroBatcher(...) as batcher` should give the batcher"
        future = batcher.submit(5)
        assert future.result(timeout=WAIT_S) == ("done", 5), "the item's future should resolve to its result"
    assert recorder.batches == [[5]], f"predict_batch should have been called once with [5]; got {recorder.batches}"
    assert not recorder.non_lists, f"predict_batch should be given a list, got {recorder.non_lists}"


def test_none_is_an_item_like_any_other():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=4, max_wait_s=0.01) as batcher:
        try:
            answers = [batcher.submit(None).result(timeout=WAIT_S), batcher.submit("next").result(timeout=WAIT_S)]
        except FutureTimeout:
            pytest.fail(f"submit(None) and the item after it were still unanswered after {WAIT_S} s: None is an item "
                        "like any other, not the signal to stop (close() needs a marker no caller can submit, such "
                        "as a private object(), or a closed flag)")
    assert answers == [("done", None), ("done", "next")], (
        f"None should be batched and answered like any item, and the worker should go on; got {answers}")


def test_the_ith_result_resolves_the_ith_items_future():
    recorder = Recorder(gated=True, result=lambda x: x * 10)
    with MicroBatcher(recorder, max_batch_size=5, max_wait_s=0.05) as batcher, opened_on_exit(recorder):
        hold_worker(recorder, batcher)
        futures = {x: batcher.submit(x) for x in (3, 1, 4, 1.5, 9)}
        recorder.open()
        got = {x: f.result(timeout=WAIT_S) for x, f in futures.items()}
    assert got == {x: x * 10 for x in futures}, f"each future should get its own item's result; got {got}"
    assert recorder.batches[1] == [3, 1, 4, 1.5, 9], (
        f"the waiting items should form one batch in submission order; got {recorder.batches}")


def test_waiting_items_are_batched_up_to_max_batch_size_in_submission_order():
    recorder = Recorder(gated=True)
    with MicroBatcher(recorder, max_batch_size=3, max_wait_s=0.05) as batcher, opened_on_exit(recorder):
        hold_worker(recorder, batcher)
        futures = [batcher.submit(i) for i in range(9)]
        recorder.open()
        for f in futures:
            f.result(timeout=WAIT_S)
    assert recorder.batches == [["first"], [0, 1, 2], [3, 4, 5], [6, 7, 8]], (
        "with max_batch_size=3 and 9 items waiting, the worker should make batches of the 3 oldest, "
        f"then the next 3...; got {recorder.batches}")


def test_the_worker_waits_up_to_max_wait_s_for_more_items():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=4, max_wait_s=WAIT_S) as batcher:
        first = batcher.submit("a")
        time.sleep(0.2)  # the worker has taken "a" by now and should still be collecting
        rest = [batcher.submit(x) for x in "bcd"]
        for f in [first, *rest]:
            f.result(timeout=WAIT_S)
    assert recorder.batches == [["a", "b", "c", "d"]], (
        f"with max_wait_s={WAIT_S}, items submitted 0.2 s after the first should join its batch (which is then full); "
        f"got {recorder.batches}")


def test_a_partial_batch_is_sent_once_max_wait_s_has_passed():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=1000, max_wait_s=0.05) as batcher:
        future = batcher.submit("alone")
        try:
            result = future.result(timeout=WAIT_S)
        except FutureTimeout:
            pytest.fail(f"a lone item should be sent after max_wait_s=0.05, but after {WAIT_S} s it is still waiting "
                        "for a full batch")
    assert result == ("done", "alone") and recorder.batches == [["alone"]], f"got batches {recorder.batches}"


def test_max_wait_s_counts_from_the_first_item_and_does_not_restart_with_each_new_one():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=100_000, max_wait_s=0.2) as batcher:
        first = batcher.submit(0)
        deadline = time.monotonic() + WAIT_S
        n = 1
        # A steady trickle, one item every 20 ms: a timer that restarts with each item never fires.
        while not first.done() and time.monotonic() < deadline:
            batcher.submit(n)
            n += 1
            time.sleep(0.02)
        assert first.done(), (
            f"with items arriving every 20 ms, the first item waited {WAIT_S} s: max_wait_s=0.2 counts from when the "
            "worker took the first item, it does not restart whenever another arrives")


def test_an_item_that_arrives_late_does_not_stretch_the_first_items_wait():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=100, max_wait_s=0.8) as batcher:
        first = batcher.submit("a")
        time.sleep(0.55)
        batcher.submit("b")  # joins a's batch; a's deadline is still 0.8 s after the worker took it
        time.sleep(0.55)  # 1.1 s after "a": its batch has been sent
        batcher.submit("c")
        first.result(timeout=WAIT_S)
    with_a = next(batch for batch in recorder.batches if "a" in batch)
    assert "c" not in with_a, (
        "with max_wait_s=0.8, an item submitted 1.1 s after the first should not join the first's batch: the wait "
        "counts from when the worker took the first item, not from the latest arrival (when the worker wakes for "
        f"an item, it should wait only the time left, not max_wait_s again); got batches {recorder.batches}")


def test_an_idle_spell_longer_than_max_wait_s_does_not_use_up_the_next_batchs_wait():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=2, max_wait_s=0.5) as batcher:
        assert batcher.submit("warm-up").result(timeout=WAIT_S) == ("done", "warm-up"), "an item is answered"
        time.sleep(0.6)  # the worker idles longer than max_wait_s
        first = batcher.submit("a")
        time.sleep(0.1)
        second = batcher.submit("b")
        for f in (first, second):
            f.result(timeout=WAIT_S)
    assert recorder.batches == [["warm-up"], ["a", "b"]], (
        "max_wait_s counts from when the worker takes the first item of a batch, not from when it began waiting for "
        "one: after an idle spell longer than max_wait_s=0.5, 'b', submitted 0.1 s after 'a', should share its batch "
        f"(start the deadline once the first item is taken); got {recorder.batches}")


def test_the_wait_counts_from_when_the_worker_takes_the_item_not_from_its_submit():
    recorder = Recorder(gated=True)
    with MicroBatcher(recorder, max_batch_size=2, max_wait_s=0.6) as batcher, opened_on_exit(recorder):
        held = [batcher.submit(x) for x in ("x1", "x2")]  # a full batch: sent at once, then held
        assert recorder.entered.wait(WAIT_S), "a full batch should reach predict_batch at once"
        late = batcher.submit("a")
        time.sleep(0.7)  # "a" has waited longer than max_wait_s, behind the busy worker
        recorder.open()  # the worker now takes "a" and collects for up to 0.6 s
        time.sleep(0.1)
        b = batcher.submit("b")
        for f in [*held, late, b]:
            f.result(timeout=WAIT_S)
    assert recorder.batches == [["x1", "x2"], ["a", "b"]], (
        "max_wait_s counts from when the worker takes the first item of a batch, not from when it was submitted: "
        "an item that waited behind a busy worker still gets its max_wait_s to collect company, so 'b', submitted "
        f"0.1 s after the worker took 'a' (max_wait_s=0.6), should share its batch; got {recorder.batches}")


def test_a_full_batch_already_waiting_is_sent_without_waiting_out_max_wait_s():
    recorder = Recorder(gated=True)
    with MicroBatcher(recorder, max_batch_size=2, max_wait_s=10) as batcher, opened_on_exit(recorder):
        held = [batcher.submit(x) for x in ("x1", "x2")]  # a full batch: sent at once, then held
        assert recorder.entered.wait(WAIT_S), (
            "two items with max_batch_size=2 make a full batch, which should reach predict_batch at once, not after "
            "max_wait_s=10")
        waiting = [batcher.submit(x) for x in ("y1", "y2")]  # another full batch, waiting behind the busy worker
        recorder.open()
        try:
            answers = [f.result(timeout=WAIT_S) for f in [*held, *waiting]]
        except FutureTimeout:
            pytest.fail(
                f"two items were already waiting when the worker came for them (max_batch_size=2): they should be "
                f"batched and sent at once, but after {WAIT_S} s they were still waiting out max_wait_s=10 (take the "
                "items already queued before waiting for more)")
    assert answers == [("done", x) for x in ("x1", "x2", "y1", "y2")], f"each item gets its result; got {answers}"
    assert recorder.batches == [["x1", "x2"], ["y1", "y2"]], f"two full batches; got {recorder.batches}"


def test_with_max_wait_s_zero_no_batch_is_held_back():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=50, max_wait_s=0) as batcher:
        assert batcher.submit(1).result(timeout=WAIT_S) == ("done", 1), "max_wait_s=0 should send at once"


def test_predict_batch_is_never_called_with_an_empty_list():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=4, max_wait_s=0.001) as batcher:
        time.sleep(0.3)  # idle: many wait periods pass with nothing queued
        batcher.submit(1).result(timeout=WAIT_S)
        time.sleep(0.1)
    assert [] not in recorder.batches, f"predict_batch was called with an empty list: {recorder.batches}"
    assert recorder.batches == [[1]], f"only one item was submitted; got batches {recorder.batches}"


def test_many_threads_submitting_at_once_each_get_their_own_answers():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=8, max_wait_s=0.002) as batcher:
        def client(who: int):
            futures = [(i, batcher.submit((who, i))) for i in range(40)]
            return [(who, i, f.result(timeout=WAIT_S)) for i, f in futures]

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = [a for part in pool.map(client, range(12)) for a in part]
    wrong = [(who, i, got) for who, i, got in answers if got != ("done", (who, i))]
    assert not wrong, f"some futures got another item's result: {wrong[:5]}"
    sizes = [len(b) for b in recorder.batches]
    assert all(1 <= s <= 8 for s in sizes), f"every batch should hold 1 to max_batch_size=8 items; sizes {sizes}"
    assert sorted(recorder.items) == sorted((w, i) for w in range(12) for i in range(40)), (
        "every submitted item should reach predict_batch exactly once")
    for who in range(12):
        mine = [i for w, i in recorder.items if w == who]
        assert mine == sorted(mine), f"thread {who}'s items reached predict_batch out of submission order: {mine}"


@settings(max_examples=15)
@given(items=st.lists(st.integers(), min_size=1, max_size=30), max_batch_size=st.integers(1, 6),
       max_wait_s=st.sampled_from([0, 0.001, 0.003]))
def test_batches_partition_the_items_in_order(items, max_batch_size, max_wait_s):
    recorder = Recorder(result=lambda x: -x)
    with MicroBatcher(recorder, max_batch_size=max_batch_size, max_wait_s=max_wait_s) as batcher:
        futures = [batcher.submit(x) for x in items]
        results = [f.result(timeout=WAIT_S) for f in futures]
    assert results == [-x for x in items], "each future should resolve to its own item's result"
    assert recorder.items == items, f"the batches, joined, should be the items in submission order: {recorder.batches}"
    assert all(1 <= len(b) <= max_batch_size for b in recorder.batches), (
        f"batch sizes should be 1..{max_batch_size}: {[len(b) for b in recorder.batches]}")


def test_two_batchers_never_see_each_others_items():
    first_recorder, second_recorder = Recorder(gated=True), Recorder()
    with (MicroBatcher(first_recorder, max_batch_size=4, max_wait_s=0.05) as first,
          MicroBatcher(second_recorder, max_batch_size=4, max_wait_s=0.05) as second,
          opened_on_exit(first_recorder)):
        hold_worker(first_recorder, first)
        waiting = first.submit("for the first")  # waits behind the first batcher's held call
        answer = second.submit("for the second").result(timeout=WAIT_S)
        first_recorder.open()
        waited = waiting.result(timeout=WAIT_S)
    assert answer == ("done", "for the second") and second_recorder.items == ["for the second"], (
        "every batcher has its own queue and worker (keep the queue in the instance, not in a class attribute "
        "shared by every batcher): the second batcher's predict_batch should see only the item submitted to it; "
        f"it saw {second_recorder.batches}")
    assert waited == ("done", "for the first") and first_recorder.items == ["first", "for the first"], (
        f"the first batcher should answer its own items; its predict_batch saw {first_recorder.batches}")


# --- failures -------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def falls_over_on_bad(gate):
    """A model that raises Boom for any batch holding "bad" and upper-cases every other."""

    def predict_batch(items):
        gate(items)
        if "bad" in items:
            raise Boom("the model fell over")
        return [x.upper() for x in items]

    return predict_batch


def test_a_failing_batch_fails_all_its_futures_and_the_worker_goes_on():
    gate = Recorder(gated=True)
    predict_batch = falls_over_on_bad(gate)

    with MicroBatcher(predict_batch, max_batch_size=3, max_wait_s=0.05) as batcher, opened_on_exit(gate):
        hold_worker(gate, batcher)
        batch = [batcher.submit(x) for x in ("x", "bad", "y")]
        gate.open()
        for f in batch:
            error = f.exception(timeout=WAIT_S)
            assert isinstance(error, Boom) and str(error) == "the model fell over", (
                f"every future of a batch whose predict_batch raised should get that exception, got {error!r}")
        after = batcher.submit("z")
        assert after.result(timeout=WAIT_S) == "Z", "after a failed batch the worker should go on with the next one"


@pytest.mark.parametrize("extra", [-1, +1])
def test_a_result_of_the_wrong_length_fails_the_batch_with_value_error(extra):
    gate = Recorder(gated=True)

    def predict_batch(items):
        gate(items)
        return ["r"] * (len(items) + extra)

    with MicroBatcher(predict_batch, max_batch_size=3, max_wait_s=0.05) as batcher, opened_on_exit(gate):
        hold_worker(gate, batcher)
        batch = [batcher.submit(x) for x in "abc"]
        gate.open()
        for f in batch:
            error = f.exception(timeout=WAIT_S)
            assert isinstance(error, ValueError), (
                f"{len(batch) + extra} results for a batch of {len(batch)} should fail every future with ValueError, "
                f"got {error!r}")

    with MicroBatcher(lambda items: [1] * (len(items) + (extra if items == ["bad"] else 0)),
                      max_batch_size=1, max_wait_s=0) as batcher:
        assert isinstance(batcher.submit("bad").exception(timeout=WAIT_S), ValueError), "wrong length → ValueError"
        assert batcher.submit("good").result(timeout=WAIT_S) == 1, "the worker should go on after a wrong-length result"


def test_a_future_cancelled_while_its_item_waits_gets_no_result_and_the_worker_goes_on():
    recorder = Recorder(gated=True)
    with MicroBatcher(recorder, max_batch_size=3, max_wait_s=0.05) as batcher, opened_on_exit(recorder):
        first = hold_worker(recorder, batcher)
        before, given_up, after = (batcher.submit(x) for x in ("before", "given up", "after"))
        assert given_up.cancel(), (
            "a caller should be able to cancel the future of an item still waiting in the queue (the worker has not "
            "taken it yet, so its future is not running)")
        recorder.open()
        try:
            answers = [f.result(timeout=WAIT_S) for f in (first, before, after)]
            later = batcher.submit("later").result(timeout=WAIT_S)
        except FutureTimeout:
            pytest.fail(f"a caller cancelled its future while the item waited, and after {WAIT_S} s other items were "
                        "still unanswered: setting the result of a cancelled future raises InvalidStateError, which "
                        "must not stop the worker (claim each future with set_running_or_notify_cancel() first)")
    assert answers == [("done", x) for x in ("first", "before", "after")] and later == ("done", "later"), (
        f"every item but the cancelled one should get its own result; got {answers} and {later!r}")
    assert given_up.cancelled(), "a future its caller cancelled should stay cancelled and get no result"


def test_a_cancelled_future_in_a_failing_batch_stays_cancelled_and_the_worker_goes_on():
    gate = Recorder(gated=True)
    predict_batch = falls_over_on_bad(gate)

    with MicroBatcher(predict_batch, max_batch_size=3, max_wait_s=0.05) as batcher, opened_on_exit(gate):
        hold_worker(gate, batcher)
        bad, given_up, other = (batcher.submit(x) for x in ("bad", "given up", "other"))
        assert given_up.cancel(), "a caller should be able to cancel the future of an item still waiting"
        gate.open()
        try:
            errors = [f.exception(timeout=WAIT_S) for f in (bad, other)]
            after = batcher.submit("z").result(timeout=WAIT_S)
        except FutureTimeout:
            pytest.fail(f"a batch holding a cancelled future failed, and after {WAIT_S} s other items were still "
                        "unanswered: setting the exception of a cancelled future raises InvalidStateError, which must "
                        "not stop the worker (claim each future with set_running_or_notify_cancel() first)")
    assert all(isinstance(error, Boom) for error in errors), (
        f"the other futures of the failed batch should get its exception, got {errors!r}")
    assert after == "Z", "after the failed batch the worker should go on with the next one"
    assert given_up.cancelled(), "a future its caller cancelled should stay cancelled"


def test_a_batch_whose_every_future_was_cancelled_never_calls_predict_batch_with_an_empty_list():
    recorder = Recorder(gated=True)
    with MicroBatcher(recorder, max_batch_size=2, max_wait_s=0.05) as batcher, opened_on_exit(recorder):
        first = hold_worker(recorder, batcher)
        given_up = [batcher.submit(x) for x in ("gone 1", "gone 2")]
        assert all(f.cancel() for f in given_up), "a caller should be able to cancel a waiting item's future"
        recorder.open()
        assert first.result(timeout=WAIT_S) == ("done", "first"), "the held item gets its result"
        later = batcher.submit("later").result(timeout=WAIT_S)
    assert later == ("done", "later"), f"the batcher goes on serving; got {later!r}"
    assert [] not in recorder.batches, (
        "every item of a batch was cancelled: send them anyway or skip the call, but predict_batch is never called "
        f"with an empty list; got batches {recorder.batches}")


@pytest.mark.parametrize("outcome", ["result", "exception"])
def test_a_cancel_at_any_line_of_the_workers_answering_never_stops_it(impl_dir, outcome):
    """A caller may cancel its future at any moment. Here the cancel lands just before each line your code runs
    once predict_batch has returned (or raised), one line per try, so the gap between a `cancelled()` check and
    `set_result` (or `set_exception`) is hit every run, not by luck."""

    def one_run(cancel_before=None):
        seen = {"lines": 0, "future": None}
        handed_over, returned = threading.Event(), threading.Event()

        def predict_batch(items):
            assert handed_over.wait(WAIT_S), "test setup: the future was never handed over"
            first_call = not returned.is_set()
            returned.set()
            if outcome == "exception" and first_call:
                raise Boom("the model fell over")
            return [("done", x) for x in items]

        def each_line():
            if returned.is_set():
                seen["lines"] += 1
                if seen["lines"] == cancel_before:
                    seen["future"].cancel()

        with on_every_line_of(impl_dir, each_line):  # traces the worker thread the batcher starts
            batcher = MicroBatcher(predict_batch, max_batch_size=1, max_wait_s=0)
        try:
            seen["future"] = batcher.submit("x")
            handed_over.set()
            with contextlib.suppress(CancelledError, FutureTimeout):
                seen["future"].exception(timeout=WAIT_S)  # answered, failed or cancelled
            if cancel_before is None:
                settled, deadline = -1, time.monotonic() + WAIT_S
                while seen["lines"] != settled and time.monotonic() < deadline:  # until the worker waits again
                    settled = seen["lines"]
                    time.sleep(0.05)
                return seen["lines"]
            try:
                after = batcher.submit("after").result(timeout=WAIT_S)
            except FutureTimeout:
                after = None
        finally:
            closer = threading.Thread(target=batcher.close, daemon=True)
            closer.start()
            closer.join(WAIT_S)
        future = seen["future"]
        if future.done() and not future.cancelled():  # the cancel came too late: the future has its outcome
            got = future.exception() if outcome == "exception" else future.result()
            assert isinstance(got, Boom) if outcome == "exception" else got == ("done", "x"), (
                f"a future whose cancel came too late should get its {outcome}, got {got!r}")
        assert after == ("done", "after"), (
            f"the caller cancelled its future just before line {cancel_before} your worker ran after predict_batch "
            f"{'returned' if outcome == 'result' else 'raised'}, and the next item was still unanswered after "
            f"{WAIT_S} s (got {after!r}): a cancel can land between a `cancelled()` check and `set_{outcome}`, which "
            "then raises InvalidStateError and kills the worker. Claim each future with "
            "set_running_or_notify_cancel() (False: skip it) or catch InvalidStateError")

    lines = one_run()
    assert lines, "test setup: the worker should run some lines of your code after predict_batch returns"
    for cancel_before in range(1, min(lines, 100) + 1):
        one_run(cancel_before)


# --- the queue bound ------------------------------------------------------------------------------


def test_a_full_queue_raises_queue_full_exactly_at_max_queue():
    assert issubclass(QueueFull, Exception), "QueueFull should be an Exception subclass"
    recorder = Recorder(gated=True)
    with MicroBatcher(recorder, max_batch_size=1, max_wait_s=0, max_queue=3) as batcher, opened_on_exit(recorder):
        hold_worker(recorder, batcher)  # taken into a batch: it no longer waits
        waiting = [batcher.submit(i) for i in range(3)]
        with pytest.raises(QueueFull):
            batcher.submit("one too many")
        recorder.open()
        assert [f.result(timeout=WAIT_S) for f in waiting] == [("done", i) for i in range(3)], (
            "the items that were accepted should still be answered")
        assert batcher.submit("room again").result(timeout=WAIT_S) == ("done", "room again"), (
            "once the queue has drained, submit should accept items again")
    assert "one too many" not in recorder.items, "a refused item must never reach predict_batch"


def test_items_of_the_batch_being_collected_no_longer_count_as_waiting():
    recorder = Recorder()
    # max_wait_s=60: once the worker has taken "a" it keeps collecting, with "a" out of the queue.
    with MicroBatcher(recorder, max_batch_size=2, max_wait_s=60, max_queue=1) as batcher:
        first = batcher.submit("a")
        second, deadline = None, time.monotonic() + WAIT_S
        while second is None and time.monotonic() < deadline:
            try:
                second = batcher.submit("b")
            except QueueFull:  # fair until the worker has taken "a"
                time.sleep(0.01)
        assert second is not None, (
            f"with max_queue=1, once the worker has taken the first item into the batch it is collecting, nothing "
            f"waits and a second submit should be accepted; it was refused for {WAIT_S} s")
        assert [first.result(timeout=WAIT_S), second.result(timeout=WAIT_S)] == [("done", "a"), ("done", "b")], (
            "both items should be answered")
    assert recorder.batches == [["a", "b"]], (
        f"the second item should join the batch being collected, which is then full; got {recorder.batches}")


def test_without_max_queue_the_queue_is_not_bounded():
    recorder = Recorder(gated=True)
    with MicroBatcher(recorder, max_batch_size=500, max_wait_s=0) as batcher, opened_on_exit(recorder):
        hold_worker(recorder, batcher)
        futures = [batcher.submit(i) for i in range(1000)]
        recorder.open()
        assert [f.result(timeout=WAIT_S) for f in futures] == [("done", i) for i in range(1000)], (
            "without max_queue, 1000 waiting items should all be accepted and answered")
    sizes = [len(b) for b in recorder.batches]
    assert sizes == [1, 500, 500], f"1000 waiting items with max_batch_size=500 make two full batches; got sizes {sizes}"


@pytest.fixture
def threads_switch_between_lines(impl_dir):
    """Every thread started in the test gives up the CPU before each line of your code runs, so a
    check on one line and an append on the next interleave with other threads unless a lock
    holds them together."""
    with switching_threads(impl_dir):
        yield


def test_concurrent_submits_never_overfill_the_queue(threads_switch_between_lines):
    for _ in range(3):  # three fresh queues: three chances for two threads to race for the last slot
        recorder = Recorder(gated=True)
        with MicroBatcher(recorder, max_batch_size=100, max_wait_s=0, max_queue=5) as batcher, opened_on_exit(recorder):
            hold_worker(recorder, batcher)

            def client(_, start=threading.Barrier(8), batcher=batcher):
                start.wait(WAIT_S)
                accepted = 0
                for i in range(10):
                    try:
                        batcher.submit(i)
                        accepted += 1
                    except QueueFull:
                        pass
                return accepted

            with ThreadPoolExecutor(max_workers=8) as pool:
                accepted = sum(pool.map(client, range(8)))
            recorder.open()
        assert accepted == 5, (
            f"with max_queue=5 and the worker busy, exactly 5 of 80 concurrent submits should succeed; {accepted} did "
            "(check the bound and append under one lock)")


# --- closing ------------------------------------------------------------------------------------------


def test_a_submit_racing_close_is_either_refused_or_answered(threads_switch_between_lines):
    for _ in range(3):
        recorder = Recorder()
        batcher = MicroBatcher(recorder, max_batch_size=4, max_wait_s=0)
        start = threading.Barrier(5)

        def client(who, batcher=batcher, start=start):
            start.wait(WAIT_S)
            accepted = []
            for i in range(15):
                try:
                    accepted.append(((who, i), batcher.submit((who, i))))
                except RuntimeError:
                    break
            return accepted

        with ThreadPoolExecutor(max_workers=4) as pool:
            parts = [pool.submit(client, who) for who in range(4)]
            start.wait(WAIT_S)
            time.sleep(0.005)
            closer = threading.Thread(target=batcher.close, daemon=True)
            closer.start()
            accepted = [pair for part in parts for pair in part.result(timeout=WAIT_S)]
        closer.join(WAIT_S)
        unanswered = []
        for item, future in accepted:
            try:
                if future.result(timeout=max(0.0, WAIT_S / 3)) != ("done", item):
                    unanswered.append(item)
            except (FutureTimeout, CancelledError):
                unanswered.append(item)
            if unanswered:
                break
        assert not unanswered, (
            f"a submit that returned a future while close() ran in another thread was never answered ({unanswered}): "
            "a submit either raises RuntimeError or its item is answered; check the closed flag and queue the item "
            "under the same lock close() takes")
        assert not closer.is_alive(), f"close() did not return within {WAIT_S} s"


def test_a_close_at_any_line_of_a_submit_leaves_its_item_refused_or_answered(impl_dir):
    """The race above, staged on purpose: close() runs in another thread just before each line
    a submit executes, one line per try, so the window between checking "closed" and queueing
    the item is hit every run, not by luck."""

    def one_submit(batcher, before_line=None):
        """Runs batcher.submit in its own thread; before its line `before_line`, close() runs in
        another thread and is given a moment (it waits longer if submit holds its lock)."""
        seen = {"lines": 0, "closer": None, "outcome": None}

        def each_line():
            if threading.current_thread() is not submitter:
                return
            seen["lines"] += 1
            if seen["lines"] == before_line:
                closer = threading.Thread(target=batcher.close, daemon=True)
                seen["closer"] = closer
                closer.start()
                closer.join(0.2)

        def submit():
            try:
                seen["outcome"] = batcher.submit("racer")
            except RuntimeError as refused:
                seen["outcome"] = refused

        submitter = threading.Thread(target=submit, daemon=True)
        with on_every_line_of(impl_dir, each_line):  # traces the threads started in the block
            submitter.start()
            submitter.join(WAIT_S)
        assert not submitter.is_alive(), f"submit() did not return within {WAIT_S} s"
        return seen

    batcher = MicroBatcher(Recorder(), max_batch_size=4, max_wait_s=0)
    lines = one_submit(batcher)["lines"]
    batcher.close()
    for before_line in range(1, min(lines, 200) + 1):
        batcher = MicroBatcher(Recorder(), max_batch_size=4, max_wait_s=0)
        seen = one_submit(batcher, before_line)
        if seen["closer"] is not None:
            seen["closer"].join(WAIT_S)
        else:
            batcher.close()
        outcome = seen["outcome"]
        if isinstance(outcome, RuntimeError):
            continue
        try:
            answer = outcome.result(timeout=WAIT_S)
        except (FutureTimeout, CancelledError):
            answer = None
        assert answer == ("done", "racer"), (
            f"close() ran in another thread just before line {before_line} of a submit; the submit returned a "
            f"future that was never answered (got {answer!r}): a submit either raises RuntimeError or its item "
            "is answered; check the closed flag and queue the item under the same lock close() takes")


def test_close_answers_everything_already_submitted_then_refuses_and_stops_the_worker():
    before = batcher_threads()
    recorder = Recorder(gated=True)
    batcher = MicroBatcher(recorder, max_batch_size=2, max_wait_s=0.05)
    started = batcher_threads() - before
    first = hold_worker(recorder, batcher)
    queued = [batcher.submit(i) for i in range(5)]
    closer = threading.Thread(target=batcher.close, daemon=True)  # close() may wait for the drain: keep this thread free
    closer.start()
    deadline = time.monotonic() + WAIT_S
    refused = None
    while refused is None and time.monotonic() < deadline:  # close() runs in the other thread
        try:
            queued.append(batcher.submit(f"late-{len(queued)}"))
            time.sleep(0.01)
        except RuntimeError as exc:
            refused = exc
    recorder.open()
    closer.join(WAIT_S)
    assert isinstance(refused, RuntimeError) and not isinstance(refused, QueueFull), (
        "submit after close() should raise RuntimeError")
    try:
        answers = [f.result(timeout=WAIT_S) for f in [first, *queued]]
    except (FutureTimeout, CancelledError) as exc:
        pytest.fail(f"close() should still answer every item submitted before it; a future got {exc!r}")
    expected = [("done", "first")] + [("done", i) for i in range(5)] + [("done", f"late-{i}") for i in range(5, len(queued))]
    assert answers == expected, f"every item submitted before close() should get its result; got {answers}"
    assert not closer.is_alive(), f"close() did not return within {WAIT_S} s"
    leftover = wait_for_threads_to_end(started)
    assert not leftover, f"close() should stop the worker thread, but {leftover} still run"


def _drained_at_close(max_batch_size: int) -> tuple[Recorder, int]:
    """Seven items (and any submitted until close() begins) wait behind a held call when close() is called; returns
    the recorder once every one is answered, and how many waited."""
    recorder = Recorder(gated=True)
    batcher = MicroBatcher(recorder, max_batch_size=max_batch_size, max_wait_s=0.05)
    with opened_on_exit(recorder):
        first = hold_worker(recorder, batcher)
        queued = [batcher.submit(i) for i in range(7)]  # waiting behind the held call
        closer = threading.Thread(target=batcher.close, daemon=True)  # close() may wait for the drain
        closer.start()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:  # wait until close() has begun: submits are refused
            try:
                queued.append(batcher.submit("late"))
                time.sleep(0.01)
            except RuntimeError:
                break
        recorder.open()
        answers = [f.result(timeout=WAIT_S) for f in [first, *queued]]
        closer.join(WAIT_S)
    assert [answer[1] for answer in answers] == ["first", *range(7), *["late"] * (len(queued) - 7)], (
        f"every item submitted before close() should get its own result; got {answers}")
    return recorder, len(queued)


def test_the_batches_that_drain_the_queue_after_close_still_hold_at_most_max_batch_size():
    recorder, _ = _drained_at_close(max_batch_size=2)
    sizes = [len(batch) for batch in recorder.batches]
    assert max(sizes) <= 2, (
        "predict_batch is never called with more than max_batch_size items, also while close() drains the queue: "
        f"with max_batch_size=2 the items waiting at close() should go out two at a time; got batch sizes {sizes}")


def test_the_items_waiting_at_close_are_drained_in_full_batches():
    recorder, waited = _drained_at_close(max_batch_size=3)
    sizes = [len(batch) for batch in recorder.batches[1:]]
    full, rest = divmod(waited, 3)
    assert sizes == [3] * full + ([rest] if rest else []), (
        f"the {waited} items waiting when close() was called were all there when the worker came for them: "
        "they should go out in full batches of max_batch_size=3 (take what is queued before checking for close), "
        f"not one item per call; got batch sizes {sizes}")


def test_the_batches_that_drain_the_queue_after_close_are_sent_without_waiting_out_max_wait_s():
    recorder = Recorder(gated=True)
    batcher = MicroBatcher(recorder, max_batch_size=2, max_wait_s=60)
    with opened_on_exit(recorder):
        submitted = {x: batcher.submit(x) for x in ("x1", "x2")}  # a full batch: sent at once, then held
        assert recorder.entered.wait(WAIT_S), "a full batch should reach predict_batch at once"
        submitted["left"] = batcher.submit("left")  # waits behind the held call: half a batch
        closer = threading.Thread(target=batcher.close, daemon=True)  # close() may wait for the drain
        closer.start()
        time.sleep(0.2)  # close() has begun by now (it takes the lock at once): "left" is all that is queued
        recorder.open()  # the worker now begins a batch from what is left, after close()
        try:
            answers = {x: f.result(timeout=WAIT_S) for x, f in submitted.items()}
        except FutureTimeout:
            pytest.fail(f"close() was called before the worker began a batch of the items still queued, and after "
                        f"{WAIT_S} s they were still waiting out max_wait_s=60: once the batcher is closed, no batch "
                        "waits for company (check the closed flag before each wait, not only after one: close() "
                        "notified while the worker was busy in predict_batch, so no wake-up is coming)")
        closer.join(WAIT_S)
    assert answers == {x: ("done", x) for x in submitted}, (
        f"every item submitted before close() should get its own result; got {answers}")
    assert not closer.is_alive(), f"close() did not return within {WAIT_S} s"


def test_once_close_has_begun_a_full_queue_still_refuses_with_runtime_error():
    recorder = Recorder(gated=True)
    batcher = MicroBatcher(recorder, max_batch_size=1, max_wait_s=0, max_queue=1)
    outcomes: list = []
    attempts = [0]

    def submit_late() -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            attempts[0] += 1
            try:
                batcher.submit("late")
                outcomes.append("accepted")
                return
            except QueueFull:
                time.sleep(0.01)  # close() may not have begun yet
            except RuntimeError as exc:
                outcomes.append(exc)
                return
        outcomes.append("QueueFull, again and again, long after close() was called")

    with opened_on_exit(recorder):
        first = hold_worker(recorder, batcher)
        waiting = batcher.submit("waiting")  # the queue is full now
        closer = threading.Thread(target=batcher.close, daemon=True)  # close() waits for the drain
        closer.start()
        submitter = threading.Thread(target=submit_late, daemon=True)
        submitter.start()
        seen = -1
        while submitter.is_alive() and attempts[0] != seen:  # a submit may wait for close() to finish:
            seen = attempts[0]                              # once one has been under way for 0.5 s,
            submitter.join(0.5)                             # let the drain go on
        recorder.open()
        submitter.join(WAIT_S)
        closer.join(WAIT_S)
    assert outcomes and isinstance(outcomes[0], RuntimeError), (
        "after close() every submit should raise RuntimeError, also while the queue is full; got "
        f"{outcomes[0] if outcomes else 'no answer'} (check closed before full: a closed batcher takes nothing, "
        "full or not)")
    assert first.result(timeout=WAIT_S) == ("done", "first") and waiting.result(timeout=WAIT_S) == ("done", "waiting"), (
        "the items submitted before close() are still answered")


def test_leaving_the_with_block_closes_the_batcher():
    before = batcher_threads()
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=4, max_wait_s=0.01) as batcher:
        started = batcher_threads() - before
        future = batcher.submit("x")
    assert future.result(timeout=WAIT_S) == ("done", "x"), "an item submitted inside the block is answered"
    with pytest.raises(RuntimeError):
        batcher.submit("after")
    assert not wait_for_threads_to_end(started), "leaving the with block should stop the worker thread"


class Escaping(Exception):
    pass


def test_an_exception_in_the_with_block_still_propagates_and_the_batcher_is_closed():
    before = batcher_threads()
    started = set()
    # A context manager that swallows the exception would hide every error of the block.
    with pytest.raises(Escaping), MicroBatcher(Recorder(), max_batch_size=4, max_wait_s=0.01) as batcher:
        started = batcher_threads() - before
        answer = batcher.submit("x")
        raise Escaping("raised inside the with block")
    assert answer.result(timeout=WAIT_S) == ("done", "x"), "an item submitted before the exception is answered"
    with pytest.raises(RuntimeError):
        batcher.submit("after")
    assert not wait_for_threads_to_end(started), "leaving the block by an exception should stop the worker thread too"


def test_an_idle_worker_waits_without_spinning():
    """Counts the lines of your code that run while nothing is queued: a worker blocked on a condition or
    a queue runs none, one that polls with a zero timeout (max_wait_s=0) runs them by the thousand, and
    one that wakes every 50 ms to look for close() runs dozens."""
    learner_file = Path(batcher_module.__file__).resolve()
    lines = [0]

    def count() -> None:
        lines[0] += 1

    with on_every_line_of(learner_file, count):
        batcher = MicroBatcher(Recorder(), max_batch_size=8, max_wait_s=0)
    try:
        assert batcher.submit(1).result(timeout=WAIT_S) == ("done", 1), "max_wait_s=0 should answer an item"
        time.sleep(0.1)  # the worker goes idle
        at_rest = lines[0]
        time.sleep(0.5)
        idle_lines = lines[0] - at_rest
    finally:
        batcher.close()
    assert idle_lines < 25, (
        f"with nothing queued the worker ran {idle_lines} lines of batcher.py in 0.5 s: an idle worker should "
        "block until an item or close() arrives (Condition.wait() or queue.get() without a timeout), not poll "
        "with a timeout of max_wait_s, which is 0 here and spins a CPU core, nor wake every few milliseconds to "
        "look for close() (let close() wake it: notify, or put a sentinel in the queue)")


def test_an_idle_worker_does_not_wake_now_and_then():
    """A worker that waits with a timeout to look for close() now and then (`wait(1.0)`, `get(timeout=1)`) runs a few
    lines of your code at every wake-up; one blocked until an item or close() arrives runs none at all."""
    import batcher as learner_batcher

    learner_file = Path(learner_batcher.__file__).resolve()
    lines = [0]

    def count() -> None:
        lines[0] += 1

    with on_every_line_of(learner_file, count):
        batcher = MicroBatcher(Recorder(), max_batch_size=8, max_wait_s=0.01)
    try:
        assert batcher.submit(1).result(timeout=WAIT_S) == ("done", 1), "an item should be answered"
        settled, deadline = -1, time.monotonic() + WAIT_S
        while lines[0] != settled and time.monotonic() < deadline:  # until the worker is back to waiting
            settled = lines[0]
            time.sleep(0.2)
        time.sleep(1.6)
        woke = lines[0] - settled
    finally:
        batcher.close()
    assert woke == 0, (
        f"with nothing queued the worker ran {woke} lines of batcher.py in 1.6 s: an idle worker should block until "
        "an item or close() arrives (Condition.wait() or queue.get() without a timeout), not wake now and then to "
        "look for close() (a wait with a timeout of a second or so): let close() wake it (notify, or a sentinel)")


def test_leaving_the_with_block_after_an_explicit_close_is_harmless():
    before = batcher_threads()
    with MicroBatcher(Recorder(), max_batch_size=4, max_wait_s=0.01) as batcher:
        started = batcher_threads() - before
        answer = batcher.submit("x")
        batcher.close()  # leaving the block closes it a second time
    assert answer.result(timeout=WAIT_S) == ("done", "x"), "an item submitted before close() is answered"
    batcher.close()  # and a third time
    assert not wait_for_threads_to_end(started), "the worker thread should have stopped"


def assert_close_answers(batcher: MicroBatcher, future, expected, unanswered: str) -> None:
    """close(), begun in another thread, answers the item behind `future` (submitted before it) with
    `expected` within WAIT_S (else the test fails saying `unanswered`), and returns."""
    closer = threading.Thread(target=batcher.close, daemon=True)
    closer.start()
    try:
        answer = future.result(timeout=WAIT_S)
    except FutureTimeout:
        pytest.fail(unanswered)
    assert answer == expected, f"the item submitted before close() should get its result, got {answer!r}"
    closer.join(WAIT_S)
    assert not closer.is_alive(), f"close() did not return within {WAIT_S} s"


def test_close_sends_the_batch_being_collected_without_waiting_out_max_wait_s():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=10, max_wait_s=60)
    future = batcher.submit("x")
    time.sleep(0.1)  # the worker has taken "x" and collects company for up to 60 s
    assert_close_answers(
        batcher, future, ("done", "x"),
        f"close() should send the batch being collected at once: after {WAIT_S} s the item submitted before close() "
        "was still waiting out max_wait_s=60 (stop collecting once the batcher is closed)")


@pytest.mark.parametrize("max_wait_s", [float("inf"), 1e12], ids=["inf", "1e12"])
def test_an_endless_max_wait_s_holds_a_batch_until_it_is_full_or_the_batcher_closes(max_wait_s):
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch_size=2, max_wait_s=max_wait_s)
    try:
        first = batcher.submit("a")
        time.sleep(0.1)  # the worker has taken "a" and waits for company, without a time limit
        second = batcher.submit("b")
        try:
            answers = [first.result(timeout=WAIT_S), second.result(timeout=WAIT_S)]
        except FutureTimeout:
            pytest.fail(f"with max_wait_s={max_wait_s!r} a full batch should still be sent at once: after {WAIT_S} s "
                        "it had no answer (a timed wait longer than threading.TIMEOUT_MAX raises OverflowError: "
                        "did the worker thread die on it?)")
        assert answers == [("done", "a"), ("done", "b")], f"the full batch should get its results, got {answers!r}"
        alone = batcher.submit("c")
        time.sleep(0.2)
        assert not alone.done(), (f"with max_wait_s={max_wait_s!r} a lone item should wait for company until the "
                                  "batch is full or the batcher closes, but it was already sent")
    except BaseException:
        threading.Thread(target=batcher.close, daemon=True).start()  # never leave its worker waiting for good
        raise
    assert_close_answers(
        batcher, alone, ("done", "c"),
        f"close() should send the lone item waiting with max_wait_s={max_wait_s!r} at once: after {WAIT_S} s it had "
        "no answer")


def test_a_batcher_never_closed_does_not_keep_the_process_alive(impl_dir):
    """gunicorn stops a worker process without calling close(): a worker thread that keeps the interpreter alive
    turns every shutdown into a kill after the timeout."""
    with MicroBatcher(Recorder(), max_batch_size=4, max_wait_s=0.01) as batcher:  # here first, then in a program
        assert batcher.submit(1).result(timeout=WAIT_S) == ("done", 1), "a submitted item should be answered"
    program = ("from batcher import MicroBatcher\n"
               "batcher = MicroBatcher(lambda items: list(items), max_batch_size=4, max_wait_s=0.01)\n"
               "assert batcher.submit(1).result(timeout=5) == 1\n")
    try:
        ended = subprocess.run([sys.executable, "-c", program], cwd=impl_dir, capture_output=True, timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a program that made a batcher, used it and ended without close() was still running after "
                    f"{WAIT_S} s: the worker thread should not keep the process alive (make it a daemon thread)")
    assert ended.returncode == 0, f"the program should run and exit cleanly; it said {ended.stderr.decode()[-500:]}"


def test_close_on_an_idle_batcher_stops_its_worker():
    before = batcher_threads()
    batcher = MicroBatcher(Recorder(), max_batch_size=4, max_wait_s=30)
    started = batcher_threads() - before
    assert started, "the batcher should run a worker thread"
    closer = threading.Thread(target=batcher.close, daemon=True)
    closer.start()
    closer.join(WAIT_S)
    never_noticed = ("close() on a batcher with nothing queued should stop its worker (a worker blocked forever on "
                     "an empty queue, or waiting out max_wait_s=30, never notices)")
    assert not closer.is_alive(), f"close() did not return within {WAIT_S} s: " + never_noticed
    assert not wait_for_threads_to_end(started), never_noticed


def test_close_called_from_predict_batch_does_not_wait_for_its_own_thread():
    """A predict_batch that closes its own batcher (a model that knows it is gone for good, say) runs on the
    worker thread: a close() that joins the worker there would wait for itself."""
    before = batcher_threads()
    calls = []

    def predict_batch(items):
        calls.append(list(items))
        if len(calls) == 1:
            batcher.close()
        return [("done", item) for item in items]

    batcher = MicroBatcher(predict_batch, max_batch_size=2, max_wait_s=0)
    started = batcher_threads() - before
    try:
        answer = batcher.submit("first").result(timeout=WAIT_S)
    except FutureTimeout:
        pytest.fail(f"predict_batch called close() on its own batcher and after {WAIT_S} s its item had no answer: a "
                    "close() from the worker thread must not wait for that thread (join it only from other threads)")
    except Exception as error:  # noqa: BLE001 - the answer is what the test is about
        pytest.fail(f"predict_batch called close() on its own batcher, and its item got {error!r} instead of its "
                    "answer: a close() from the worker thread must not join that thread (Thread.join raises "
                    "'cannot join current thread'); join only when close() comes from another thread")
    assert answer == ("done", "first"), f"the batch being predicted still gets its answers, got {answer!r}"
    with pytest.raises(RuntimeError):
        batcher.submit("later")
    assert not wait_for_threads_to_end(started), "after a close() from predict_batch the worker thread should end"
