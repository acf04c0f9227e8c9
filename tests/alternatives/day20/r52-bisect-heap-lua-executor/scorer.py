from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _real(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(float(v)):
        raise ValueError(name)
    return v


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        for n, v in (("budget_s", budget_s), ("threshold", threshold), ("velocity_count", velocity_count),
                     ("testing_merchants", testing_merchants), ("small_amount", small_amount),
                     ("large_amount", large_amount)):
            _real(v, n)
        if budget_s <= 0 or not math.isfinite(float(budget_s)):
            raise ValueError("budget_s")
        if not 0 <= threshold <= 1:
            raise ValueError("threshold")
        if velocity_count < 1 or testing_merchants < 1 or small_amount < 0 or large_amount <= 0:
            raise ValueError("settings")
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

    def score(self, event: Mapping) -> Decision:
        for key in ("card_id", "amount"):
            if key not in event:
                raise KeyError(key)
        card = event["card_id"]
        if not isinstance(card, str):
            raise ValueError("card_id")
        amount = event["amount"]
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or not math.isfinite(float(amount)):
            raise ValueError("amount")
        store_ok = True
        try:
            feats = self.store.read(card)
        except StoreUnavailable:
            self.store_fallbacks += 1
            feats = None
            store_ok = False
        if feats is None:
            count, total, mx, distinct = 1, amount, amount, 1
        else:
            count, total, mx, distinct = (feats["count"], feats["total_amount"],
                                          feats["max_amount"], feats["distinct_merchants"])
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
                raw = future.result(timeout=self.budget_s)[0][1]
                if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
                    p = float(raw)
            except BaseException:
                p = None
            if p is None or not 0.0 <= p <= 1.0:
                self.model_fallbacks += 1
                p = None
        score = rule if p is None else max(rule, p)
        return Decision(float(score), bool(score >= self.threshold),
                        "rules" if p is None else "model", frozenset(reasons))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
