from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from feature_store import StoreUnavailable  # noqa: F401


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _setting(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number")
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    return value


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        _setting(budget_s, "budget_s")
        if budget_s <= 0 or not math.isfinite(budget_s):
            raise ValueError("budget_s must be positive and finite")
        if not 0 <= _setting(threshold, "threshold") <= 1:
            raise ValueError("threshold must be in [0, 1]")
        if _setting(velocity_count, "velocity_count") < 1:
            raise ValueError("velocity_count must be >= 1")
        if _setting(testing_merchants, "testing_merchants") < 1:
            raise ValueError("testing_merchants must be >= 1")
        if _setting(small_amount, "small_amount") < 0:
            raise ValueError("small_amount must be >= 0")
        if _setting(large_amount, "large_amount") <= 0:
            raise ValueError("large_amount must be > 0")
        self.model = model
        self.store = store
        self.budget_s = float(budget_s)
        self.threshold = threshold
        self.velocity_count = velocity_count
        self.testing_merchants = testing_merchants
        self.small_amount = small_amount
        self.large_amount = large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fraud-model")

    @staticmethod
    def _probability(answer):
        p = answer[0][1]
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            return None
        p = float(p)
        if not 0.0 <= p <= 1.0:
            return None
        return p

    def score(self, event: Mapping) -> Decision:
        for key in ("card_id", "amount"):
            if key not in event:
                raise KeyError(key)
        card = event["card_id"]
        amount = event["amount"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or not math.isfinite(amount):
            raise ValueError("amount must be a finite number")
        store_ok = True
        try:
            features = self.store.read(card)
        except StoreUnavailable:
            self.store_fallbacks += 1
            features = None
            store_ok = False
        if features is None:
            count, total, biggest, distinct = 1, amount, amount, 1
        else:
            count = features["count"]
            total = features["total_amount"]
            biggest = features["max_amount"]
            distinct = features["distinct_merchants"]
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
            future = self._pool.submit(self.model.predict_proba, [[amount, count, total, biggest, distinct]])
            try:
                p = self._probability(future.result(timeout=self.budget_s))
            except BaseException:
                p = None
            if p is None:
                self.model_fallbacks += 1
            del future
        score = rule if p is None else max(rule, p)
        return Decision(float(score), bool(score >= self.threshold),
                        "rules" if p is None else "model", frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
