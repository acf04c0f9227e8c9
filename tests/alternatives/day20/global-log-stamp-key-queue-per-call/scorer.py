"""Task 3: rules + a model, one thread per model call handing its answer back through a queue."""

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


_RULE_NAMES = ("velocity", "card_testing", "large_amount")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _in_range(name, value, low, high=math.inf, low_open=False):
    if value != value:
        raise ValueError(f"{name} is NaN")
    if (value <= low if low_open else value < low) or value > high:
        raise ValueError(f"{name} out of range: {value}")


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        _in_range("budget_s", budget_s, 0, low_open=True)
        if math.isinf(budget_s):
            raise ValueError("budget_s must be finite")
        _in_range("threshold", threshold, 0, 1)
        _in_range("velocity_count", velocity_count, 1)
        _in_range("testing_merchants", testing_merchants, 1)
        _in_range("small_amount", small_amount, 0)
        _in_range("large_amount", large_amount, 0, low_open=True)
        self._model, self._store = model, store
        self._budget_s, self._threshold = budget_s, threshold
        self._velocity, self._testing = velocity_count, testing_merchants
        self._small, self._large = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _ask_model(self, row) -> float | None:
        answers: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                answers.put(("ok", self._model.predict_proba(row)))
            except BaseException as error:  # reported to the waiting caller as a fallback
                answers.put(("error", error))

        thread = threading.Thread(target=call, name="model-call", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        try:
            kind, answer = answers.get(timeout=self._budget_s)
        except queue.Empty:
            return None
        if kind != "ok":
            return None
        try:
            p = _real(answer[0][1])
        except (TypeError, ValueError, IndexError):
            return None
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("card_id must be set and amount finite")
        try:
            stored = self._store.read(card_id)
            store_up = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, store_up = None, False
        count, total, biggest, merchants = (
            (stored["count"], stored["total_amount"], stored["max_amount"], stored["distinct_merchants"])
            if stored is not None else (1, amount, amount, 1))

        fired = frozenset(name for name, hit in zip(_RULE_NAMES, (
            count >= self._velocity,
            merchants >= self._testing and biggest <= self._small,
            amount >= self._large,
        )) if hit)
        rule_score = 1.0 if fired else 0.0

        p = None
        if store_up:
            p = self._ask_model([[amount, count, total, biggest, merchants]])
            if p is None:
                self.model_fallbacks += 1
        final = rule_score if p is None else max(rule_score, p)
        return Decision(final, bool(final >= self._threshold), "model" if p is not None else "rules", fired)

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
