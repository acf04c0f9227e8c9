"""Task 3: score a transaction with rules and a model under a latency budget (thread pool)."""

from __future__ import annotations

import concurrent.futures
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from feature_store import StoreUnavailable  # noqa: F401  (what store.read raises when Redis is down)


@dataclass(frozen=True)
class Decision:
    score: float                # in [0, 1]
    flagged: bool               # score >= threshold, a plain bool (never a numpy.bool_)
    source: str                 # "model" (the model answered in time) or "rules"
    reasons: frozenset[str]     # the rules that fired: "velocity", "card_testing", "large_amount"


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = {
            "budget_s": lambda v: v > 0 and math.isfinite(v),
            "threshold": lambda v: 0 <= v <= 1,
            "velocity_count": lambda v: v >= 1,
            "testing_merchants": lambda v: v >= 1,
            "small_amount": lambda v: v >= 0,
            "large_amount": lambda v: v > 0,
        }
        given = dict(budget_s=budget_s, threshold=threshold, velocity_count=velocity_count,
                     testing_merchants=testing_merchants, small_amount=small_amount,
                     large_amount=large_amount)
        for name, ok in checks.items():
            value = given[name]
            if not _real(value) or math.isnan(value) or not ok(value):
                raise ValueError(f"{name} out of range: {value!r}")
        self.model, self.store = model, store
        self.budget_s = float(budget_s)
        self.threshold = threshold
        self.velocity_count = velocity_count
        self.testing_merchants = testing_merchants
        self.small_amount = small_amount
        self.large_amount = large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="fraud-model")

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not _real(amount) or not math.isfinite(float(amount)):
            raise ValueError(f"amount must be a finite number, got {amount!r}")

        store_ok = True
        try:
            stored = self.store.read(card_id)
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
            row = [[amount, count, total, largest, distinct]]
            future = self._pool.submit(self.model.predict_proba, row)
            try:
                raw = future.result(timeout=self.budget_s)[0][1]
                if _real(raw):
                    p = float(raw)
            except Exception:
                p = None
            if p is None or not 0.0 <= p <= 1.0:
                p = None
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
