"""Task 4: shadow traffic with real threads: the candidate is mirrored, never waited on."""

import threading
import time

import pytest
from shadow import ShadowRouter

from mlops_katas.interleave import switching_threads

pytestmark = pytest.mark.task(taskno=4)

GENEROUS_S = 5.0


def wait_for(condition, what, timeout_s=GENEROUS_S):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout_s} s waiting for {what}"
        time.sleep(0.005)


def double(x):
    return x * 2


@pytest.fixture
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + GENEROUS_S
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    left = set(threading.enumerate()) - before
    assert not left, f"threads still running after close(): {sorted(t.name for t in left)}"


def test_handle_returns_the_stable_answer(no_leaked_threads):
    with ShadowRouter(double, lambda x: x * 3) as router:
        assert [router.handle(i) for i in range(5)] == [0, 2, 4, 6, 8], "the caller always gets the stable answer"


def test_agreement_is_counted(no_leaked_threads):
    with ShadowRouter(double, lambda x: x * 2 if x % 4 else -1) as router:
        for i in range(40):
            router.handle(i)
    stats = router.stats()
    assert stats["agreed"] == 30 and stats["disagreed"] == 10, (
        f"of 0..39, the 10 multiples of 4 disagree and 30 agree; stats are {stats}")
    assert stats["errors"] == 0 and stats["dropped"] == 0, f"no errors or drops expected: {stats}"
    assert router.agreement_rate() == pytest.approx(30 / 40), f"agreement rate 30/40, got {router.agreement_rate()}"


def test_agreement_rate_is_zero_when_every_comparison_disagrees(no_leaked_threads):
    with ShadowRouter(double, lambda x: -1) as router:
        for i in range(1, 5):
            router.handle(i)
    assert router.stats()["disagreed"] == 4, f"the candidate answers -1 to every request: 4 disagree, {router.stats()}"
    assert router.agreement_rate() == 0.0, (
        "4 comparisons finished and none agreed: agreement_rate() is 0 / 4 = 0.0 (None only means nothing was "
        f"compared yet), got {router.agreement_rate()!r}")


def test_stats_is_a_snapshot(no_leaked_threads):
    with ShadowRouter(double, double) as router:
        before = router.stats()
        before["dropped"] = 99
        assert router.stats()["dropped"] == 0, "changing the dict stats() returned must not change the router's counts"
        for i in range(3):
            router.handle(i)
    assert before == {"agreed": 0, "disagreed": 0, "errors": 0, "dropped": 99}, (
        f"stats() returns a snapshot: a dict taken earlier must not follow the router's counts, it became {before}")
    assert router.stats()["agreed"] == 3, f"the three mirrors agree: {router.stats()}"


def test_agreement_rate_is_none_before_any_comparison(no_leaked_threads):
    with ShadowRouter(double, double) as router:
        assert router.agreement_rate() is None, "nothing compared yet: agreement_rate() is None"
        assert router.stats() == {"agreed": 0, "disagreed": 0, "errors": 0, "dropped": 0}, f"fresh stats: {router.stats()}"


def test_the_caller_never_waits_for_a_blocked_candidate(no_leaked_threads):
    release = threading.Event()
    started = threading.Event()

    def stuck(x):
        started.set()
        release.wait(30)
        return x * 2

    router = ShadowRouter(double, stuck)
    answers = []
    caller = threading.Thread(target=lambda: answers.extend(router.handle(i) for i in range(3)), name="caller")
    try:
        caller.start()
        caller.join(GENEROUS_S)
        assert not caller.is_alive(), (
            f"handle() was still busy after {GENEROUS_S} s while the candidate was blocked: it must not wait for it")
        assert answers == [0, 2, 4], f"the stable answers come back at once, got {answers}"
        wait_for(started.is_set, "the candidate to be called in the background")
        assert router.stats()["agreed"] == 0, "the blocked candidate has not answered: nothing compared yet"
    finally:
        release.set()
        caller.join(GENEROUS_S)
        router.close()
    assert router.stats()["agreed"] == 3, f"close() finishes every accepted mirror: {router.stats()}"


