"""Task 3, style B: one daemon-less thread per model call, its answer handed over in a one-slot
queue; live threads are tracked in a set (removed when they end) so close() can join them."""

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


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


_FAILED = object()


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        settings = dict(budget_s=budget_s, threshold=threshold, velocity_count=velocity_count,
                        testing_merchants=testing_merchants, small_amount=small_amount, large_amount=large_amount)
        if any(math.isnan(v) for v in settings.values()):
            raise ValueError("NaN setting")
        if budget_s <= 0 or math.isinf(budget_s) or threshold < 0 or threshold > 1 or velocity_count < 1 or testing_merchants < 1 \
                or small_amount < 0 or large_amount <= 0:
            raise ValueError("setting out of range")
        self._model, self._store = model, store
        self._s = settings
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._live: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _window(self, event_amount, features):
        if features is None:
            return {"count": 1, "total_amount": event_amount, "max_amount": event_amount, "distinct_merchants": 1}
        return {k: features[k] for k in ("count", "total_amount", "max_amount", "distinct_merchants")}

    def _ask(self, row) -> float | None:
        slot: queue.Queue = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                answer = self._model.predict_proba(row)
                slot.put(_real(answer[0][1]))
            except BaseException:
                slot.put(_FAILED)

        worker = threading.Thread(target=run, name="model-call")
        with self._lock:
            self._live = {t for t in self._live if t.is_alive()}  # forget calls that have ended
            self._live.add(worker)
        worker.start()
        try:
            got = slot.get(timeout=self._s["budget_s"])
        except queue.Empty:
            return None
        if got is _FAILED or not (0.0 <= got <= 1.0):
            return None
        return got

    def score(self, event: Mapping) -> Decision:
        if "card_id" not in event:
            raise KeyError("card_id")
        if "amount" not in event:
            raise KeyError("amount")
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or not math.isfinite(amount):
            raise ValueError("bad card_id or amount")
        asked = True
        try:
            stored = self._store.read(card_id)
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, asked = None, False
        w = self._window(amount, stored)
        s = self._s
        reasons = frozenset(name for name, fired in (
            ("velocity", w["count"] >= s["velocity_count"]),
            ("card_testing", w["distinct_merchants"] >= s["testing_merchants"] and w["max_amount"] <= s["small_amount"]),
            ("large_amount", amount >= s["large_amount"]),
        ) if fired)
        score, source = (1.0 if reasons else 0.0), "rules"
        if asked:
            p = self._ask([[amount, w["count"], w["total_amount"], w["max_amount"], w["distinct_merchants"]]])
            if p is None:
                self.model_fallbacks += 1
            else:
                score, source = max(score, p), "model"
        flagged = True if score >= s["threshold"] else False
        return Decision(score=float(score), flagged=flagged, source=source, reasons=reasons)

    def close(self) -> None:
        with self._lock:
            live, self._live = list(self._live), set()
        for worker in live:
            worker.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
