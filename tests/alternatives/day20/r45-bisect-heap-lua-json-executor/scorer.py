"""Task 3: rules plus a model under a latency budget (ThreadPoolExecutor)."""

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


def _check(name, value, bad):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or bad(value):
        raise ValueError(f"{name}={value!r} is out of range")


class FraudScorer:
    """Rules always answer; the model adds its probability when it answers in time."""

    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        _check("budget_s", budget_s, lambda v: v <= 0 or math.isinf(v))
        _check("threshold", threshold, lambda v: not 0 <= v <= 1)
        _check("velocity_count", velocity_count, lambda v: v < 1)
        _check("testing_merchants", testing_merchants, lambda v: v < 1)
        _check("small_amount", small_amount, lambda v: v < 0)
        _check("large_amount", large_amount, lambda v: v <= 0)
        self.model = model
        self.store = store
        self.budget_s = budget_s
        self.threshold = threshold
        self.velocity_count = velocity_count
        self.testing_merchants = testing_merchants
        self.small_amount = small_amount
        self.large_amount = large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="fraud-model")

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            finite = math.isfinite(amount)
        except TypeError:
            raise ValueError("amount must be a number") from None
        if not finite:
            raise ValueError("amount must be finite")

        store_ok = True
        try:
            stored = self.store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored = None
            store_ok = False
        if stored is None:
            count, total, largest, distinct = 1, amount, amount, 1
        else:
            count = stored["count"]
            total = stored["total_amount"]
            largest = stored["max_amount"]
            distinct = stored["distinct_merchants"]

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
                if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
                    p = float(raw)
            except Exception:
                p = None
            if p is None or not 0.0 <= p <= 1.0:
                p = None
                self.model_fallbacks += 1
        final = rule if p is None else max(rule, p)
        final = float(final)
        return Decision(final, bool(final >= self.threshold), "rules" if p is None else "model",
                        frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
