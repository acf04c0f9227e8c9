"""Task 3: rules + a model under a latency budget. Read these tests as the specification.

The store and the models here are stand-ins: a dict that can play "Redis is down", and
models that answer at once, late, never (until released), or wrongly. Timing tests never
depend on how fast this machine is: a "late" model is always later than the budget.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
import tracemalloc

import numpy as np
import pytest

from feature_store import StoreUnavailable
from scorer import FraudScorer

pytestmark = pytest.mark.task(taskno=3)

QUIET = {"count": 2, "total_amount": 60.0, "max_amount": 40.0, "distinct_merchants": 2}  # no rule fires


def ev(card: str = "c1", amount: float = 20.0) -> dict:
    return {"card_id": card, "amount": amount, "merchant": "m1", "ts": 1000.0}


def window(count=2, total_amount=60.0, max_amount=40.0, distinct_merchants=2) -> dict:
    return {"count": count, "total_amount": total_amount, "max_amount": max_amount,
            "distinct_merchants": distinct_merchants}


class FakeStore:
    """Features by card; `down=True` makes every read raise StoreUnavailable, like a dead Redis."""

    def __init__(self, features: dict | None = None, down: bool = False) -> None:
        self.features = dict(features or {})
        self.down = down
        self.reads: list = []

    def read(self, card_id):
        self.reads.append(card_id)
        if self.down:
            raise StoreUnavailable("redis is down")
        return self.features.get(card_id)


class Answers:
    """Answers `p` at once; remembers every row it was asked about."""

    def __init__(self, p: float) -> None:
        self.p = p
        self.rows: list[list[float]] = []

    def predict_proba(self, X):
        rows = np.asarray(X, dtype=float).tolist()
        self.rows.extend(rows)
        return np.array([[1 - self.p, self.p] for _ in rows])


class AnswersAfter(Answers):
    """Answers `p` after `delay_s` (always later than a budget shorter than the delay).

    Once the test has its decision it calls `hurry()`: the model then answers at once, so
    close() need not wait out the rest of the delay. Until then it is exactly as slow as said.
    """

    def __init__(self, p: float, delay_s: float) -> None:
        super().__init__(p)
        self.delay_s = delay_s
        self.hurried = threading.Event()

    def hurry(self) -> None:
        self.hurried.set()

    def predict_proba(self, X):
        self.hurried.wait(self.delay_s)
        return super().predict_proba(X)


class Blocks(Answers):
    """Never answers until `release` is set (the test sets it at the end; at most 10 s)."""

    def __init__(self, p: float = 0.9) -> None:
        super().__init__(p)
        self.release = threading.Event()

    def predict_proba(self, X):
        self.release.wait(10)
        return super().predict_proba(X)


class Raises(Answers):
    def predict_proba(self, X):
        raise RuntimeError("model server returned 500")


class RaisesThis(Answers):
    """Raises `error` when asked: a model server's client has exceptions of its own."""

    def __init__(self, error: Exception) -> None:
        super().__init__(0.0)
        self.error = error

    def predict_proba(self, X):
        raise self.error


@pytest.fixture
def blocking_model():
    model = Blocks()
    yield model
    model.release.set()


def scored(model, features=QUIET, event=None, **settings):
    """Score one event for card c1 with `features` stored for it; returns (decision, scorer).

    A slow model is hurried only once score() has returned: the decision was made at its full delay.
    """
    store = FakeStore({"c1": features} if features is not None else {})
    with FraudScorer(model, store, **settings) as scorer:
        decision = scorer.score(event or ev())
        if isinstance(model, AnswersAfter):
            model.hurry()
    return decision, scorer


# --- the model's part ---------------------------------------------------------------------------

def test_the_model_gets_amount_and_the_stored_window_in_order():
    model = Answers(0.1)
    scored(model, window(count=3, total_amount=75.5, max_amount=50.0, distinct_merchants=2), ev(amount=12.5))
    assert model.rows == [[12.5, 3.0, 75.5, 50.0, 2.0]], (
        "the model is asked one row: [amount, count, total_amount, max_amount, distinct_merchants]; "
        f"got {model.rows}")


def test_the_model_gets_the_values_to_the_last_bit():
    model = Answers(0.1)
    scored(model, window(count=3, total_amount=2_000.3, max_amount=1_999.9, distinct_merchants=2), ev(amount=0.3))
    assert model.rows == [[0.3, 3.0, 2_000.3, 1_999.9, 2.0]], (
        "the model is asked about the values as they are (Python floats, or a float64 array): never narrow them "
        "to float32, which turns 0.3 into 0.30000001 and 2000.3 into 2000.3000488; "
        f"got {model.rows}")


def test_stored_features_are_taken_by_name_whatever_their_order_or_extra_keys():
    model = Answers(0.1)
    stored = {"distinct_merchants": 2, "max_amount": 50.0, "late_events": 7, "total_amount": 75.5, "count": 3}
    scored(model, stored, ev(amount=12.5))
    assert model.rows == [[12.5, 3.0, 75.5, 50.0, 2.0]], (
        "the row is [amount, count, total_amount, max_amount, distinct_merchants] taken by name, whatever order "
        f"the store's dict has and whatever other keys it holds; got {model.rows}")


def test_stored_features_of_zero_are_used_as_they_are():
    model = Answers(0.1)
    scored(model, window(count=2, total_amount=0.0, max_amount=0.0, distinct_merchants=2), ev(amount=20.0))
    assert model.rows == [[20.0, 2.0, 0.0, 0.0, 2.0]], (
        "a stored total_amount of 0.0 (a purchase and its refund) and max_amount 0.0 ($0 checks) are the card's "
        "features: only None means 'use the event alone', a stored 0 is a value like any other; "
        f"got {model.rows}")


