"""Task 3: rules + a model under a latency budget (ThreadPoolExecutor)."""
from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass
from numbers import Real

from feature_store import StoreUnavailable  # noqa: F401


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _setting(name, value, ok):
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value) or not ok(value):
        raise ValueError(f"{name} out of range: {value!r}")
    return value


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        self.budget_s = float(_setting("budget_s", budget_s, lambda v: 0 < v < math.inf))
        self.threshold = float(_setting("threshold", threshold, lambda v: 0 <= v <= 1))
        self.velocity_count = _setting("velocity_count", velocity_count, lambda v: v >= 1)
        self.testing_merchants = _setting("testing_merchants", testing_merchants, lambda v: v >= 1)
        self.small_amount = _setting("small_amount", small_amount, lambda v: v >= 0)
        self.large_amount = _setting("large_amount", large_amount, lambda v: v > 0)
        self.model = model
        self.store = store
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="fraud-model")

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if isinstance(amount, bool) or not isinstance(amount, Real) or not math.isfinite(amount):
            raise ValueError("amount must be a finite number")
        store_ok = True
        try:
            features = self.store.read(card_id)
        except StoreUnavailable:
            features, store_ok = None, False
            with self._lock:
                self.store_fallbacks += 1
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
                raw = future.result(timeout=self.budget_s)[0][1]
                if isinstance(raw, Real) and not isinstance(raw, bool):
                    p = float(raw)
                    if not 0.0 <= p <= 1.0:
                        p = None
            except BaseException:  # late, raised, or no [0][1]
                p = None
            if p is None:
                with self._lock:
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
