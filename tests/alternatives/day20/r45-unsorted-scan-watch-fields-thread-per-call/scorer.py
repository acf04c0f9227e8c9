"""Task 3: rules plus a model under a latency budget (one short-lived thread per model call)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from feature_store import StoreUnavailable

_NO_ANSWER = object()


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    """One model call on its own thread; the answer is read only if it came in time."""

    __slots__ = ("done", "answer")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer = _NO_ANSWER


def _probability(answer) -> float | None:
    try:
        raw = answer[0][1]
    except Exception:
        return None
    if isinstance(raw, (str, bytes, bool)) or raw is None:
        return None
    try:
        p = float(raw)  # numpy scalars, ints, floats
    except (TypeError, ValueError):
        return None
    if hasattr(raw, "__len__"):
        return None
    return p if 0.0 <= p <= 1.0 else None


class FraudScorer:
    """Rules always answer; the model adds its probability when it answers in time."""

    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        if not (budget_s > 0 and math.isfinite(budget_s)):
            raise ValueError(f"budget_s must be positive and finite, got {budget_s!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        if not velocity_count >= 1:
            raise ValueError(f"velocity_count must be >= 1, got {velocity_count!r}")
        if not testing_merchants >= 1:
            raise ValueError(f"testing_merchants must be >= 1, got {testing_merchants!r}")
        if not small_amount >= 0:
            raise ValueError(f"small_amount must be >= 0, got {small_amount!r}")
        if not large_amount > 0:
            raise ValueError(f"large_amount must be > 0, got {large_amount!r}")
        self._model, self._store = model, store
        self._budget = budget_s
        self._threshold = threshold
        self._velocity, self._merchants = velocity_count, testing_merchants
        self._small, self._large = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    # -- model calls -------------------------------------------------------------------------
    def _run(self, call: _Call, row) -> None:
        try:
            call.answer = self._model.predict_proba(row)
        except Exception:
            call.answer = _NO_ANSWER
        finally:
            call.done.set()
            with self._lock:
                self._running.discard(threading.current_thread())

    def _ask_model(self, row) -> float | None:
        call = _Call()
        thread = threading.Thread(target=self._run, args=(call, row), name="fraud-model-call", daemon=True)
        with self._lock:
            self._running.add(thread)
        thread.start()
        if not call.done.wait(self._budget):
            return None
        if call.answer is _NO_ANSWER:
            return None
        return _probability(call.answer)

    # -- scoring -----------------------------------------------------------------------------
    def _window(self, card_id, amount):
        """(count, total, max, distinct, store_ok)."""
        try:
            stored = self._store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            return 1, amount, amount, 1, False
        if stored is None:
            return 1, amount, amount, 1, True
        return (stored["count"], stored["total_amount"], stored["max_amount"],
                stored["distinct_merchants"], True)

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        try:
            ok = math.isfinite(amount)
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"amount must be a finite number, got {amount!r}")

        count, total, largest, distinct, store_ok = self._window(card_id, amount)
        fired = []
        if count >= self._velocity:
            fired.append("velocity")
        if distinct >= self._merchants and largest <= self._small:
            fired.append("card_testing")
        if amount >= self._large:
            fired.append("large_amount")
        rule_score = 1.0 if fired else 0.0

        p = None
        if store_ok:
            p = self._ask_model([[amount, count, total, largest, distinct]])
            if p is None:
                self.model_fallbacks += 1
        value = rule_score if p is None else max(rule_score, p)
        return Decision(score=float(value), flagged=bool(value >= self._threshold),
                        source="rules" if p is None else "model", reasons=frozenset(fired))

    def close(self) -> None:
        while True:
            with self._lock:
                running = list(self._running)
            if not running:
                return
            for thread in running:
                thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
