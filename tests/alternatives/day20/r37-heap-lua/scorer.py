"""Rules plus a model under a latency budget, with a thread pool for the model."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
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


def _nan_or(value, bad) -> bool:
    return value != value or bad(value)


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = {
            "budget_s": _nan_or(budget_s, lambda v: v <= 0 or math.isinf(v)),
            "threshold": _nan_or(threshold, lambda v: not 0 <= v <= 1),
            "velocity_count": _nan_or(velocity_count, lambda v: v < 1),
            "testing_merchants": _nan_or(testing_merchants, lambda v: v < 1),
            "small_amount": _nan_or(small_amount, lambda v: v < 0),
            "large_amount": _nan_or(large_amount, lambda v: v <= 0),
        }
        for name, bad in checks.items():
            if bad:
                raise ValueError(f"{name} is out of range")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fraud-model")

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount):
            raise ValueError(f"amount must be finite, got {amount!r}")
        store_ok = True
        try:
            stored = self.store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, store_ok = None, False
        if stored is None:
            count, total, biggest, merchants = 1, amount, amount, 1
        else:
            count, total = stored["count"], stored["total_amount"]
            biggest, merchants = stored["max_amount"], stored["distinct_merchants"]
        reasons = set()
        if count >= self.velocity_count:
            reasons.add("velocity")
        if merchants >= self.testing_merchants and biggest <= self.small_amount:
            reasons.add("card_testing")
        if amount >= self.large_amount:
            reasons.add("large_amount")
        rule = 1.0 if reasons else 0.0
        probability = None
        if store_ok:
            future = self._pool.submit(self.model.predict_proba, [[amount, count, total, biggest, merchants]])
            try:
                p = _real(future.result(timeout=self.budget_s)[0][1])
                if 0.0 <= p <= 1.0:
                    probability = p
            except (FutureTimeout, Exception):
                pass
            if probability is None:
                self.model_fallbacks += 1
        score = rule if probability is None else max(rule, probability)
        return Decision(float(score), bool(score >= self.threshold),
                        "rules" if probability is None else "model", frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