def test_a_stored_count_or_merchant_count_of_zero_is_used_as_it_is():
    model = Answers(0.1)
    decision, _ = scored(model, window(count=0, total_amount=0.0, max_amount=0.0, distinct_merchants=0),
                         ev(amount=20.0), velocity_count=1, testing_merchants=1)
    assert model.rows == [[20.0, 0.0, 0.0, 0.0, 0.0]], (
        "a stored count of 0 and distinct_merchants of 0 are values like any other: the model sees them as "
        "stored, never replaced by the one-event window's 1 (`stored or 1` treats 0 as missing); "
        f"got {model.rows}")
    assert set(decision.reasons) == set(), (
        "with count 0 and distinct_merchants 0 stored, velocity (velocity_count=1) and card_testing "
        f"(testing_merchants=1) do not fire; got {decision.reasons}")


def test_the_store_is_read_with_the_card_id_exactly_as_given():
    store = FakeStore({"c1": QUIET, " c1": window(count=9), "C1": window(count=7)})
    with FraudScorer(Answers(0.1), store) as scorer:
        got = {card: set(scorer.score(ev(card)).reasons) for card in (" c1", "C1", "c1")}
    assert store.reads == [" c1", "C1", "c1"], (
        "the store is read with the event's card_id exactly as given, never stripped or case-folded: ' c1', 'C1' "
        f"and 'c1' are three cards; reads: {store.reads}")
    assert got == {" c1": {"velocity"}, "C1": {"velocity"}, "c1": set()}, (
        "cards ' c1' (count 9) and 'C1' (count 7) fire velocity on their own features; 'c1' (count 2) does not: "
        f"got {got}")


def test_an_empty_card_id_is_a_card_like_any_other():
    store = FakeStore({"": window(count=9)})
    with FraudScorer(Answers(0.1), store) as scorer:
        try:
            decision = scorer.score(ev(""))
        except ValueError as error:
            pytest.fail(f"a card_id of '' is a str like any other (only None is refused); score() raised {error!r}")
    assert store.reads == [""], f"the store is read for card '' exactly as given; reads: {store.reads}"
    assert "velocity" in decision.reasons, (
        f"card '' has a stored count of 9: velocity fires on its own features; got {decision}")


def test_without_stored_features_the_event_is_its_own_window():
    model = Answers(0.1)
    store = FakeStore()
    with FraudScorer(model, store) as scorer:
        decision = scorer.score(ev("new-card", amount=30.0))
    assert store.reads == ["new-card"], f"the scorer reads the card's features from the store; reads: {store.reads}"
    assert model.rows == [[30.0, 1.0, 30.0, 30.0, 1.0]], (
        f"no stored features: the window is the event alone (count 1, its amount, one merchant); got {model.rows}")
    assert decision.source == "model" and scorer.store_fallbacks == 0, (
        "a card with no stored features is not a store failure")


def test_the_score_is_the_model_probability_when_no_rule_fires():
    decision, scorer = scored(Answers(0.3))
    assert decision.score == pytest.approx(0.3), f"no rule fired: the score is the model's 0.3; got {decision}"
    assert decision.source == "model", f"the model answered in time: source 'model'; got {decision}"
    assert decision.flagged is False, "0.3 is below the default threshold 0.5"
    assert decision.reasons == frozenset() or set(decision.reasons) == set(), f"no rule fired; got {decision.reasons}"
    assert (scorer.model_fallbacks, scorer.store_fallbacks) == (0, 0), "nothing fell back"


def test_a_fired_rule_outweighs_a_low_model_probability():
    decision, _ = scored(Answers(0.2), window(count=9))
    assert decision.score == pytest.approx(1.0) and decision.flagged, (
        f"score = max(rule score 1.0, model 0.2): a fired rule flags the transaction; got {decision}")
    assert decision.source == "model", "the model did answer: source 'model' even though a rule decided"


@pytest.mark.parametrize("p, flagged", [(0.5, True), (0.49, False), (0.496, False), (0.4999, False)])
def test_the_default_threshold_is_half_and_inclusive(p, flagged):
    decision, _ = scored(Answers(p))
    assert decision.flagged is flagged, f"flagged = score >= 0.5 by default; score {p} gave {decision}"


@pytest.mark.parametrize("p", [0.496, 0.0049, 0.123456789])
def test_the_score_is_the_probability_as_answered_never_rounded(p):
    decision, _ = scored(Answers(p))
    assert decision.source == "model" and decision.score == p, (
        f"no rule fired: the score is the model's probability {p} exactly as answered, never rounded (0.496 "
        f"rounded to 0.5 would be flagged); got {decision}")
    assert decision.flagged is (p >= 0.5), f"flagged = score >= 0.5: {p} gives flagged={p >= 0.5}; got {decision}"


@pytest.mark.parametrize("p, flagged", [(0.7, True), (0.6, False)])
def test_threshold_is_honoured(p, flagged):
    decision, _ = scored(Answers(p), threshold=0.7)
    assert decision.flagged is flagged, f"flagged = score >= threshold (0.7); score {p} gave {decision}"


@pytest.mark.parametrize("features, threshold", [(window(count=5), 1.0), (QUIET, 0.0)],
                         ids=["a-fired-rule-at-threshold-1", "no-rule-at-threshold-0"])
def test_the_threshold_is_inclusive_for_a_rules_only_decision_too(features, threshold):
    decision, _ = scored(Raises(0.9), features=features, threshold=threshold)
    assert decision.source == "rules", f"the model failed: the rules decide; got {decision}"
    assert decision.flagged, (
        f"flagged = score >= threshold, whoever decided: a rule score of {decision.score} with threshold={threshold} "
        f"is flagged; got {decision}")


# --- rules ----------------------------------------------------------------------------------------

def reasons_for(features, event=None, **settings) -> set:
    decision, _ = scored(Answers(0.0), features, event, **settings)
    return set(decision.reasons)


@pytest.mark.parametrize("count, fires", [(4, False), (5, True), (6, True)])
def test_velocity_fires_at_five_events_in_the_window_by_default(count, fires):
    got = reasons_for(window(count=count))
    assert ("velocity" in got) is fires, f"velocity fires when count >= 5 (default); count {count} gave {got}"


