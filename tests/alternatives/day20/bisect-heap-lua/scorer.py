"""Task 3: rules + a model under a latency budget (ThreadPoolExecutor)."""

from __future__ import annotations

import math
import numbers
import concurrent.futures as cf
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


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return value


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        if not 0 < _number(budget_s, "budget_s") < math.inf:
            raise ValueError("budget_s must be > 0 and finite")
        if not 0 <= _number(threshold, "threshold") <= 1:
            raise ValueError("threshold must be in [0, 1]")
        if not _number(velocity_count, "velocity_count") >= 1:
            raise ValueError("velocity_count must be >= 1")
        if not _number(testing_merchants, "testing_merchants") >= 1:
            raise ValueError("testing_merchants must be >= 1")
        if not _number(small_amount, "small_amount") >= 0:
            raise ValueError("small_amount must be >= 0")
        if not _number(large_amount, "large_amount") > 0:
            raise ValueError("large_amount must be > 0")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fraud-model")

    def score(self, event: Mapping) -> Decision:
        card = event["card_id"]
        amount = event["amount"]
        if not isinstance(card, str):
            raise ValueError(f"card_id must be a str, got {card!r}")
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or not math.isfinite(amount):
            raise ValueError(f"amount must be a finite number, got {amount!r}")

        store_ok = True
        try:
            features = self.store.read(card)
        except StoreUnavailable:
            self.store_fallbacks += 1
            features, store_ok = None, False
        if features is None:
            features = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        count, total = features["count"], features["total_amount"]
        biggest, distinct = features["max_amount"], features["distinct_merchants"]

        reasons = set()
        if count >= self.velocity_count:
            reasons.add("velocity")
        if distinct >= self.testing_merchants and biggest <= self.small_amount:
            reasons.add("card_testing")
        if amount >= self.large_amount:
            reasons.add("large_amount")
        rule = 1.0 if reasons else 0.0

        p = None
        if store_ok:
            row = [[float(amount), float(count), float(total), float(biggest), float(distinct)]]
            future = self._pool.submit(self.model.predict_proba, row)
            try:
                p = _real(future.result(timeout=self.budget_s)[0][1])
            except Exception:
                p = None
            if p is not None and not 0.0 <= p <= 1.0:
                p = None
            if p is None:
                self.model_fallbacks += 1
        score = rule if p is None else max(rule, p)
        return Decision(score, bool(score >= self.threshold), "rules" if p is None else "model", frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
