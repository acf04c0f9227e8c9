"""Task 3: rules + a model; a plain thread per model call, each tracked only while it runs."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

from feature_store import StoreUnavailable

RULES = ("velocity", "card_testing", "large_amount")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    """One model call on its own thread; `done` is set when it has an answer or failed."""

    def __init__(self, model, row, running: set, lock: threading.Lock) -> None:
        self.done = threading.Event()
        self.probability: float | None = None
        self._model, self._row, self._running, self._lock = model, row, running, lock
        self.thread = threading.Thread(target=self._run, name="fraud-model-call", daemon=True)
        with lock:
            running.add(self.thread)
        self.thread.start()

    def _run(self) -> None:
        try:
            answer = self._model.predict_proba(self._row)
            raw = answer[0][1]
            p = float(raw) if isinstance(raw, Real) else math.nan  # a number, never a numeric string
            if 0.0 <= p <= 1.0:
                self.probability = p
        except Exception:
            pass
        finally:
            self.done.set()
            with self._lock:
                self._running.discard(threading.current_thread())


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = {
            "budget_s": (budget_s, lambda v: 0 < v and math.isfinite(v)),
            "threshold": (threshold, lambda v: 0 <= v <= 1),
            "velocity_count": (velocity_count, lambda v: v >= 1),
            "testing_merchants": (testing_merchants, lambda v: v >= 1),
            "small_amount": (small_amount, lambda v: v >= 0),
            "large_amount": (large_amount, lambda v: v > 0),
        }
        for name, (value, ok) in checks.items():
            if not isinstance(value, Real) or math.isnan(value) or not ok(value):
                raise ValueError(f"{name}={value!r} is out of range")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _window(self, card, amount):
        try:
            stored = self.store.read(card)
        except StoreUnavailable:
            self.store_fallbacks += 1
            return (1, amount, amount, 1), False
        if stored is None:
            return (1, amount, amount, 1), True
        return tuple(stored[k] for k in ("count", "total_amount", "max_amount", "distinct_merchants")), True

    def _fired(self, amount, count, total, largest, distinct) -> frozenset[str]:
        tests = {
            "velocity": count >= self.velocity_count,
            "card_testing": distinct >= self.testing_merchants and largest <= self.small_amount,
            "large_amount": amount >= self.large_amount,
        }
        return frozenset(name for name in RULES if tests[name])

    def score(self, event: Mapping) -> Decision:
        for key in ("card_id", "amount"):
            if key not in event:
                raise KeyError(key)
        card, amount = event["card_id"], event["amount"]
        if not isinstance(card, str):
            raise ValueError("card_id must be a str")
        if not isinstance(amount, Real) or not math.isfinite(amount):
            raise ValueError(f"amount must be a finite number, got {amount!r}")
        (count, total, largest, distinct), have_features = self._window(card, amount)
        reasons = self._fired(amount, count, total, largest, distinct)
        rule_score = 1.0 if reasons else 0.0
        probability = None
        if have_features:
            call = _Call(self.model, [[amount, count, total, largest, distinct]], self._running, self._lock)
            if call.done.wait(self.budget_s):
                probability = call.probability
            if probability is None:
                self.model_fallbacks += 1
        if probability is None:
            final, source = rule_score, "rules"
        else:
            final, source = max(rule_score, probability), "model"
        return Decision(score=float(final), flagged=final >= self.threshold and True or False,
                        source=source, reasons=reasons)

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