@pytest.mark.parametrize("count, fires", [(2, False), (3, True)])
def test_velocity_count_is_honoured(count, fires):
    got = reasons_for(window(count=count), velocity_count=3)
    assert ("velocity" in got) is fires, f"with velocity_count=3, count {count} gave {got}"


@pytest.mark.parametrize("count, distinct, max_amount, fires", [
    (3, 3, 5.0, True), (3, 3, 1.0, True), (4, 4, 4.99, True), (2, 2, 1.0, False), (3, 3, 5.01, False),
    (4, 2, 1.0, False), (4, 1, 1.0, False),
    # $0 authorisation checks (the classic probe) and refunds are small amounts too: max_amount <= 5.0
    (3, 3, 0.0, True), (4, 4, -2.0, True),
])
def test_card_testing_fires_on_small_amounts_at_three_merchants_by_default(count, distinct, max_amount, fires):
    got = reasons_for(window(count=count, total_amount=count * max_amount, max_amount=max_amount,
                             distinct_merchants=distinct), ev(amount=max_amount))
    assert ("card_testing" in got) is fires, (
        "card_testing fires when distinct_merchants >= 3 and max_amount <= 5.0 (defaults), however many events "
        f"there are, and whatever the sign: a $0 check or a refund is a small amount too (never require "
        f"max_amount > 0); {count} events at {distinct} merchants with max {max_amount} gave {got}")


def test_card_testing_looks_at_the_largest_amount_not_the_average():
    mixed = window(count=4, total_amount=7.5, max_amount=6.0, distinct_merchants=4)  # 0.5, 0.5, 0.5, 6.0
    got = reasons_for(mixed, ev(amount=6.0))
    assert "card_testing" not in got, (
        "card_testing needs max_amount <= small_amount (5.0): every amount in the window small. Four amounts "
        f"averaging 1.875 with a largest of 6.0 are not all small; compare max_amount, not the mean; got {got}")


def test_testing_merchants_and_small_amount_are_honoured():
    few = window(count=2, total_amount=20.0, max_amount=10.0, distinct_merchants=2)
    assert "card_testing" in reasons_for(few, ev(amount=10.0), testing_merchants=2, small_amount=10.0), (
        "with testing_merchants=2 and small_amount=10.0, two merchants with amounts up to 10.0 is card testing")
    assert "card_testing" not in reasons_for(few, ev(amount=10.0), testing_merchants=2, small_amount=9.99), (
        "with small_amount=9.99 a max_amount of 10.0 is not small")
    assert "card_testing" not in reasons_for(few, ev(amount=10.0), testing_merchants=3, small_amount=10.0), (
        "with testing_merchants=3 two merchants are not enough")


@pytest.mark.parametrize("amount, fires", [(999.99, False), (1000.0, True), (-1500.0, False)])
def test_large_amount_fires_at_a_thousand_by_default(amount, fires):
    got = reasons_for(window(max_amount=amount, total_amount=amount + 20), ev(amount=amount))
    assert ("large_amount" in got) is fires, (
        f"large_amount fires when the event's amount >= 1000.0 (a refund, negative, never does); {amount} gave {got}")


def test_large_amount_is_honoured_and_uses_the_event_amount():
    assert "large_amount" in reasons_for(window(max_amount=300.0), ev(amount=250.0), large_amount=250.0), (
        "with large_amount=250.0 an event of 250.0 fires")
    assert "large_amount" not in reasons_for(window(max_amount=5000.0), ev(amount=249.0), large_amount=250.0), (
        "large_amount looks at this event's amount, not the window's max_amount")


def test_every_rule_that_fires_is_a_reason():
    got = reasons_for(window(count=6, total_amount=12.0, max_amount=4.0, distinct_merchants=4), ev(amount=1500.0))
    assert got == {"velocity", "card_testing", "large_amount"}, f"all three rules fire here; got {got}"


def test_rules_use_the_one_event_window_when_nothing_is_stored():
    got = reasons_for(None, ev(amount=3.0), testing_merchants=1, velocity_count=1)
    assert got == {"card_testing", "velocity"}, (
        "with nothing stored the window is the event alone (count 1, one merchant, max = its amount 3.0); "
        f"got {got}")


# --- the latency budget ---------------------------------------------------------------------------

def _score_in_thread(scorer: FraudScorer, event: dict, limit_s: float):
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(scorer.score(event)), daemon=True)
    thread.start()
    thread.join(limit_s)
    assert outcome, f"score() was still waiting for a model that never answers after {limit_s} s: no budget?"
    return outcome[0]


def test_a_model_that_never_answers_falls_back_to_the_rules(blocking_model):
    store = FakeStore({"c1": window(count=7)})
    with FraudScorer(blocking_model, store, budget_s=0.02) as scorer:
        decision = _score_in_thread(scorer, ev(), limit_s=8)
        assert decision.source == "rules", f"the model missed its budget: source 'rules'; got {decision}"
        assert decision.score == pytest.approx(1.0) and decision.flagged, (
            f"the rule score (velocity fired: 1.0) is used; got {decision}")
        assert decision.reasons == {"velocity"} or set(decision.reasons) == {"velocity"}, f"got {decision.reasons}"
        assert scorer.model_fallbacks == 1, f"the fallback is counted: model_fallbacks 1, got {scorer.model_fallbacks}"
        quiet = _score_in_thread(scorer, ev("c2"), limit_s=8)
        assert (quiet.source, quiet.score, quiet.flagged) == ("rules", 0.0, False), (
            f"no rule fired and the model is late: rule score 0.0; got {quiet}")
        assert scorer.model_fallbacks == 2, f"every fallback is counted; got {scorer.model_fallbacks}"
        blocking_model.release.set()


def test_the_default_budget_does_not_wait_half_a_second():
    decision, scorer = scored(AnswersAfter(0.9, delay_s=0.5))
    assert decision.source == "rules" and scorer.model_fallbacks == 1, (
        f"the default budget is 0.05 s: a model answering after 0.5 s is too late; got {decision}")


