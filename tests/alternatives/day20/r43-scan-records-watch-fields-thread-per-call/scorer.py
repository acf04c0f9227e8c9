"""Task 3: rules + a model under a latency budget: one short-lived thread per model call."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

from feature_store import StoreUnavailable  # noqa: F401  (what store.read raises when Redis is down)


@dataclass(frozen=True)
class Decision:
    score: float                # in [0, 1]
    flagged: bool               # score >= threshold, a plain bool (never a numpy.bool_)
    source: str                 # "model" (the model answered in time) or "rules"
    reasons: frozenset[str]     # the rules that fired: "velocity", "card_testing", "large_amount"


_FAILED = object()


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _in_range(name, value, low=None, high=None, low_open=False, finite=False):
    if not _number(value) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if finite and math.isinf(value):
        raise ValueError(f"{name} must be finite")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} too small: {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} too large: {value!r}")


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        _in_range("budget_s", budget_s, low=0, low_open=True, finite=True)
        _in_range("threshold", threshold, low=0, high=1)
        _in_range("velocity_count", velocity_count, low=1)
        _in_range("testing_merchants", testing_merchants, low=1)
        _in_range("small_amount", small_amount, low=0)
        _in_range("large_amount", large_amount, low=0, low_open=True)
        self._model, self._store = model, store
        self._budget_s = float(budget_s)
        self._threshold = float(threshold)
        self._velocity, self._merchants = velocity_count, testing_merchants
        self._small, self._large = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    # -- model call on its own thread ------------------------------------------------------
    def _ask_model(self, row) -> float | None:
        box: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                try:
                    answer = self._model.predict_proba(row)
                    value = answer[0][1]
                    box.put(float(value) if _number(value) else _FAILED)
                except BaseException:
                    box.put(_FAILED)
            finally:
                with self._lock:
                    self._running.discard(threading.current_thread())

        worker = threading.Thread(target=call, name="fraud-model-call", daemon=True)
        with self._lock:
            self._running.add(worker)
        worker.start()
        try:
            value = box.get(timeout=self._budget_s)
        except queue.Empty:
            return None
        if value is _FAILED or not (0.0 <= value <= 1.0):
            return None
        return value

    def score(self, event: Mapping) -> Decision:
        if "card_id" not in event:
            raise KeyError("card_id")
        if "amount" not in event:
            raise KeyError("amount")
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not _number(amount) or not math.isfinite(amount):
            raise ValueError(f"amount must be a finite number: {amount!r}")

        window = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        try:
            stored = self._store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            available = False
        else:
            available = True
            if stored is not None:
                window = {name: stored[name] for name in window}

        fired = frozenset(name for name, hit in (
            ("velocity", window["count"] >= self._velocity),
            ("card_testing", window["distinct_merchants"] >= self._merchants
             and window["max_amount"] <= self._small),
            ("large_amount", amount >= self._large),
        ) if hit)
        rule_score = 1.0 if fired else 0.0

        probability = None
        if available:
            probability = self._ask_model([[amount, window["count"], window["total_amount"],
                                            window["max_amount"], window["distinct_merchants"]]])
            if probability is None:
                self.model_fallbacks += 1
        if probability is None:
            final, source = rule_score, "rules"
        else:
            final, source = max(rule_score, probability), "model"
        return Decision(score=float(final), flagged=final >= self._threshold, source=source, reasons=fired)

    def close(self) -> None:
        while True:
            with self._lock:
                left = list(self._running)
            if not left:
                return
            for worker in left:
                worker.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