def test_a_full_queue_drops_mirrors_instead_of_waiting(no_leaked_threads):
    release = threading.Event()

    def stuck(x):
        release.wait(30)
        return x * 2

    router = ShadowRouter(double, stuck, max_pending=3)
    try:
        began = time.monotonic()
        answers = [router.handle(i) for i in range(10)]
        assert time.monotonic() - began < GENEROUS_S, "a full mirror queue must never make the caller wait"
        assert answers == [2 * i for i in range(10)], "every caller still gets the stable answer"
        assert router.stats()["dropped"] == 7, (
            f"with max_pending=3 and a stuck candidate, 3 mirrors are accepted and 7 dropped: {router.stats()}")
    finally:
        release.set()
        router.close()
    stats = router.stats()
    assert stats["agreed"] == 3 and stats["dropped"] == 7, f"after close: 3 compared, 7 dropped; got {stats}"


def test_a_mirror_being_run_still_counts_as_pending(no_leaked_threads):
    release = threading.Event()
    started = threading.Event()

    def stuck(x):
        started.set()
        release.wait(30)
        return x * 2

    router = ShadowRouter(double, stuck, max_pending=2, workers=1)
    try:
        router.handle(0)
        wait_for(started.is_set, "the worker to start the first mirror")
        for i in range(1, 10):
            router.handle(i)
        assert router.stats()["dropped"] == 8, (
            f"max_pending=2 counts the mirror the worker is running plus the queued ones: one more is accepted, "
            f"8 dropped; got {router.stats()}")
    finally:
        release.set()
        router.close()
    assert router.stats()["agreed"] == 2, f"the two accepted mirrors are compared: {router.stats()}"


def test_a_mirror_still_being_compared_counts_as_pending(no_leaked_threads):
    release = threading.Event()
    comparing = threading.Event()

    def slow_compare(stable_answer, candidate_answer):
        comparing.set()
        release.wait(30)
        return stable_answer == candidate_answer

    router = ShadowRouter(double, double, compare=slow_compare, max_pending=1, workers=1)
    try:
        router.handle(0)
        wait_for(comparing.is_set, "the worker to start comparing the first mirror")
        router.handle(1)
        assert router.stats()["dropped"] == 1, (
            f"max_pending=1 and the only mirror is still being compared: it is unfinished until compare() returns, "
            f"so the next mirror is dropped; got {router.stats()}")
    finally:
        release.set()
        router.close()
    assert router.stats()["agreed"] == 1, f"the accepted mirror is compared once compare() returns: {router.stats()}"


def test_dropping_a_mirror_does_not_wait_for_a_place(no_leaked_threads):
    release = threading.Event()
    router = ShadowRouter(double, lambda x: release.wait(30) and x * 2, max_pending=1, workers=1)
    try:
        router.handle(0)
        began = time.monotonic()
        for i in range(1, 41):
            router.handle(i)
        took = time.monotonic() - began
        assert router.stats()["dropped"] == 40, f"with the one pending place taken, 40 mirrors are dropped: {router.stats()}"
        assert took < 1.0, (
            f"40 requests whose mirrors were dropped took {took:.2f} s: a full router drops at once, it never waits "
            "(not even briefly) for a pending place to free up")
    finally:
        release.set()
        router.close()


def test_callers_do_not_wait_for_each_other(no_leaked_threads):
    both_inside = threading.Barrier(2, timeout=2.0)

    def stable(x):
        both_inside.wait()  # returns only once the other caller is inside stable() too
        return x * 2

    answers, problems = {}, []

    def caller(x):
        try:
            answers[x] = router.handle(x)
        except Exception as e:  # noqa: BLE001 - reported below
            problems.append(e)

    with ShadowRouter(stable, double) as router:
        threads = [threading.Thread(target=caller, args=(x,)) for x in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GENEROUS_S)
    assert not problems and answers == {1: 2, 2: 4}, (
        "two callers must be able to run stable() at the same time (each waits here for the other to arrive): "
        f"handle() must not hold a lock while stable runs; answers {answers}, errors {problems!r}")


