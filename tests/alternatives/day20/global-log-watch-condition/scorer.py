"""Task 3: rules + a model under a latency budget (a thread per model call, a Condition to wait)."""

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


RULES = ("velocity", "card_testing", "large_amount")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    """One model call on its own thread; `wait(timeout)` returns the answer or raises."""

    def __init__(self, fn, arg) -> None:
        self._done = threading.Condition()
        self._finished = False
        self._value = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn, arg), daemon=True)
        self.thread.start()

    def _run(self, fn, arg) -> None:
        try:
            value, error = fn(arg), None
        except BaseException as exc:  # reported to the waiter
            value, error = None, exc
        with self._done:
            self._value, self._error, self._finished = value, error, True
            self._done.notify_all()

    def wait(self, timeout: float):
        with self._done:
            if not self._done.wait_for(lambda: self._finished, timeout):
                raise TimeoutError("model missed its budget")
            if self._error is not None:
                raise self._error
            return self._value


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
            if value != value or not ok(value):  # NaN fails value != value
                raise ValueError(f"{name} out of range: {value!r}")
        self._model, self._store = model, store
        self._budget_s, self._threshold = budget_s, threshold
        self._limits = (velocity_count, testing_merchants, small_amount, large_amount)
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _rules(self, amount, count, max_amount, distinct) -> frozenset[str]:
        velocity_count, testing_merchants, small_amount, large_amount = self._limits
        fired = (count >= velocity_count,
                 distinct >= testing_merchants and max_amount <= small_amount,
                 amount >= large_amount)
        return frozenset(name for name, hit in zip(RULES, fired) if hit)

    def _ask_model(self, row: list[float]) -> float | None:
        call = _Call(self._model.predict_proba, [row])
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(call.thread)
        try:
            p = _real(call.wait(self._budget_s)[0][1])
        except Exception:
            return None
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if card_id is None or not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not isinstance(amount, numbers.Real) or not math.isfinite(amount):
            raise ValueError("amount must be a finite number")
        try:
            stored = self._store.read(card_id)
            available = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, available = None, False
        if stored is None:
            count, total, biggest, distinct = 1, amount, amount, 1
        else:
            count, total = stored["count"], stored["total_amount"]
            biggest, distinct = stored["max_amount"], stored["distinct_merchants"]
        reasons = self._rules(amount, count, biggest, distinct)
        rule_score = 1.0 if reasons else 0.0
        probability = None
        if available:
            probability = self._ask_model([float(amount), float(count), float(total), float(biggest),
                                           float(distinct)])
            if probability is None:
                self.model_fallbacks += 1
        if probability is None:
            final, source = rule_score, "rules"
        else:
            final, source = max(rule_score, probability), "model"
        return Decision(score=final, flagged=bool(final >= self._threshold), source=source, reasons=reasons)

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