def test_the_default_budget_is_fifty_milliseconds():
    with FraudScorer(Answers(0.3), FakeStore({"c1": QUIET})) as scorer:  # every setting at its default
        decision = scorer.score(ev())
    assert decision.source == "model", f"a model answering at once is in time with the default budget; got {decision}"
    default = inspect.signature(FraudScorer).parameters["budget_s"].default
    assert default == 0.05, (
        "FraudScorer(model, store, *, budget_s=0.05, ...): the default budget is 0.05 s (a payment gives the "
        f"whole decision a few tens of milliseconds); the signature's default is {default!r}")


class SlowStore(FakeStore):
    """A store whose every read takes `delay_s` (a Redis far away or busy, yet within its own timeout)."""

    def __init__(self, features: dict | None = None, delay_s: float = 0.3) -> None:
        super().__init__(features)
        self.delay_s = delay_s

    def read(self, card_id):
        time.sleep(self.delay_s)
        return super().read(card_id)


def test_the_budget_starts_when_the_model_is_asked_not_before_the_store_read():
    model = AnswersAfter(0.3, delay_s=0.05)  # far inside its budget of 0.5 s
    with FraudScorer(model, SlowStore({"c1": QUIET}, delay_s=0.6), budget_s=0.5) as scorer:
        decision = scorer.score(ev())
        model.hurry()
    assert decision.source == "model" and decision.score == pytest.approx(0.3), (
        "budget_s is the model's own budget: it starts when the model is asked, after the store read (which has "
        "its own timeout_s). The store took 0.6 s and the model answered after 0.05 s, within budget_s=0.5: "
        f"source 'model'; got {decision} (was the read's time taken off the model's budget?)")
    assert scorer.model_fallbacks == 0, f"the model answered in time: no fallback; got {scorer.model_fallbacks}"


def test_budget_s_is_honoured():
    slow = AnswersAfter(0.9, delay_s=0.1)  # twice the default budget
    decision, _ = scored(slow, budget_s=10)
    assert decision.source == "model" and decision.score == pytest.approx(0.9), (
        f"with budget_s=10 a model answering in 0.1 s is in time; got {decision}")
    decision, scorer = scored(AnswersAfter(0.9, delay_s=0.3), budget_s=0.02)
    assert decision.source == "rules" and scorer.model_fallbacks == 1, (
        f"with budget_s=0.02 a model answering after 0.3 s is late; got {decision}")


class LateOnceThenPrompt(Answers):
    """The first call answers 0.9 only once `release` is set; every later call answers 0.1 after 0.02 s."""

    def __init__(self) -> None:
        super().__init__(0.1)
        self.release = threading.Event()
        self.first_answered = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    def predict_proba(self, X):
        with self.lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self.release.wait(10)
            self.first_answered.set()
            return np.array([[0.1, 0.9]])
        time.sleep(0.02)  # the late 0.9 is queued well before this answer
        return super().predict_proba(X)


def _late_then_prompt(budget_s: float):
    """Score two events with a model whose first answer comes late: (first, second, fallbacks)."""
    model = LateOnceThenPrompt()
    try:
        with FraudScorer(model, FakeStore(), budget_s=budget_s) as scorer:
            first = _score_in_thread(scorer, ev("c1"), limit_s=8)
            model.release.set()
            assert model.first_answered.wait(10), "the first model call should answer once released"
            second = _score_in_thread(scorer, ev("c2"), limit_s=8)
            return first, second, scorer.model_fallbacks
    finally:
        model.release.set()


def test_a_late_answer_is_never_used_for_a_later_event():
    # A short budget keeps the test quick. A machine too busy to get the second answer (0.02 s of
    # work) back within it makes that event fall back too: then the test tries a longer budget.
    for budget_s in (0.06, 0.6, 2.0):
        first, second, fallbacks = _late_then_prompt(budget_s)
        if not (second.source == "rules" and fallbacks == 2):
            break
    assert first.source == "rules", f"the first model call is late: source 'rules'; got {first}"
    assert second.source == "model" and second.score == pytest.approx(0.1), (
        "the model answered the second event 0.1 in time; the late 0.9 was the first event's answer and "
        f"must be thrown away, never used for another event; got {second}")
    assert fallbacks == 1, f"only the first call fell back; got {fallbacks}"


class HangsFirst(Answers):
    """The first `hung` calls answer 0.9 only once `release` is set; every later call answers 0.3 at once."""

    def __init__(self, hung: int) -> None:
        super().__init__(0.3)
        self.hung = hung
        self.release = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    def predict_proba(self, X):
        with self.lock:
            self.calls += 1
            hangs = self.calls <= self.hung
        if hangs:
            self.release.wait(10)
            return np.array([[0.1, 0.9]])
        return super().predict_proba(X)


def _after_hung_calls(hung: int, budget_s: float):
    """Score `hung` + 1 events; the model's first `hung` calls hang until the end: (decisions, fallbacks)."""
    model = HangsFirst(hung=hung)
    try:
        with FraudScorer(model, FakeStore(), budget_s=budget_s) as scorer:
            decisions = [_score_in_thread(scorer, ev(f"c{n}"), limit_s=8) for n in range(1, hung + 2)]
            fallbacks = scorer.model_fallbacks
            model.release.set()
            return decisions, fallbacks
    finally:
        model.release.set()


@pytest.mark.parametrize("hung", [2, 3])
def test_late_model_calls_still_running_never_delay_the_next_events_call(hung):
    # A short budget keeps the test quick. A machine too busy to get the last answer (no work at all) back
    # within it makes that event fall back too: then the test tries a longer budget.
    for budget_s in (0.06, 0.6, 2.0):
        decisions, fallbacks = _after_hung_calls(hung, budget_s)
        if decisions[-1].source == "model":
            break
    *late, last = decisions
    assert all(decision.source == "rules" for decision in late), (
        f"the first {hung} model calls hang: each of those events falls back to the rules; got {late}")
    assert last.source == "model" and last.score == pytest.approx(0.3), (
        f"{hung} late model calls were still running when the next event came; its own call answers 0.3 at once "
        f"and must not wait for a free worker behind them (README: even with three late calls in flight; "
        f"budget_s={budget_s}): source 'model', score 0.3; got {last}")
    assert fallbacks == hung, f"only the {hung} hung calls fell back; got {fallbacks}"