def test_default_max_pending_is_100(no_leaked_threads):
    release = threading.Event()
    router = ShadowRouter(double, lambda x: release.wait(30) and x * 2)
    try:
        for i in range(130):
            router.handle(i)
        assert router.stats()["dropped"] == 30, f"100 pending mirrors by default, so 30 of 130 dropped: {router.stats()}"
    finally:
        release.set()
        router.close()


def test_a_failing_candidate_is_counted_and_never_reaches_the_caller(no_leaked_threads):
    def broken(x):
        if x % 2:
            raise RuntimeError("candidate model crashed")
        return x * 2

    with ShadowRouter(double, broken) as router:
        answers = [router.handle(i) for i in range(10)]
    assert answers == [2 * i for i in range(10)], "candidate errors must not change what the caller gets"
    stats = router.stats()
    assert stats["errors"] == 5 and stats["agreed"] == 5 and stats["disagreed"] == 0, f"5 errors, 5 agreed: {stats}"
    assert router.agreement_rate() == 1.0, "errors are not comparisons: the agreement rate is over the 5 compared"


def test_a_finished_mirror_frees_its_place_even_when_it_failed(no_leaked_threads):
    def broken(x):
        raise RuntimeError("candidate model crashed")

    def compare_breaks(a, b):
        raise TypeError("cannot compare")

    for candidate, compare, what in ((broken, None, "candidate"), (double, compare_breaks, "compare")):
        options = {"compare": compare} if compare else {}
        with ShadowRouter(double, candidate, max_pending=2, workers=1, **options) as router:
            for i in range(6):
                router.handle(i)
                wait_for(lambda: sum(router.stats().values()) == i + 1, f"mirror {i} to finish or be dropped")
        stats = router.stats()
        assert stats["errors"] == 6 and stats["dropped"] == 0, (
            f"each mirror (a {what} error) finished before the next request, so with max_pending=2 none is dropped: "
            f"an error must free its pending place too; got {stats}")


def test_a_failing_stable_raises_to_the_caller_and_is_not_mirrored(no_leaked_threads):
    called = []

    def stable(x):
        if x == 3:
            raise ValueError("bad request")
        return x

    def candidate(x):
        called.append(x)
        return x

    with ShadowRouter(stable, candidate) as router:
        with pytest.raises(ValueError):
            router.handle(3)
        assert router.handle(4) == 4, "the router keeps working after a stable error"
    assert called == [4], f"a request that stable failed is not mirrored, candidate saw {called}"


def test_a_failing_stable_takes_no_pending_place(no_leaked_threads):
    def stable(x):
        if x < 0:
            raise ValueError("bad request")
        return x * 2

    with ShadowRouter(stable, double, max_pending=1, workers=1) as router:
        for i in range(3):
            with pytest.raises(ValueError):
                router.handle(-1 - i)
        assert router.handle(3) == 6, "after failed requests the router still answers from stable"
    assert router.stats() == {"agreed": 1, "disagreed": 0, "errors": 0, "dropped": 0}, (
        "requests that stable failed are not mirrored, so they take no pending place: with max_pending=1 the next "
        f"good request is mirrored and compared, not dropped; got {router.stats()}")


def test_compare_decides_agreement(no_leaked_threads):
    stable = lambda x: {"predictions": [x % 2], "model_version": "v1"}  # noqa: E731
    candidate = lambda x: {"predictions": [x % 2], "model_version": "v2"}  # noqa: E731
    with ShadowRouter(stable, candidate) as plain:
        for i in range(6):
            plain.handle(i)
    assert plain.stats()["disagreed"] == 6, "by default answers are compared with ==: the versions differ"
    same = lambda a, b: a["predictions"] == b["predictions"]  # noqa: E731
    with ShadowRouter(stable, candidate, compare=same) as custom:
        for i in range(6):
            custom.handle(i)
    assert custom.stats()["agreed"] == 6, f"compare=... decides agreement: same predictions agree, {custom.stats()}"


