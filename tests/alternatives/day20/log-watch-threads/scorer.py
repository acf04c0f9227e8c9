"""Task 3: rules + model; one short-lived thread per model call, answers delivered through a per-call queue."""

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


VELOCITY, CARD_TESTING, LARGE = "velocity", "card_testing", "large_amount"


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        for name, value in dict(budget_s=budget_s, threshold=threshold, velocity_count=velocity_count,
                                testing_merchants=testing_merchants, small_amount=small_amount,
                                large_amount=large_amount).items():
            if isinstance(value, float) and math.isnan(value):
                raise ValueError(f"{name} is NaN")
        if budget_s <= 0 or math.isinf(budget_s):
            raise ValueError("budget_s must be > 0 and finite")
        if threshold < 0 or threshold > 1:
            raise ValueError("threshold must be in [0, 1]")
        if velocity_count < 1 or testing_merchants < 1:
            raise ValueError("velocity_count and testing_merchants must be >= 1")
        if small_amount < 0:
            raise ValueError("small_amount must be >= 0")
        if large_amount <= 0:
            raise ValueError("large_amount must be > 0")
        self._model, self._store = model, store
        self._budget_s, self._threshold = budget_s, threshold
        self._velocity_count, self._testing_merchants = velocity_count, testing_merchants
        self._small, self._large = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _ask_model(self, row: list[float]) -> float | None:
        answers: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                answers.put(("ok", self._model.predict_proba([row])))
            except BaseException as error:  # noqa: BLE001 - reported to the waiting caller
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
        for key in ("card_id", "amount"):
            if key not in event:
                raise KeyError(key)
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("card_id must be set and amount finite")
        try:
            window = self._store.read(card_id)
            reachable = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            window, reachable = None, False
        if window is None:
            window = dict(count=1, total_amount=amount, max_amount=amount, distinct_merchants=1)
        fired = []
        if window["count"] >= self._velocity_count:
            fired.append(VELOCITY)
        if window["distinct_merchants"] >= self._testing_merchants and window["max_amount"] <= self._small:
            fired.append(CARD_TESTING)
        if amount >= self._large:
            fired.append(LARGE)
        rule_score = 1.0 if fired else 0.0
        source, score = "rules", rule_score
        if reachable:
            row = [float(amount), float(window["count"]), float(window["total_amount"]),
                   float(window["max_amount"]), float(window["distinct_merchants"])]
            p = self._ask_model(row)
            if p is None:
                self.model_fallbacks += 1
            else:
                source, score = "model", max(rule_score, p)
        return Decision(score=score, flagged=bool(score >= self._threshold), source=source, reasons=frozenset(fired))

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
