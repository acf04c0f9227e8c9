"""Task 3 (style B): one thread per model call, the answer handed back through a one-slot queue."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from feature_store import StoreUnavailable  # noqa: F401

_WINDOW = ("count", "total_amount", "max_amount", "distinct_merchants")


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _probability(answer) -> float | None:
    try:
        raw = answer[0][1]
    except Exception:
        return None
    if isinstance(raw, (str, bytes, bool)) or not hasattr(raw, "__float__") or hasattr(raw, "__len__"):
        return None
    try:
        p = float(raw)
    except Exception:
        return None
    return p if 0.0 <= p <= 1.0 else None


class FraudScorer:
    """Rules always answer; the model adds its probability when it answers in time."""

    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = {
            "budget_s": 0 < budget_s < math.inf,
            "threshold": 0 <= threshold <= 1,
            "velocity_count": velocity_count >= 1,
            "testing_merchants": testing_merchants >= 1,
            "small_amount": small_amount >= 0,
            "large_amount": large_amount > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]  # NaN fails every comparison
        if bad:
            raise ValueError(f"settings out of range: {bad}")
        self._model, self._store = model, store
        self._budget = budget_s
        self._threshold = threshold
        self._limits = (velocity_count, testing_merchants, small_amount, large_amount)
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _ask(self, row) -> "queue.Queue":
        slot: queue.Queue = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                slot.put(("ok", self._model.predict_proba(row)))
            except BaseException as error:  # noqa: BLE001  any model failure is a fallback
                slot.put(("error", error))
            finally:
                with self._lock:
                    self._running.discard(threading.current_thread())

        worker = threading.Thread(target=call, name="fraud-model-call", daemon=True)
        with self._lock:
            self._running.add(worker)
        worker.start()
        return slot

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if card_id is None or not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if isinstance(amount, (bool, str)) or not math.isfinite(amount):
            raise ValueError("amount must be a finite number")

        try:
            stored = self._store.read(card_id)
            reachable = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, reachable = None, False
        window = [1, amount, amount, 1] if stored is None else [stored[k] for k in _WINDOW]
        count, total, largest, distinct = window

        velocity, testing, small, large = self._limits
        fired = frozenset(name for name, hit in (
            ("velocity", count >= velocity),
            ("card_testing", distinct >= testing and largest <= small),
            ("large_amount", amount >= large),
        ) if hit)
        score = 1.0 if fired else 0.0
        source = "rules"

        if reachable:
            slot = self._ask([[amount, count, total, largest, distinct]])
            try:
                kind, answer = slot.get(timeout=self._budget)
            except queue.Empty:
                kind, answer = "late", None
            p = _probability(answer) if kind == "ok" else None
            if p is None:
                self.model_fallbacks += 1
            else:
                score, source = max(score, p), "model"
        return Decision(float(score), bool(score >= self._threshold), source, fired)

    def close(self) -> None:
        while True:
            with self._lock:
                running = list(self._running)
            if not running:
                return
            for worker in running:
                worker.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