def test_a_true_value_from_compare_counts_as_agreement(no_leaked_threads):
    import numpy as np

    stable = lambda x: np.float64(x) * 2  # noqa: E731
    candidate = lambda x: np.float64(x * 2 if x % 2 else -1)  # noqa: E731
    with ShadowRouter(stable, candidate) as router:  # operator.eq on numpy numbers gives numpy's True/False
        for i in range(10):
            router.handle(i)
    stats = router.stats()
    assert stats["agreed"] == 5 and stats["disagreed"] == 5 and stats["errors"] == 0, (
        f"compare decides: a true result (numpy's True here) is an agreement, a false one a disagreement; "
        f"the 5 odd requests agree, got {stats}")


def test_any_true_or_false_value_from_compare_decides(no_leaked_threads):
    def compare(a, b):  # a note rather than a bool: a non-empty string when they agree, an empty one when not
        return "same answer" if a == b else ""

    with ShadowRouter(double, lambda x: x * 2 if x % 2 else -1, compare=compare) as router:
        for i in range(10):
            router.handle(i)
    stats = router.stats()
    assert stats["agreed"] == 5 and stats["disagreed"] == 5 and stats["errors"] == 0, (
        f"any true value from compare is an agreement and any false one a disagreement, not only True and False: "
        f"the 5 odd requests agree ('same answer'), the 5 even ones do not (''); got {stats}")


def test_a_compare_result_without_a_truth_value_is_an_error(no_leaked_threads):
    np = pytest.importorskip("numpy")

    def stable(x):
        return np.array([x, x])

    def candidate(x):
        return np.array([x, x if x % 2 else -1])

    with ShadowRouter(stable, candidate) as router:  # operator.eq on arrays gives an array: bool() of it raises
        answers = [router.handle(i) for i in range(6)]
    assert all(a.tolist() == [i, i] for i, a in enumerate(answers)), "the caller gets stable's arrays"
    stats = router.stats()
    assert stats == {"agreed": 0, "disagreed": 0, "errors": 6, "dropped": 0}, (
        "== on two numpy arrays returns an array, which is neither true nor false (its bool() raises): each of the "
        f"6 mirrors is an error, and every answered request lands in one count once close() returned; got {stats} "
        "(is the result's truth judged outside the try, so the worker dies and the mirror is lost?)")


