from __future__ import annotations

import concurrent.futures
import math
import numbers
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


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = [
            (budget_s, lambda v: 0 < v < math.inf), (threshold, lambda v: 0 <= v <= 1),
            (velocity_count, lambda v: v >= 1), (testing_merchants, lambda v: v >= 1),
            (small_amount, lambda v: v >= 0), (large_amount, lambda v: v > 0),
        ]
        for v, ok in checks:
            if math.isnan(v) or not ok(v):
                raise ValueError(f"setting out of range: {v!r}")
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
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount):
            raise ValueError("amount must be finite")
        store_ok = True
        try:
            features = self.store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            features = None
            store_ok = False
        if features is None:
            count, total, mx, distinct = 1, amount, amount, 1
        else:
            count = features["count"]
            total = features["total_amount"]
            mx = features["max_amount"]
            distinct = features["distinct_merchants"]
        reasons = set()
        if count >= self.velocity_count:
            reasons.add("velocity")
        if distinct >= self.testing_merchants and mx <= self.small_amount:
            reasons.add("card_testing")
        if amount >= self.large_amount:
            reasons.add("large_amount")
        rule = 1.0 if reasons else 0.0
        p = None
        if store_ok:
            future = self._pool.submit(self.model.predict_proba, [[amount, count, total, mx, distinct]])
            try:
                p = _real(future.result(timeout=self.budget_s)[0][1])
            except BaseException:
                p = None
            if p is None or not 0.0 <= p <= 1.0:
                p = None
                self.model_fallbacks += 1
        score = rule if p is None else max(rule, p)
        return Decision(float(score), bool(score >= self.threshold),
                        "rules" if p is None else "model", frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
