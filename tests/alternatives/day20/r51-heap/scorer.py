"""Task 3: rules and a model under a latency budget (ThreadPoolExecutor)."""

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


def _real(value, name):
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    try:
        f = float(value)
    except OverflowError as e:
        raise ValueError(f"{name} out of range") from e
    if math.isnan(f):
        raise ValueError(f"{name} is NaN")
    return f


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        b = _real(budget_s, "budget_s")
        if b <= 0 or math.isinf(b):
            raise ValueError("budget_s must be positive and finite")
        t = _real(threshold, "threshold")
        if not 0.0 <= t <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        if _real(velocity_count, "velocity_count") < 1:
            raise ValueError("velocity_count must be >= 1")
        if _real(testing_merchants, "testing_merchants") < 1:
            raise ValueError("testing_merchants must be >= 1")
        if _real(small_amount, "small_amount") < 0:
            raise ValueError("small_amount must be >= 0")
        if _real(large_amount, "large_amount") <= 0:
            raise ValueError("large_amount must be > 0")
        self.model = model
        self.store = store
        self.budget_s = b
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
        if not isinstance(amount, numbers.Real):
            raise ValueError("amount must be a number")
        try:
            if not math.isfinite(float(amount)):
                raise ValueError("amount must be finite")
        except OverflowError as e:
            raise ValueError("amount too large") from e

        store_ok = True
        try:
            stored = self.store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored = None
            store_ok = False
        if stored is None:
            count, total, biggest, distinct = 1, amount, amount, 1
        else:
            count = stored["count"]
            total = stored["total_amount"]
            biggest = stored["max_amount"]
            distinct = stored["distinct_merchants"]

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
            future = self._pool.submit(self.model.predict_proba,
                                       [[amount, count, total, biggest, distinct]])
            try:
                raw = future.result(timeout=self.budget_s)[0][1]
                if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
                    p = float(raw)
                    if not 0.0 <= p <= 1.0:
                        p = None
            except Exception:  # late, raised, no number at [0][1]
                p = None
            finally:
                del future
            if p is None:
                self.model_fallbacks += 1
        score = rule if p is None else max(rule, p)
        return Decision(float(score), bool(score >= self.threshold),
                        "rules" if p is None else "model", frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
