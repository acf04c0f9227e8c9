"""Rules plus a model under a latency budget: one short-lived thread per model call, a
handed-over answer slot per call, and a set of live threads that close() joins."""

from __future__ import annotations

import math
import numbers
import threading
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


class _Call:
    __slots__ = ("done", "answer", "failed")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer = None
        self.failed = False


class FraudScorer:
    def __init__(self, model, store, *, budget_s=0.05, threshold=0.5, velocity_count=5,
                 testing_merchants=3, small_amount=5.0, large_amount=1000.0) -> None:
        if not (0 < budget_s < math.inf):
            raise ValueError("budget_s must be positive and finite")
        if not (0 <= threshold <= 1):
            raise ValueError("threshold must be in [0, 1]")
        if not velocity_count >= 1:
            raise ValueError("velocity_count must be at least 1")
        if not testing_merchants >= 1:
            raise ValueError("testing_merchants must be at least 1")
        if not small_amount >= 0:
            raise ValueError("small_amount must not be negative")
        if not large_amount > 0:
            raise ValueError("large_amount must be positive")
        self.model = model
        self.store = store
        self.budget_s = budget_s
        self.threshold = threshold
        self.velocity_count = velocity_count
        self.testing_merchants = testing_merchants
        self.small_amount = small_amount
        self.large_amount = large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._live: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _ask(self, row, call: _Call) -> None:
        try:
            answer = self.model.predict_proba([row])
            call.answer = _real(answer[0][1])
        except Exception:
            call.failed = True
        finally:
            call.done.set()

    def _probability(self, row) -> float | None:
        call = _Call()
        worker = threading.Thread(target=self._ask, args=(row, call), name="model-call", daemon=True)
        with self._lock:
            self._live = {t for t in self._live if t.is_alive()}  # finished calls are forgotten
            self._live.add(worker)
        worker.start()
        if not call.done.wait(self.budget_s) or call.failed:
            return None
        p = call.answer
        if p is None or math.isnan(p) or p < 0 or p > 1:
            return None
        return p

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("bad event")
        try:
            features = self.store.read(card_id)
            available = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            features, available = None, False
        if features is None:
            features = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        count = features["count"]
        total = features["total_amount"]
        largest = features["max_amount"]
        merchants = features["distinct_merchants"]
        fired = []
        if count >= self.velocity_count:
            fired.append("velocity")
        if merchants >= self.testing_merchants and largest <= self.small_amount:
            fired.append("card_testing")
        if amount >= self.large_amount:
            fired.append("large_amount")
        rule_score = 1.0 if fired else 0.0
        p = None
        if available:
            p = self._probability([amount, count, total, largest, merchants])
            if p is None:
                self.model_fallbacks += 1
        final = rule_score if p is None else max(rule_score, p)
        return Decision(score=float(final), flagged=True if final >= self.threshold else False,
                        source="model" if p is not None else "rules", reasons=frozenset(fired))

    def close(self) -> None:
        while True:
            with self._lock:
                live = list(self._live)
            if not live:
                return
            for thread in live:
                thread.join()
            with self._lock:
                self._live -= set(live)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
