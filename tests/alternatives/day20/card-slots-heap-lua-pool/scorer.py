"""Task 3: score a transaction with rules and a model under a latency budget (thread pool)."""

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


def _check(name: str, value, ok) -> None:
    if isinstance(value, float) and math.isnan(value) or not ok(value):
        raise ValueError(f"{name} out of range: {value!r}")


class FraudScorer:
    """Rules always answer; the model adds its probability when it answers in time."""

    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        _check("budget_s", budget_s, lambda v: 0 < v < math.inf)
        _check("threshold", threshold, lambda v: 0 <= v <= 1)
        _check("velocity_count", velocity_count, lambda v: v >= 1)
        _check("testing_merchants", testing_merchants, lambda v: v >= 1)
        _check("small_amount", small_amount, lambda v: v >= 0)
        _check("large_amount", large_amount, lambda v: v > 0)
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fraud-model")

    def _ask_model(self, row: list[float]) -> float | None:
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
            raise ValueError(f"amount must be finite, got {amount!r}")
        try:
            stored = self.store.read(card_id)
            store_ok = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, store_ok = None, False
        if stored is None:
            count, total, biggest, distinct = 1, amount, amount, 1
        else:
            count, total = stored["count"], stored["total_amount"]
            biggest, distinct = stored["max_amount"], stored["distinct_merchants"]

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
            p = self._ask_model([float(amount), float(count), float(total), float(biggest), float(distinct)])
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
