"""Task 3: rules + a model under a latency budget (ThreadPoolExecutor)."""

from __future__ import annotations

import concurrent.futures
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _setting(value, name, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or not ok(value):
        raise ValueError(f"{name} out of range: {value!r}")
    return value


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        self.budget_s = float(_setting(budget_s, "budget_s", lambda v: 0 < v < math.inf))
        self.threshold = float(_setting(threshold, "threshold", lambda v: 0 <= v <= 1))
        self.velocity_count = _setting(velocity_count, "velocity_count", lambda v: v >= 1)
        self.testing_merchants = _setting(testing_merchants, "testing_merchants", lambda v: v >= 1)
        self.small_amount = _setting(small_amount, "small_amount", lambda v: v >= 0)
        self.large_amount = _setting(large_amount, "large_amount", lambda v: v > 0)
        self.model = model
        self.store = store
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="fraud-model")

    def score(self, event: Mapping) -> Decision:
        card = event["card_id"]
        amount = event["amount"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or not math.isfinite(amount):
            raise ValueError(f"amount must be a finite number, got {amount!r}")
        store_ok = True
        try:
            stored = self.store.read(card)
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, store_ok = None, False
        if stored is None:
            count, total, largest, distinct = 1, amount, amount, 1
        else:
            count, total = stored["count"], stored["total_amount"]
            largest, distinct = stored["max_amount"], stored["distinct_merchants"]
        reasons = set()
        if count >= self.velocity_count:
            reasons.add("velocity")
        if distinct >= self.testing_merchants and largest <= self.small_amount:
            reasons.add("card_testing")
        if amount >= self.large_amount:
            reasons.add("large_amount")
        rule = 1.0 if reasons else 0.0
        p = None
        if store_ok:
            future = self._pool.submit(self.model.predict_proba, [[amount, count, total, largest, distinct]])
            try:
                raw = future.result(timeout=self.budget_s)[0][1]
                p = float(raw) if isinstance(raw, numbers.Real) else None  # a number, never a numeric string
            except Exception:  # late, raised, or no number at [0][1]
                p = None
            if p is not None and not 0.0 <= p <= 1.0:
                p = None
            if p is None:
                self.model_fallbacks += 1
        final = rule if p is None else max(rule, p)
        return Decision(float(final), bool(final >= self.threshold),
                        "rules" if p is None else "model", frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