def test_no_more_than_workers_mirrors_run_at_once(no_leaked_threads):
    release = threading.Event()
    lock = threading.Lock()
    running, most = [0], [0]

    def held(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(30)
        with lock:
            running[0] -= 1
        return x * 2

    router = ShadowRouter(double, held, workers=2)
    try:
        for i in range(6):
            router.handle(i)
        wait_for(lambda: running[0] >= 2, "the two workers to start a mirror each")
        time.sleep(0.3)  # room for a third mirror to start, were more than two threads running them
        assert most[0] == 2, (
            f"with workers=2 at most 2 mirrors run at once, the others wait in line; {most[0]} ran at the same time "
            "(a thread per mirror ignores workers)")
    finally:
        release.set()
        router.close()
    assert router.stats()["agreed"] == 6, f"every accepted mirror is run in the end: {router.stats()}"


def test_close_waits_for_a_slow_mirror_to_finish(no_leaked_threads):
    def slow(x):
        time.sleep(6.0)
        return x * 2

    router = ShadowRouter(double, slow)
    assert router.handle(1) == 2, "the caller gets the stable answer at once"
    router.close()
    assert router.stats()["agreed"] == 1, (
        f"close() lets every accepted mirror finish, however long it takes (6 s here; does close() give up "
        f"joining the workers after a timeout?): {router.stats()}")


def test_compare_receives_stable_then_candidate(no_leaked_threads):
    seen = []

    def compare(a, b):
        seen.append((a, b))
        return True

    with ShadowRouter(lambda x: ("stable", x), lambda x: ("candidate", x), compare=compare) as router:
        router.handle(1)
    assert seen == [(("stable", 1), ("candidate", 1))], f"compare(stable_answer, candidate_answer), got {seen}"


def test_compare_gets_the_answer_the_caller_got(no_leaked_threads):
    calls = iter(range(1000))

    def stable(x):  # a model that answers differently on every call, as sampling models do
        return (x, next(calls))

    seen = []

    def compare(a, b):
        seen.append(a)
        return True

    with ShadowRouter(stable, lambda x: x, compare=compare) as router:
        answers = [router.handle(i) for i in range(5)]
    assert sorted(seen) == answers, (
        f"compare must receive the stable answer the caller got ({answers}), not a new call to stable; got {sorted(seen)}")


def test_a_failing_compare_counts_as_an_error(no_leaked_threads):
    def compare(a, b):
        raise TypeError("cannot compare")

    with ShadowRouter(double, double, compare=compare) as router:
        assert router.handle(2) == 4, "a broken compare must not reach the caller"
    assert router.stats()["errors"] == 1, f"a compare that raises counts as an error: {router.stats()}"
    assert router.agreement_rate() is None, (
        f"an error is not a comparison: with no agreement or disagreement yet agreement_rate() is None, "
        f"got {router.agreement_rate()!r}")


def test_mirrors_run_concurrently_with_workers(no_leaked_threads):
    barrier = threading.Barrier(3, timeout=GENEROUS_S)

    def meet(x):
        barrier.wait()
        return x * 2

    with ShadowRouter(double, meet, workers=3) as router:
        for i in range(3):
            router.handle(i)
    assert router.stats()["agreed"] == 3, f"three workers run three mirrors at once: {router.stats()}"


def test_two_workers_by_default(no_leaked_threads):
    barrier = threading.Barrier(2, timeout=GENEROUS_S)

    def meet(x):
        barrier.wait()
        return x * 2

    with ShadowRouter(double, meet) as router:
        for i in range(2):
            router.handle(i)
    assert router.stats()["agreed"] == 2, (
        f"two workers by default run two mirrors at once (each waits for the other here): {router.stats()}")


def test_many_callers_at_once(no_leaked_threads):
    with ShadowRouter(double, lambda x: x * 2 if x % 10 else 0, max_pending=10_000) as router:
        results = {}

        def caller(k):
            results[k] = [router.handle(k * 100 + i) for i in range(100)]

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GENEROUS_S * 2)
    assert all(results[k] == [2 * (k * 100 + i) for i in range(100)] for k in range(8)), "each caller gets its answers"
    stats = router.stats()
    assert stats["agreed"] + stats["disagreed"] == 800 and stats["disagreed"] == 79, (
        f"800 mirrors from 8 threads, 79 disagreeing (multiples of 10 except 0): {stats}")


def run_callers(router, callers, calls_each):
    """`callers` threads call handle() `calls_each` times each, all at once; returns once all are done."""
    start = threading.Barrier(callers)

    def caller():
        start.wait(GENEROUS_S)
        for i in range(calls_each):
            router.handle(i)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GENEROUS_S * 6)
    assert not any(t.is_alive() for t in threads), "the callers' handle() calls did not all return"


def test_callers_racing_for_the_last_place_never_exceed_max_pending(no_leaked_threads, impl_dir):
    for _ in range(3):  # three fresh routers: three chances for two callers to race for the last place
        release = threading.Event()
        router = ShadowRouter(double, lambda x: release.wait(30) and x * 2, max_pending=5, workers=1)
        try:
            # The callers give up the CPU before every line of your code: a check of the pending
            # count on one line and its update on another interleave unless one lock holds them.
            with switching_threads(impl_dir):
                run_callers(router, callers=8, calls_each=10)
        finally:
            release.set()
            router.close()
        stats = router.stats()
        assert stats["agreed"] == 5 and stats["dropped"] == 75, (
            "with max_pending=5 and the candidate stuck, exactly 5 of 80 concurrent mirrors are accepted and 75 "
            f"dropped; got {stats} (check the pending count and take the place under one lock)")


