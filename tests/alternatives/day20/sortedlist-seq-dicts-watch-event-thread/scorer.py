"""Task 3: rules, then the model on a thread of its own per call, waited for with an Event."""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from feature_store import StoreUnavailable


def _real(value) -> float:
    """float(value) for a real number (NumPy ones included); TypeError for text such as "0.9"."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"the model's answer is no number: {value!r}")
    return float(value)


FEATURES = ("count", "total_amount", "max_amount", "distinct_merchants")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    def __init__(self, model, row) -> None:
        self.done = threading.Event()
        self.value = None
        self.thread = threading.Thread(target=self._run, args=(model, row), daemon=True)
        self.thread.start()

    def _run(self, model, row) -> None:
        try:
            answer = model.predict_proba(row)
            self.value = _real(answer[0][1])
        except Exception:
            self.value = None
        finally:
            self.done.set()


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        values = [budget_s, threshold, velocity_count, testing_merchants, small_amount, large_amount]
        if any(math.isnan(v) for v in values):
            raise ValueError("NaN setting")
        if budget_s <= 0 or math.isinf(budget_s) or not (0 <= threshold <= 1) or velocity_count < 1 or testing_merchants < 1 \
                or small_amount < 0 or large_amount <= 0:
            raise ValueError("setting out of range")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = self.store_fallbacks = 0
        self._calls: list[_Call] = []
        self._lock = threading.Lock()

    def _window(self, amount, features):
        if features is None:
            return (1, amount, amount, 1)
        return tuple(features[name] for name in FEATURES)

    def score(self, event: Mapping) -> Decision:
        if "card_id" not in event:
            raise KeyError("card_id")
        if "amount" not in event:
            raise KeyError("amount")
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("bad event")
        try:
            features, store_ok = self.store.read(card_id), True
        except StoreUnavailable:
            features, store_ok = None, False
            with self._lock:
                self.store_fallbacks += 1
        count, total, biggest, distinct = self._window(amount, features)
        reasons = frozenset(name for name, fired in (
            ("velocity", count >= self.velocity_count),
            ("card_testing", distinct >= self.testing_merchants and biggest <= self.small_amount),
            ("large_amount", amount >= self.large_amount)) if fired)
        rule = float(bool(reasons))
        if not store_ok:
            return Decision(rule, bool(rule >= self.threshold), "rules", reasons)
        call = _Call(self.model, [[amount, count, total, biggest, distinct]])
        with self._lock:
            self._calls = [c for c in self._calls if c.thread.is_alive()] + [call]
        p = call.value if call.done.wait(self.budget_s) else None
        if p is None or not (0.0 <= p <= 1.0):
            with self._lock:
                self.model_fallbacks += 1
            return Decision(rule, bool(rule >= self.threshold), "rules", reasons)
        final = max(rule, p)
        return Decision(final, bool(final >= self.threshold), "model", reasons)

    def close(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for call in calls:
            call.thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