@pytest.mark.parametrize("model", [Raises(0.5), RaisesThis(ConnectionError("model server unreachable")),
                                   RaisesThis(KeyError("amount")), Answers(math.nan), Answers(1.5), Answers(-0.1)],
                         ids=["raises", "raises-connection-error", "raises-key-error", "nan", "above-one",
                              "negative"])
def test_a_failing_or_nonsense_model_falls_back_and_is_counted(model):
    decision, scorer = scored(model, window(count=9))
    assert decision.source == "rules" and decision.score == pytest.approx(1.0), (
        "a model that fails (whatever it raises: catch every Exception, not a list of the ones you expect) or "
        f"answers outside [0, 1] is not used: the rule score decides; got {decision}")
    assert scorer.model_fallbacks == 1, f"the fallback is counted; got {scorer.model_fallbacks}"


class AnswersShaped(Answers):
    """Answers `answer` as it is, whatever its shape: a model whose output has no `[0][1]`."""

    def __init__(self, answer) -> None:
        super().__init__(0.0)
        self.answer = answer

    def predict_proba(self, X):
        super().predict_proba(X)
        return self.answer


@pytest.mark.parametrize("answer", [np.array([[1.0]]), [[1.0]], np.array([0.7, 0.3]), None, [["0.1", "0.9"]],
                                    np.array([["0.1", "0.9"]])],
                         ids=["one-column-array", "one-column-lists", "flat-row", "none", "numeric-strings",
                              "numeric-strings-array"])
def test_an_answer_without_a_fraud_column_falls_back_and_is_counted(answer):
    decision, scorer = scored(AnswersShaped(answer), window(count=9))
    assert decision.source == "rules" and decision.score == pytest.approx(1.0) and decision.flagged, (
        f"the model answered {answer!r}, which has no fraud probability at [0][1] (a scikit-learn classifier "
        "fitted on one class answers one column; a model server's JSON client may answer text, and '0.9' is no "
        "number: check isinstance(value, numbers.Real) before float(), which reads '0.9' as 0.9): score() falls back to the rule score (velocity fired: 1.0), it "
        f"never raises; read [0][1] inside the same try as the call; got {decision}")
    assert scorer.model_fallbacks == 1, f"the fallback is counted; got {scorer.model_fallbacks}"


class FailsOnce(Answers):
    """Raises on its first call, answers `p` on every later one (a flaky model server)."""

    def __init__(self, p: float) -> None:
        super().__init__(p)
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("model server returned 503")
        return super().predict_proba(X)


def test_a_model_that_raised_is_not_asked_again_for_the_same_event():
    model = FailsOnce(0.9)
    with FraudScorer(model, FakeStore({"c1": QUIET})) as scorer:
        first = scorer.score(ev())
        assert (first.source, first.score, first.flagged) == ("rules", 0.0, False), (
            "the model raised: the rule score (0.0, no rule fired) decides. Never retry it for the same event: "
            f"a retry spends a budget the payment does not have, and turns a failure into a late answer; got {first}")
        assert model.calls == 1 and scorer.model_fallbacks == 1, (
            f"the model is asked once per event and the failure is counted; asked {model.calls} times, "
            f"model_fallbacks {scorer.model_fallbacks}")
        second = scorer.score(ev())
    assert second.source == "model" and second.score == pytest.approx(0.9), (
        f"a failure is no reason to stop asking the model for the next event; got {second}")


class ChangesEveryCall(Answers):
    """Answers `answers[0]` on its first call, `answers[1]` on its second...: a model retrained or swapped
    between two events with the same features."""

    def __init__(self, *answers: float) -> None:
        super().__init__(0.0)
        self.answers = list(answers)
        self.calls = 0

    def predict_proba(self, X):
        self.p = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return super().predict_proba(X)


def test_every_event_gets_its_own_model_call_even_with_the_same_features():
    model = ChangesEveryCall(0.1, 0.8, 0.3)
    with FraudScorer(model, FakeStore({"c1": QUIET}), budget_s=5) as scorer:
        decisions = [scorer.score(ev()) for _ in range(3)]
    got = [(d.source, d.score) for d in decisions]
    assert model.calls == 3 and got == [("model", 0.1), ("model", 0.8), ("model", 0.3)], (
        "three events with the same amount and the same stored window: each is scored by its own model call, "
        "never by an answer kept from an earlier event with the same features (the model may have been retrained "
        f"or swapped since); the model answered 0.1, 0.8, 0.3 and was asked {model.calls} times, the decisions "
        f"were {got}")


class LateThenFails(AnswersAfter):
    """Misses any short budget, then (once hurried) ends badly: raises, or answers NaN or 1.5."""

    def __init__(self, ending: str) -> None:
        super().__init__(0.9, delay_s=10)
        self.ending = ending

    def predict_proba(self, X):
        self.hurried.wait(self.delay_s)
        if self.ending == "raises":
            raise RuntimeError("model server returned 504")
        return np.array([[0.0, math.nan if self.ending == "nan" else 1.5] for _ in X])


@pytest.mark.parametrize("ending", ["raises", "nan", "above-one"])
def test_a_late_model_call_that_then_fails_is_counted_once(ending):
    model = LateThenFails(ending)
    with FraudScorer(model, FakeStore({"c1": QUIET}), budget_s=0.02) as scorer:
        decision = scorer.score(ev())
        model.hurry()  # the call now ends, after its budget, with an exception or a nonsense answer
    # leaving the block waited for that call to end
    assert decision.source == "rules", f"the model missed its budget: source 'rules'; got {decision}"
    assert scorer.model_fallbacks == 1, (
        f"one event fell back once (its model call was late, then {ending}): model_fallbacks grows by one per "
        f"event, however the call ends afterwards; got {scorer.model_fallbacks}. Count a fallback in one place "
        "(where score() decides), never also where the call fails on its worker thread")