def test_counts_from_workers_finishing_together_are_never_lost(no_leaked_threads, impl_dir):
    release = threading.Event()
    # Every thread started here, your workers included, gives up the CPU before each bytecode
    # operation: a count read and written back in one line (`counts[k] += 1`) by two workers
    # at once loses one of the updates unless a lock holds it.
    with switching_threads(impl_dir, operations=True):
        router = ShadowRouter(double, lambda x: release.wait(30) and (x * 2 if x % 4 else -1), max_pending=1_000,
                              workers=4)
        try:
            for i in range(100):
                router.handle(i)
        finally:
            release.set()  # the four workers leave the candidate together and count side by side
            router.close()
    stats = router.stats()
    assert stats == {"agreed": 75, "disagreed": 25, "errors": 0, "dropped": 0}, (
        "100 mirrors finished by 4 workers at once: 75 agree and 25 disagree (every 4th request), none lost; got "
        f"{stats} (update the counts under a lock: `+=` on a shared count is a read and a write)")


def test_drops_counted_by_callers_at_once_are_never_lost(no_leaked_threads, impl_dir):
    release = threading.Event()
    router = ShadowRouter(double, lambda x: release.wait(30) and x * 2, max_pending=1, workers=1)
    try:
        router.handle(0)  # takes the only pending place: every later mirror is dropped
        # Every thread started here gives up the CPU before each bytecode operation of your code: a drop
        # count read and written back in one line (`dropped += 1`) by two callers at once loses an update
        # unless a lock holds it.
        with switching_threads(impl_dir, operations=True):
            run_callers(router, callers=6, calls_each=10)
    finally:
        release.set()
        router.close()
    stats = router.stats()
    assert stats == {"agreed": 1, "disagreed": 0, "errors": 0, "dropped": 60}, (
        "6 callers at once each sent 10 requests while the only pending place was taken: all 60 mirrors are dropped "
        f"and counted, none lost; got {stats} (count a drop under the same lock as the other counts: `+=` on a shared "
        "count is a read and a write)")


def test_a_drop_counted_by_a_slow_caller_is_not_lost_to_fast_ones(no_leaked_threads, impl_dir):
    release = threading.Event()
    router = ShadowRouter(double, lambda x: release.wait(30) and x * 2, max_pending=1, workers=1)
    calls = [0] * 4

    def fast(k):
        while slow.is_alive():
            router.handle(k)
            calls[k] += 1

    try:
        router.handle(0)  # takes the only pending place: every later mirror is dropped
        # Only the slow caller is started here: it gives up the CPU before each bytecode operation of your code,
        # while the three fast callers started after the block run at full speed. A drop count read and written
        # back (`dropped += 1`) outside the lock then spans many fast callers' whole calls, and loses their drops.
        with switching_threads(impl_dir, operations=True):
            slow = threading.Thread(target=lambda: [router.handle(i) for i in range(5)], name="slow-caller")
            slow.start()
        fast_callers = [threading.Thread(target=fast, args=(k,)) for k in range(1, 4)]
        for t in fast_callers:
            t.start()
        for t in [slow, *fast_callers]:
            t.join(GENEROUS_S * 6)
        assert not any(t.is_alive() for t in [slow, *fast_callers]), "the callers' handle() calls did not all return"
    finally:
        release.set()
        router.close()
    stats = router.stats()
    expected = 5 + sum(calls)
    assert stats == {"agreed": 1, "disagreed": 0, "errors": 0, "dropped": expected}, (
        f"a slow caller sent 5 requests and three fast ones {sum(calls)} while the only pending place was taken: "
        f"all {expected} mirrors are dropped and counted, none lost; got {stats} (count a drop under the lock that "
        "decided it: `dropped += 1` after the lock is released is a read and a write that other callers overtake)")


