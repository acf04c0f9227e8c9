"""Task 3: rules and a model under a latency budget, one thread and one reply queue per call."""

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


RULES = ("velocity", "card_testing", "large_amount")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class FraudScorer:
    """Rules always answer; the model adds its probability when it answers in time."""

    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        limits = {
            "budget_s": (budget_s, 0 < budget_s < math.inf),
            "threshold": (threshold, 0 <= threshold <= 1),
            "velocity_count": (velocity_count, velocity_count >= 1),
            "testing_merchants": (testing_merchants, testing_merchants >= 1),
            "small_amount": (small_amount, small_amount >= 0),
            "large_amount": (large_amount, large_amount > 0),
        }
        for name, (value, ok) in limits.items():
            if not ok:  # NaN compares False everywhere, so it lands here too
                raise ValueError(f"{name}={value!r} is out of range")
        self._model = model
        self._store = store
        self._budget = budget_s
        self._threshold = threshold
        self._velocity = velocity_count
        self._merchants = testing_merchants
        self._small = small_amount
        self._large = large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _call_model(self, row: list[float]):
        reply: queue.Queue = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                reply.put(("ok", self._model.predict_proba([row])))
            except BaseException as error:  # handed to the caller, who falls back
                reply.put(("error", error))

        thread = threading.Thread(target=run, name="model-call", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        try:
            status, answer = reply.get(timeout=self._budget)
        except queue.Empty:
            return None
        if status != "ok":
            return None
        try:
            p = _real(answer[0][1])
        except (TypeError, ValueError, IndexError, KeyError):
            return None
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        card_id = event["card_id"]
        amount = event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("an event needs a card_id and a finite amount")
        try:
            window = self._store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            window, reachable = None, False
        else:
            reachable = True
        if window is None:
            window = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        fired = {
            "velocity": window["count"] >= self._velocity,
            "card_testing": window["distinct_merchants"] >= self._merchants
            and window["max_amount"] <= self._small,
            "large_amount": amount >= self._large,
        }
        reasons = frozenset(name for name in RULES if fired[name])
        rule_score = 1.0 if reasons else 0.0
        if not reachable:
            return Decision(rule_score, bool(rule_score >= self._threshold), "rules", reasons)
        row = [float(amount)] + [float(window[k]) for k in
                                 ("count", "total_amount", "max_amount", "distinct_merchants")]
        p = self._call_model(row)
        if p is None:
            self.model_fallbacks += 1
            return Decision(rule_score, bool(rule_score >= self._threshold), "rules", reasons)
        final = max(rule_score, p)
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
