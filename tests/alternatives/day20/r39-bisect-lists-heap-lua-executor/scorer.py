"""Task 3 (style: ThreadPoolExecutor + future.result(timeout))."""
from __future__ import annotations

import concurrent.futures as cf
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


def _check(cond, msg):
    if not cond:
        raise ValueError(msg)


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        for name, v in [("budget_s", budget_s), ("threshold", threshold),
                        ("velocity_count", velocity_count), ("testing_merchants", testing_merchants),
                        ("small_amount", small_amount), ("large_amount", large_amount)]:
            _check(v == v, f"{name} is NaN")
        _check(budget_s > 0 and math.isfinite(budget_s), "budget_s")
        _check(0 <= threshold <= 1, "threshold")
        _check(velocity_count >= 1, "velocity_count")
        _check(testing_merchants >= 1, "testing_merchants")
        _check(small_amount >= 0, "small_amount")
        _check(large_amount > 0, "large_amount")
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
        self._pool = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fraud-model")

    def _ask(self, row):
        future = self._pool.submit(self.model.predict_proba, row)
        try:
            answer = future.result(timeout=self.budget_s)
            p = _real(answer[0][1])
        except BaseException:
            return None
        finally:
            del future
        if not 0.0 <= p <= 1.0:
            return None
        return p

    def score(self, event: Mapping) -> Decision:
        for k in ("card_id", "amount"):
            if k not in event:
                raise KeyError(k)
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            ok = math.isfinite(amount)
        except TypeError as e:
            raise ValueError("amount must be a number") from e
        if isinstance(amount, str) or not ok:
            raise ValueError("amount must be finite")
        store_ok = True
        try:
            feats = self.store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            feats = None
            store_ok = False
        if feats is None:
            count, total, mx, distinct = 1, amount, amount, 1
        else:
            count, total = feats["count"], feats["total_amount"]
            mx, distinct = feats["max_amount"], feats["distinct_merchants"]
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
            p = self._ask([[amount, count, total, mx, distinct]])
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
