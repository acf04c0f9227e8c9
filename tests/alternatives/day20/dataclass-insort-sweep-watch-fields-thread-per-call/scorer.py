"""Task 3, written with one thread per model call and a table of rules."""

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


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    """One model call on its own thread; the answer goes into this call's own slot."""

    def __init__(self, model, row) -> None:
        self.done = threading.Event()
        self.answer = None
        self.failed = False
        self.thread = threading.Thread(target=self._run, args=(model, row), daemon=True, name="model-call")
        self.thread.start()

    def _run(self, model, row) -> None:
        try:
            self.answer = model.predict_proba([row])
        except BaseException:
            self.failed = True
        finally:
            self.done.set()


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        _check(0 < budget_s < math.inf, "budget_s must be positive and finite")
        _check(0.0 <= threshold <= 1.0, "threshold must be in [0, 1]")
        _check(velocity_count >= 1, "velocity_count must be at least 1")
        _check(testing_merchants >= 1, "testing_merchants must be at least 1")
        _check(small_amount >= 0, "small_amount must not be negative")
        _check(large_amount > 0, "large_amount must be positive")
        self._model, self._store = model, store
        self._budget, self._threshold = budget_s, threshold
        self._rules = (
            ("velocity", lambda amount, w: w["count"] >= velocity_count),
            ("card_testing", lambda amount, w: w["distinct_merchants"] >= testing_merchants
             and w["max_amount"] <= small_amount),
            ("large_amount", lambda amount, w: amount >= large_amount),
        )
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._calls: list[_Call] = []
        self._lock = threading.Lock()

    def _probability(self, row) -> float | None:
        call = _Call(self._model, row)
        with self._lock:
            self._calls = [c for c in self._calls if c.thread.is_alive()] + [call]
        if not call.done.wait(self._budget) or call.failed:
            return None
        try:
            p = _real(call.answer[0][1])
        except Exception:
            return None
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str) or math.isnan(amount) or math.isinf(amount):
            raise ValueError("card_id must be set and amount finite")
        alone = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        try:
            stored = self._store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            w, ask = alone, False
        else:
            w, ask = (alone if stored is None else stored), True
        reasons = frozenset(name for name, fires in self._rules if fires(amount, w))
        score = 1.0 if reasons else 0.0
        source = "rules"
        if ask:
            p = self._probability([amount, w["count"], w["total_amount"], w["max_amount"], w["distinct_merchants"]])
            if p is None:
                self.model_fallbacks += 1
            else:
                score, source = max(score, p), "model"
        return Decision(score, bool(score >= self._threshold), source, reasons)

    def close(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for call in calls:
            call.thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
