"""Rules and a model: one (non-daemon) thread per model call, a queue per call for its answer."""
from __future__ import annotations

import math
import numbers
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from feature_store import StoreUnavailable


def _real(value) -> float:
    """float(value) for a real number (NumPy ones included); TypeError for text such as "0.9"."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"the model's answer is no number: {value!r}")
    return float(value)


_FAILED = object()


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _check(name, ok):
    if not ok:
        raise ValueError(f"{name} out of range")


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        _check("budget_s", 0 < budget_s < math.inf)
        _check("threshold", 0 <= threshold <= 1)
        _check("velocity_count", velocity_count >= 1)
        _check("testing_merchants", testing_merchants >= 1)
        _check("small_amount", small_amount >= 0)
        _check("large_amount", large_amount > 0)
        self._model, self._store = model, store
        self._budget = budget_s
        self._threshold = threshold
        self._rules = (velocity_count, testing_merchants, small_amount, large_amount)
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _ask(self, row) -> float | None:
        box: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                answer = self._model.predict_proba([row])
                box.put(_real(answer[0][1]))
            except Exception:
                box.put(_FAILED)

        thread = threading.Thread(target=call, name="fraud-model")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        try:
            got = box.get(timeout=self._budget)
        except queue.Empty:
            return None
        if got is _FAILED or not (0.0 <= got <= 1.0):
            return None
        return got

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or math.isnan(amount) or math.isinf(amount):
            raise ValueError("bad event")
        try:
            stored = self._store.read(card_id)
            reachable = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, reachable = None, False
        if stored is None:
            stored = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        row = [amount] + [stored[k] for k in ("count", "total_amount", "max_amount", "distinct_merchants")]
        velocity_count, testing_merchants, small_amount, large_amount = self._rules
        fired = frozenset(name for name, hit in (
            ("velocity", row[1] >= velocity_count),
            ("card_testing", row[4] >= testing_merchants and row[3] <= small_amount),
            ("large_amount", amount >= large_amount),
        ) if hit)
        rule_score = 1.0 if fired else 0.0
        if not reachable:
            return Decision(rule_score, bool(rule_score >= self._threshold), "rules", fired)
        p = self._ask(row)
        if p is None:
            self.model_fallbacks += 1
            return Decision(rule_score, bool(rule_score >= self._threshold), "rules", fired)
        final = max(rule_score, p)
        return Decision(final, bool(final >= self._threshold), "model", fired)

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
