"""Task 3: a thread pool for the model, rules as the floor."""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _nan(x) -> bool:
    return x != x


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

    def _ask_model(self, row) -> float | None:
        future = self._pool.submit(self.model.predict_proba, row)
        timeout = self.budget_s
        try:
            p = future.result(timeout=timeout)[0][1]
        except (FutureTimeout, Exception):
            return None
        if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            return None
        return float(p)

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            finite = math.isfinite(amount)
        except TypeError:
            finite = False
        if not finite:
            raise ValueError(f"amount {amount!r} is not a finite number")
        store_ok = True
        try:
            stored = self.store.read(card_id)
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
            p = self._ask_model([[amount, count, total, largest, merchants]])
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
