"""Task 3: rules + a model under a latency budget (a thread pool)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
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
        if not 0 < budget_s < math.inf:
            raise ValueError("budget_s must be > 0 and finite")
        if not 0 <= threshold <= 1:
            raise ValueError("threshold must be in [0, 1]")
        if not velocity_count >= 1:
            raise ValueError("velocity_count must be >= 1")
        if not testing_merchants >= 1:
            raise ValueError("testing_merchants must be >= 1")
        if not small_amount >= 0:
            raise ValueError("small_amount must be >= 0")
        if not large_amount > 0:
            raise ValueError("large_amount must be > 0")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fraud-model")

    def _ask_model(self, row):
        future = self._pool.submit(self.model.predict_proba, [row])
        try:
            p = _real(future.result(timeout=self.budget_s)[0][1])
        except Exception:
            return None
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount):
            raise ValueError(f"amount {amount!r} is not finite")
        try:
            stored = self.store.read(card_id)
            store_ok = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, store_ok = None, False
        if stored is None:
            count, total, largest, merchants = 1, amount, amount, 1
        else:
            count, total = stored["count"], stored["total_amount"]
            largest, merchants = stored["max_amount"], stored["distinct_merchants"]
        reasons = set()
        if count >= self.velocity_count:
            reasons.add("velocity")
        if merchants >= self.testing_merchants and largest <= self.small_amount:
            reasons.add("card_testing")
        if amount >= self.large_amount:
            reasons.add("large_amount")
        rule = 1.0 if reasons else 0.0
        p = None
        if store_ok:
            p = self._ask_model([amount, count, total, largest, merchants])
            if p is None:
                self.model_fallbacks += 1
        score = rule if p is None else max(rule, p)
        return Decision(float(score), bool(score >= self.threshold), "rules" if p is None else "model",
                        frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