class AnswersInLists(Answers):
    """Answers with plain Python lists, as a model server's JSON client does."""

    def predict_proba(self, X):
        return super().predict_proba(X).tolist()


class AnswersInFloat32(Answers):
    """Answers a float32 array, as many non-scikit-learn models do."""

    def predict_proba(self, X):
        return super().predict_proba(X).astype(np.float32)


class AnswersInInts:
    """Answers hard 0/1 labels as ints (plain lists or an int64 array), as a rule-based model may."""

    def __init__(self, label: int, as_array: bool) -> None:
        self.label, self.as_array = label, as_array

    def predict_proba(self, X):
        answer = [[1 - self.label, self.label] for _ in X]
        return np.array(answer, dtype=np.int64) if self.as_array else answer


@pytest.mark.parametrize("model, p", [
    (AnswersInLists(0.25), 0.25), (AnswersInFloat32(0.25), 0.25),
    (AnswersInInts(1, as_array=False), 1.0), (AnswersInInts(0, as_array=False), 0.0),
    (AnswersInInts(1, as_array=True), 1.0),
], ids=["lists", "float32", "int-lists-1", "int-lists-0", "int64-array"])
def test_any_answer_indexable_as_0_1_holding_a_number_is_used(model, p):
    decision, scorer = scored(model)
    assert decision.source == "model" and decision.score == pytest.approx(p), (
        "the probability is answer[0][1], whether the answer is a numpy array or plain lists and whatever real "
        f"number type it holds (a float, a float32, an int 0 or 1: here {p!r}); convert it with float(), never "
        f"accept only float types; got {decision}")
    assert scorer.model_fallbacks == 0, f"a valid answer is no fallback; got {scorer.model_fallbacks}"


@pytest.mark.parametrize("model, features", [(Answers(0.3), QUIET), (Raises(0.5), window(count=9)),
                                            (Raises(0.5), QUIET)], ids=["model", "rule-fired", "no-rule"])
def test_a_decision_is_an_immutable_value_with_a_float_score(model, features):
    decision, _ = scored(model, features)
    assert type(decision.score) is float, (
        "Decision.score is a float: the model's probability as a Python float, or the rule score 1.0 or 0.0 "
        f"(never the int 1 or 0, nor a numpy scalar); got {decision.score!r} ({type(decision.score).__name__})")
    assert isinstance(decision.reasons, frozenset), (
        "Decision.reasons is a frozenset, as the stub's dataclass says: a decision is an immutable value (it "
        f"is logged, compared and hashed), so a mutable set or list does not do; got {decision.reasons!r}")
    assert hash(decision) == hash(decision), "a frozen Decision holding a frozenset is hashable"
    # A threshold tuned on data (taken from precision_recall_curve, say) is a numpy float, a valid setting:
    # `score >= threshold` then gives a numpy.bool_, which `is True` never matches and json.dumps refuses.
    # Every place a decision is made counts: the model's, the model's fallback and the store's fallback.
    tuned, _ = scored(model, features, threshold=np.float64(0.5))
    with FraudScorer(model, FakeStore({"c1": features}, down=True), threshold=np.float64(0.5)) as scorer:
        store_down = scorer.score(ev())
    for how, made in ((f"with source {tuned.source!r}", tuned), ("with the store down", store_down)):
        assert type(made.score) is float and isinstance(made.reasons, frozenset), (
            f"every decision has a float score and frozenset reasons, whoever decided: a decision {how} has "
            f"score={made.score!r} ({type(made.score).__name__}) and reasons={made.reasons!r}; an early return on "
            "the store's fallback path must build its Decision like the others")
        assert type(made.flagged) is bool, (
            "Decision.flagged is a plain bool whatever number type the threshold came as: with "
            f"threshold=np.float64(0.5) a decision {how} has flagged={made.flagged!r} "
            f"(a {type(made.flagged).__module__}.{type(made.flagged).__name__}); make it a bool")


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_probabilities_zero_and_one_are_valid_answers(p):
    decision, scorer = scored(Answers(p))
    assert decision.source == "model" and decision.score == pytest.approx(p), f"{p} is in [0, 1]; got {decision}"
    assert scorer.model_fallbacks == 0, "nothing fell back"


# --- the store's part -----------------------------------------------------------------------------

def test_a_store_that_is_down_falls_back_to_rules_on_the_event_alone():
    model = Answers(0.9)
    store = FakeStore({"c1": window(count=9)}, down=True)
    with FraudScorer(model, store) as scorer:
        decision = scorer.score(ev(amount=1200.0))
        assert decision.source == "rules", f"no features, no model: source 'rules'; got {decision}"
        assert set(decision.reasons) == {"large_amount"} and decision.score == pytest.approx(1.0), (
            f"the rules see the event alone: only large_amount can fire; got {decision}")
        assert model.rows == [], "without features the model is not asked"
        assert store.reads == ["c1"], (
            "a store read that raised StoreUnavailable is not retried: the store is read once per event (each try "
            f"can cost the store's whole timeout_s on the payment's path); reads: {store.reads}")
        assert (scorer.store_fallbacks, scorer.model_fallbacks) == (1, 0), (
            f"a store fallback is counted (and is not a model fallback); got store {scorer.store_fallbacks}, "
            f"model {scorer.model_fallbacks}")
        scorer.score(ev(amount=10.0))
        assert scorer.store_fallbacks == 2, f"every store fallback is counted; got {scorer.store_fallbacks}"
        store.down = False
        back = scorer.score(ev(amount=10.0))
        assert back.source == "model" and "velocity" in back.reasons, (
            f"once the store answers again its features and the model are used; got {back}")
        assert scorer.store_fallbacks == 2, "a successful read is not a fallback"