def test_handle_refuses_once_close_has_begun(no_leaked_threads):
    release = threading.Event()
    router = ShadowRouter(double, lambda x: release.wait(30) and x * 2, workers=1)
    accepted = [router.handle(0)]
    closer = threading.Thread(target=router.close, name="closer")
    closer.start()  # close() now waits for the blocked mirror to finish

    def refused():
        try:
            accepted.append(router.handle(len(accepted)))
        except RuntimeError:
            return True
        return False

    try:
        wait_for(refused, "handle() to raise RuntimeError while close() is waiting for the mirrors")
    finally:
        release.set()
        closer.join(GENEROUS_S)
    assert not closer.is_alive(), f"close() should return once the blocked mirror finished ({GENEROUS_S} s)"
    stats = router.stats()
    assert sum(stats.values()) == len(accepted), (
        f"handle() answered {len(accepted)} requests before it refused, and each of their mirrors must end up compared, "
        f"an error or dropped once close() returned; got {stats} (is a mirror accepted after close() began left in "
        "the queue behind the workers' stop signal?)")


def test_a_request_in_flight_when_close_begins_is_never_lost(no_leaked_threads):
    inside, release = threading.Event(), threading.Event()

    def stable(x):
        inside.set()
        release.wait(30)
        return x * 2

    router = ShadowRouter(stable, double)
    outcome = []

    def caller():
        try:
            outcome.append(router.handle(1))
        except RuntimeError as e:  # refusing the request is fine too
            outcome.append(e)

    request = threading.Thread(target=caller, name="caller")
    closer = threading.Thread(target=router.close, name="closer")
    request.start()
    try:
        wait_for(inside.is_set, "stable() to be called")
        closer.start()  # close() begins while stable() still runs for the caller
        closer.join(0.5)
    finally:
        release.set()
        request.join(GENEROUS_S)
        if closer.is_alive():
            closer.join(GENEROUS_S)  # a second close() may return before the first has joined the workers
        router.close()
    assert outcome, "handle() did not return"
    if outcome[0] == 2:
        stats = router.stats()
        assert sum(stats.values()) == 1, (
            "close() began while stable() was answering a caller; the caller got its answer, so its mirror must be "
            f"run or dropped and counted, never left behind the workers' stop signal: got {stats}")


def test_dropped_mirrors_are_not_comparisons(no_leaked_threads):
    release = threading.Event()
    router = ShadowRouter(double, lambda x: release.wait(30) and x * 2, max_pending=2, workers=1)
    try:
        for i in range(6):
            router.handle(i)
        assert router.agreement_rate() is None, (
            f"2 mirrors are waiting for the candidate and 4 were dropped: nothing compared yet, so agreement_rate() is "
            f"None, got {router.agreement_rate()!r}")
    finally:
        release.set()
        router.close()
    assert router.stats()["dropped"] == 4, f"4 of 6 mirrors dropped with max_pending=2: {router.stats()}"
    assert router.agreement_rate() == 1.0, (
        "the 2 compared mirrors agree; the 4 dropped ones were never compared, so they are not in the rate: "
        f"agreed / (agreed + disagreed) = 1.0, got {router.agreement_rate()!r}")


def test_handle_after_close_raises(no_leaked_threads):
    router = ShadowRouter(double, double)
    router.close()
    router.close()
    with pytest.raises(RuntimeError):
        router.handle(1)


@pytest.mark.parametrize("options", [{"max_pending": 0}, {"workers": 0}, {"max_pending": -1}, {"workers": -1}])
def test_bad_options_raise_value_error(options):
    with pytest.raises(ValueError):
        ShadowRouter(double, double, **options)
