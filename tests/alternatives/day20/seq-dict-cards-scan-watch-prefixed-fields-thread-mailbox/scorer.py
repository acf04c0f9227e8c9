"""Task 3: rules + a model under a latency budget, with one plain thread per model call.

Each call gets its own thread and its own one-slot mailbox, so an answer can only ever reach
the event that asked for it. close() joins every thread still running.
"""

from __future__ import annotations

import math
import numbers
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from feature_store import StoreUnavailable


def _real(value) -> float:
    """float(value) for a real number (NumPy ones included); TypeError for text such as "0.9"."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"the model's answer is no number: {value!r}")
    return float(value)


RULE_NAMES = ("velocity", "card_testing", "large_amount")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class Window(NamedTuple):
    count: float
    total_amount: float
    max_amount: float
    distinct_merchants: float

    @classmethod
    def alone(cls, amount: float) -> "Window":
        return cls(1, amount, amount, 1)

    @classmethod
    def of(cls, stored: Mapping) -> "Window":
        return cls(*(stored[name] for name in cls._fields))


def _in_range(value, low, high=math.inf, low_open=False) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return (value > low if low_open else value >= low) and value <= high


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        if not _in_range(budget_s, 0, low_open=True) or math.isinf(budget_s):
            raise ValueError("budget_s")
        if not _in_range(threshold, 0, 1):
            raise ValueError("threshold")
        if not _in_range(velocity_count, 1) or not _in_range(testing_merchants, 1):
            raise ValueError("velocity_count / testing_merchants")
        if not _in_range(small_amount, 0) or not _in_range(large_amount, 0, low_open=True):
            raise ValueError("small_amount / large_amount")
        self._model, self._store = model, store
        self._budget = budget_s
        self._threshold = threshold
        self._limits = (velocity_count, testing_merchants, small_amount, large_amount)
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _rules(self, amount: float, w: Window) -> frozenset[str]:
        velocity, merchants, small, large = self._limits
        fired = {
            "velocity": w.count >= velocity,
            "card_testing": w.distinct_merchants >= merchants and w.max_amount <= small,
            "large_amount": amount >= large,
        }
        return frozenset(name for name in RULE_NAMES if fired[name])

    def _ask_model(self, row: list[float]) -> float | None:
        mailbox: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                answer = self._model.predict_proba([row])
                mailbox.put(("ok", _real(answer[0][1])))
            except BaseException as error:  # noqa: BLE001 - any failure is a fallback
                mailbox.put(("error", error))

        thread = threading.Thread(target=call, name="fraud-model-call", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        try:
            kind, value = mailbox.get(timeout=self._budget)
        except queue.Empty:
            return None
        if kind != "ok" or not (0.0 <= value <= 1.0):
            return None
        return value

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("card_id must be set and amount finite")
        try:
            stored = self._store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            window = Window.alone(amount)
            reasons = self._rules(amount, window)
            rule = 1.0 if reasons else 0.0
            return Decision(rule, bool(rule >= self._threshold), "rules", reasons)
        window = Window.alone(amount) if stored is None else Window.of(stored)
        reasons = self._rules(amount, window)
        rule = 1.0 if reasons else 0.0
        p = self._ask_model([amount, *window])
        if p is None:
            self.model_fallbacks += 1
            return Decision(rule, bool(rule >= self._threshold), "rules", reasons)
        final = max(rule, p)
        return Decision(final, bool(final >= self._threshold), "model", reasons)

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