def test_with_the_store_down_the_rules_see_the_event_as_a_one_event_window():
    store = FakeStore(down=True)
    with FraudScorer(Answers(0.1), store, velocity_count=1, testing_merchants=1) as scorer:
        decision = scorer.score(ev(amount=3.0))
    assert set(decision.reasons) == {"velocity", "card_testing"} and decision.source == "rules", (
        "with the store down the window is the event alone: count 1 (velocity_count=1 fires), one merchant and "
        f"max_amount 3.0 (card_testing with testing_merchants=1 fires), not an empty window of zeros; got {decision}")


def test_a_store_that_goes_down_does_not_lend_the_features_it_gave_before():
    store = FakeStore({"c1": window(count=9)})
    with FraudScorer(Answers(0.1), store) as scorer:
        assert "velocity" in scorer.score(ev(amount=20.0)).reasons, "the stored count 9 fires velocity"
        store.down = True
        decision = scorer.score(ev(amount=20.0))
    assert decision.source == "rules" and set(decision.reasons) == set() and decision.score == 0.0, (
        "with the store down the rules see the event alone (count 1), never the features read earlier: "
        f"they may be stale by now; got {decision}")


def test_every_score_reads_the_card_features_afresh():
    store = FakeStore({"c1": QUIET})
    with FraudScorer(Answers(0.1), store) as scorer:
        first = scorer.score(ev())
        store.features["c1"] = window(count=9)
        second = scorer.score(ev())
    assert "velocity" not in first.reasons and "velocity" in second.reasons, (
        "the stream writes the card's newest features before each score: every score reads them from the store "
        f"again, never a copy kept from an earlier read; got {first} then {second}")


def test_the_counters_start_at_zero():
    with FraudScorer(Answers(0.1), FakeStore()) as scorer:
        assert (scorer.model_fallbacks, scorer.store_fallbacks) == (0, 0), "a new scorer has fallen back 0 times"


# --- bad input and settings -----------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["card_id", "amount"])
def test_an_event_without_card_id_or_amount_raises_key_error(missing):
    event = ev()
    del event[missing]
    store = FakeStore()
    with FraudScorer(Answers(0.1), store) as scorer:
        with pytest.raises(KeyError, match=missing):
            scorer.score(event)
        assert store.reads == [] and scorer.model_fallbacks == 0, "a rejected event reads nothing and counts nothing"


def test_an_event_needs_only_card_id_and_amount():
    model = Answers(0.3)
    with FraudScorer(model, FakeStore({"c1": QUIET})) as scorer:
        decision = scorer.score({"card_id": "c1", "amount": 20.0})
    assert decision.source == "model" and decision.score == pytest.approx(0.3), (
        "the scorer needs only card_id and amount: an event without merchant or ts is scored like any other "
        f"(the window features come from the store); got {decision}")


@pytest.mark.parametrize("amount, fired", [(np.float32(20.0), set()), (np.int64(1500), {"large_amount"}),
                                           (np.float64(2.5), set())], ids=["float32", "int64", "float64"])
def test_numpy_amounts_are_scored_like_any_other(amount, fired):
    model = Answers(0.3)
    decision, scorer = scored(model, None, ev(amount=amount))
    assert decision.source == "model" and set(decision.reasons) == fired, (
        f"an amount of {amount!r} (a DataFrame column gives NumPy numbers) is a finite number like any other: "
        "scored, never refused; check it with numbers.Real or math.isfinite, never isinstance(v, (int, float)); "
        f"got {decision}")
    assert model.rows == [[float(amount), 1.0, float(amount), float(amount), 1.0]], (
        f"nothing is stored: the model sees the event alone with its amount {amount!r}; got {model.rows}")


@pytest.mark.parametrize("field, value", [
    ("amount", math.nan), ("amount", math.inf), ("amount", -math.inf), ("card_id", None),
    ("amount", np.float32("nan")), ("amount", np.float32("inf")),  # a NumPy float32 is no Python float
])
def test_a_nan_amount_or_missing_card_raises_value_error(field, value):
    event = ev()
    event[field] = value
    store = FakeStore()
    with FraudScorer(Answers(0.1), store) as scorer:
        with pytest.raises(ValueError):
            scorer.score(event)
        assert store.reads == [], "a rejected event never reaches the store"


@pytest.mark.parametrize("card_id", [123, b"c1"], ids=["int", "bytes"])
def test_a_card_id_that_is_not_a_str_is_refused_before_the_store_is_read(card_id):
    store = FakeStore({card_id: QUIET})
    with FraudScorer(Answers(0.1), store) as scorer:
        try:
            got = scorer.score(ev(card_id))
        except ValueError:
            got = None
        except Exception as error:
            pytest.fail(f"only a str is a card id: an event with card_id {card_id!r} raises ValueError; got {error!r}")
        assert got is None, (
            f"only a str is a card id: an event with card_id {card_id!r} raises ValueError (check "
            f"isinstance(card_id, str), not only `is None`); score returned {got}")
        assert store.reads == [] and (scorer.model_fallbacks, scorer.store_fallbacks) == (0, 0), (
            f"a refused event reads nothing and counts nothing; got reads {store.reads}, model_fallbacks "
            f"{scorer.model_fallbacks}, store_fallbacks {scorer.store_fallbacks}")


@pytest.mark.parametrize("setting, value", [
    ("budget_s", 0), ("budget_s", -1), ("budget_s", math.nan), ("budget_s", math.inf),
    ("threshold", -0.01), ("threshold", 1.01), ("threshold", math.nan),
    ("velocity_count", 0), ("velocity_count", math.nan), ("testing_merchants", 0), ("testing_merchants", math.nan),
    ("small_amount", -1), ("small_amount", math.nan), ("large_amount", 0), ("large_amount", math.nan),
])
def test_settings_out_of_range_are_rejected(setting, value):
    with pytest.raises(ValueError):
        FraudScorer(Answers(0.1), FakeStore(), **{setting: value})


def test_settings_at_their_limits_are_accepted():
    settings = dict(budget_s=0.001, threshold=0.0, velocity_count=1, testing_merchants=1, small_amount=0.0,
                    large_amount=0.01)
    with FraudScorer(Answers(0.1), FakeStore(), **settings) as scorer:
        assert scorer.score(ev()).flagged, "with threshold 0.0 every score is flagged"
    with FraudScorer(Answers(0.1), FakeStore(), threshold=1.0) as scorer:
        assert scorer.score(ev()).flagged is False, "threshold 1.0 is valid: only a score of 1.0 is flagged"


