"""Task 3: rules plus a model on a thread of its own per call, waited for with a deadline."""

from __future__ import annotations

import math
import numbers
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from feature_store import StoreUnavailable


def _real(value) -> float:
    """float(value) for a real number (NumPy ones included); TypeError for text such as "0.9"."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"the model's answer is no number: {value!r}")
    return float(value)


RULES = ("velocity", "card_testing", "large_amount")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _in_range(value, low, high=math.inf, low_open=False) -> bool:
    if value != value:
        return False
    return (value > low if low_open else value >= low) and value <= high


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        if not (_in_range(budget_s, 0, low_open=True) and math.isfinite(budget_s) and _in_range(threshold, 0, 1)
                and _in_range(velocity_count, 1) and _in_range(testing_merchants, 1)
                and _in_range(small_amount, 0) and _in_range(large_amount, 0, low_open=True)):
            raise ValueError("a setting is out of range")
        self._model, self._store = model, store
        self._budget = budget_s
        self._threshold = threshold
        self._limits = (velocity_count, testing_merchants, small_amount, large_amount)
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _ask(self, row) -> float | None:
        answer: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                answer.put(("ok", self._model.predict_proba(row)))
            except BaseException as error:  # noqa: BLE001
                answer.put(("error", error))

        thread = threading.Thread(target=call, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        try:
            kind, value = answer.get(timeout=self._budget)
        except queue.Empty:
            return None
        if kind != "ok":
            return None
        try:
            p = _real(value[0][1])
        except Exception:  # noqa: BLE001
            return None
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        if "card_id" not in event:
            raise KeyError("card_id")
        if "amount" not in event:
            raise KeyError("amount")
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("bad event")
        one_event = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        try:
            stored = self._store.read(card_id)
            available = True
        except StoreUnavailable:
            stored, available = None, False
            self.store_fallbacks += 1
        w = one_event if stored is None else {k: stored[k] for k in one_event}
        velocity_count, testing_merchants, small_amount, large_amount = self._limits
        fired = frozenset(name for name, hit in zip(RULES, (
            w["count"] >= velocity_count,
            w["distinct_merchants"] >= testing_merchants and w["max_amount"] <= small_amount,
            amount >= large_amount)) if hit)
        rule_score = 1.0 if fired else 0.0
        p = None
        if available:
            p = self._ask([[amount, w["count"], w["total_amount"], w["max_amount"], w["distinct_merchants"]]])
            if p is None:
                self.model_fallbacks += 1
        final = rule_score if p is None else max(rule_score, p)
        return Decision(final, bool(final >= self._threshold), "model" if p is not None else "rules", fired)

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
