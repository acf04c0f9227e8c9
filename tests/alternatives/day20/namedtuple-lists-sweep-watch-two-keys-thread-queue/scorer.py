"""Task 3: one daemon-less worker thread per model call, answers through a queue per call."""
from __future__ import annotations

import math
import numbers
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

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


_NO_ANSWER = object()


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = {
            "budget_s": 0 < budget_s < math.inf, "threshold": 0 <= threshold <= 1,
            "velocity_count": velocity_count >= 1, "testing_merchants": testing_merchants >= 1,
            "small_amount": small_amount >= 0, "large_amount": large_amount > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"settings out of range: {bad}")
        self._model, self._store = model, store
        self._budget, self._threshold = budget_s, threshold
        self._rules = {
            "velocity": lambda f, amt: f["count"] >= velocity_count,
            "card_testing": lambda f, amt: (f["distinct_merchants"] >= testing_merchants
                                            and f["max_amount"] <= small_amount),
            "large_amount": lambda f, amt: amt >= large_amount,
        }
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []

    def _ask(self, row) -> object:
        box: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                box.put(self._model.predict_proba(row))
            except BaseException:
                box.put(_NO_ANSWER)

        worker = threading.Thread(target=call, name="model-call")
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(worker)
        worker.start()
        try:
            return box.get(timeout=self._budget)
        except queue.Empty:
            return _NO_ANSWER

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("card_id must be given and amount finite")
        alone = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        try:
            stored = self._store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, ask_model = None, False
        else:
            ask_model = True
        window = alone if stored is None else stored
        reasons = frozenset(name for name, rule in self._rules.items() if rule(window, amount))
        rule_score = 1.0 if reasons else 0.0
        probability = None
        if ask_model:
            answer = self._ask(np.array([[amount, window["count"], window["total_amount"],
                                          window["max_amount"], window["distinct_merchants"]]], dtype=float))
            try:
                candidate = _real(answer[0][1]) if answer is not _NO_ANSWER else math.nan
            except (TypeError, ValueError, IndexError):
                candidate = math.nan
            if 0.0 <= candidate <= 1.0:
                probability = candidate
            else:
                self.model_fallbacks += 1
        if probability is None:
            final, source = rule_score, "rules"
        else:
            final, source = max(rule_score, probability), "model"
        return Decision(score=final, flagged=bool(final >= self._threshold), source=source, reasons=reasons)

    def close(self) -> None:
        for worker in self._threads:
            worker.join()
        self._threads.clear()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

