"""Task 3: rules and a model under a latency budget (a thread per model call)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


REAL = (int, float, np.integer, np.floating)


def _real(x) -> bool:
    return isinstance(x, REAL) and not isinstance(x, (bool, np.bool_))


class _Call:
    """One model call on its own thread; the caller waits on `done` for at most the budget."""

    __slots__ = ("done", "answer", "failed")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer = None
        self.failed = False


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = {
            "budget_s": (budget_s, lambda v: 0 < v < math.inf),
            "threshold": (threshold, lambda v: 0 <= v <= 1),
            "velocity_count": (velocity_count, lambda v: v >= 1),
            "testing_merchants": (testing_merchants, lambda v: v >= 1),
            "small_amount": (small_amount, lambda v: v >= 0),
            "large_amount": (large_amount, lambda v: v > 0),
        }
        for name, (value, ok) in checks.items():
            if not _real(value) or not ok(value):  # NaN fails every comparison
                raise ValueError(f"{name} out of range: {value!r}")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _run(self, call: _Call, row) -> None:
        try:
            call.answer = self.model.predict_proba(row)
        except BaseException:
            call.failed = True
        finally:
            call.done.set()

    def _ask_model(self, row):
        call = _Call()
        thread = threading.Thread(target=self._run, args=(call, row), daemon=True, name="fraud-model-call")
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}  # forget calls that have ended
            self._threads.add(thread)
        thread.start()
        if not call.done.wait(self.budget_s) or call.failed:
            return None
        try:
            p = call.answer[0][1]
        except Exception:
            return None
        if not _real(p):
            return None
        p = float(p)
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not _real(amount) or not math.isfinite(amount):
            raise ValueError("amount must be a finite number")
        try:
            stored = self.store.read(card_id)
            available = True
        except StoreUnavailable:
            stored, available = None, False
            self.store_fallbacks += 1
        if stored is not None:
            window = [stored["count"], stored["total_amount"], stored["max_amount"], stored["distinct_merchants"]]
        else:
            window = [1, amount, amount, 1]
        count, total, biggest, distinct = window
        fired = frozenset(name for name, hit in (
            ("velocity", count >= self.velocity_count),
            ("card_testing", distinct >= self.testing_merchants and biggest <= self.small_amount),
            ("large_amount", amount >= self.large_amount),
        ) if hit)
        rule_score = 1.0 if fired else 0.0
        probability = None
        if available:
            probability = self._ask_model([[amount, *window]])
            if probability is None:
                self.model_fallbacks += 1
        if probability is None:
            final, source = rule_score, "rules"
        else:
            final, source = max(rule_score, probability), "model"
        return Decision(float(final), bool(final >= self.threshold), source, fired)

    def close(self) -> None:
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return
            for thread in threads:
                thread.join()
            with self._lock:
                self._threads = {t for t in self._threads if t.is_alive()}

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