# --- resources ------------------------------------------------------------------------------------

def test_close_stops_every_thread_the_scorer_started(blocking_model):
    before = set(threading.enumerate())
    scorer = FraudScorer(blocking_model, FakeStore(), budget_s=0.01)
    for card in ("a", "b", "c"):
        scorer.score(ev(card))
    blocking_model.release.set()
    scorer.close()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    left = set(threading.enumerate()) - before
    assert not left, f"close() should stop the scorer's threads once the model calls end; still running: {left}"


def test_close_waits_for_a_running_model_call_and_leaves_no_thread(blocking_model):
    before = set(threading.enumerate())
    scorer = FraudScorer(blocking_model, FakeStore(), budget_s=0.01)
    scorer.score(ev())  # the model is still running when score() gives up on it
    closing = threading.Event()

    def close() -> None:
        closing.set()
        scorer.close()

    def release_while_closing() -> None:  # the model call ends while close() is under way
        closing.wait(10)
        time.sleep(0.05)
        blocking_model.release.set()

    releaser = threading.Thread(target=release_while_closing, name="releaser")
    closer = threading.Thread(target=close, name="closer")
    releaser.start()
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "close() was still waiting 10 s after the model call had ended"
    left = set(threading.enumerate()) - before - {releaser}
    releaser.join(10)
    assert not left, (
        "when close() returns the scorer's threads are gone: it waits for the model call still running, "
        f"then stops its threads (shutdown(wait=True), or join them); still running after close(): {left}")


def test_close_waits_for_a_model_call_however_long_it_runs(blocking_model):
    scorer = FraudScorer(blocking_model, FakeStore(), budget_s=0.01)
    scorer.score(ev())  # the model is still running when score() gives up on it
    returned = threading.Event()
    closer = threading.Thread(target=lambda: (scorer.close(), returned.set()), name="closer")
    closer.start()
    early = returned.wait(2.5)  # the model call is still blocked all this time
    blocking_model.release.set()
    closer.join(10)
    assert not early, (
        "close() returned while a model call was still running (2.5 s after it began): close() waits for every "
        "model call still running to end, however long it takes, never a fixed number of seconds "
        "(shutdown(wait=True), or join() without a timeout)")
    assert returned.is_set(), "close() should return once the model call has ended"


def test_leaving_the_with_block_closes_the_scorer():
    before = set(threading.enumerate())
    with FraudScorer(Answers(0.2), FakeStore()) as scorer:
        scorer.score(ev())
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not set(threading.enumerate()) - before, "leaving `with` should stop the scorer's threads"


class Quick:
    """Answers 0.1 at once and keeps nothing of what it was asked."""

    def predict_proba(self, X):
        return [[0.9, 0.1] for _ in X]


class StaticStore:
    """The same quiet window for every card; keeps no record of its reads."""

    def read(self, card_id):
        return QUIET


class AlwaysLate:
    """Answers 0.1 after 3 ms, always past a budget of 0.5 ms; `running` counts the calls under way."""

    def __init__(self) -> None:
        self.running = 0
        self.lock = threading.Lock()

    def predict_proba(self, X):
        with self.lock:
            self.running += 1
        try:
            time.sleep(0.003)
            return [[0.9, 0.1] for _ in X]
        finally:
            with self.lock:
                self.running -= 1


def _until_no_call_runs(model: AlwaysLate, limit_s: float = 10) -> None:
    """Returns once no model call has been under way for three polls in a row (or after `limit_s`)."""
    deadline, idle = time.monotonic() + limit_s, 0
    while idle < 3 and time.monotonic() < deadline:
        idle = idle + 1 if model.running == 0 else 0
        time.sleep(0.05)


def test_memory_stays_flat_when_every_model_call_is_late():
    model = AlwaysLate()
    with FraudScorer(model, StaticStore(), budget_s=0.0005) as scorer:
        for _ in range(200):  # warm-up: worker threads and caches exist before memory is measured
            scorer.score(ev())
        _until_no_call_runs(model)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(1_000):
                scorer.score(ev())
            _until_no_call_runs(model)  # every late call has ended: nothing of them is needed any more
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    # (no exact count of fallbacks: a scorer thread that loses the CPU for 3 ms between asking and waiting
    # may find the answer already there, and that answer is in time)
    assert grown < 300_000, (
        f"1,000 more events whose model calls were all late, and have all ended since, grew memory by {grown:,} "
        "bytes: once a late call has ended the scorer keeps nothing of it (its thread, its future, its answer). "
        "Keep late calls only while they run (prune the finished ones, or let the pool own them): a model "
        "server that is slow for an hour makes millions of late calls")


def test_memory_stays_flat_however_many_events_are_scored():
    with FraudScorer(Quick(), StaticStore(), budget_s=5) as scorer:
        for i in range(200):  # warm-up: worker threads and caches exist before memory is measured
            scorer.score(ev(f"warm-{i:08d}"))
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(2_000):  # every event of a card never seen before: nothing kept by card either
                decision = scorer.score(ev(f"card-{i:08d}"))
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert decision.source == "model", f"the model answers at once, within budget_s=5; got {decision}"
    # A thread, its event and its answer kept per call: some 3,500 bytes each, 7 MB; a decision kept per card,
    # some 470 bytes each, 940 kB. Correct scorers grow by 130 kB at most (caches of the threading module).
    assert grown < 400_000, (
        f"scoring 2,000 more events, each of a new card, grew memory by {grown:,} bytes: the scorer must keep "
        "nothing of an event once its decision is returned and its model call has ended. Drop each finished call "
        "(a thread, a future, its answer) instead of keeping every one in a list for close(), and keep no map by "
        "card (of decisions, of features): a scorer runs for millions of events of millions of cards")
