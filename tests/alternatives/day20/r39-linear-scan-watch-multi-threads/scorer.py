"""Task 3 (style: one plain thread per model call, result handed back through a threading.Event)."""
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


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


class _Call:
    __slots__ = ("done", "value")

    def __init__(self):
        self.done = threading.Event()
        self.value = None


class FraudScorer:
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
        bad = [k for k, ok in checks.items() if not ok]  # NaN fails every comparison
        if bad:
            raise ValueError(f"out of range: {bad}")
        self._model, self._store = model, store
        self._budget = budget_s
        self._thr = threshold
        self._vel, self._tm = velocity_count, testing_merchants
        self._small, self._large = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _run(self, call: _Call, row) -> None:
        try:
            ans = self._model.predict_proba(row)
            p = _real(ans[0][1])
            call.value = p if 0.0 <= p <= 1.0 else None
        except BaseException:
            call.value = None
        finally:
            call.done.set()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _probability(self, row) -> float | None:
        call = _Call()
        t = threading.Thread(target=self._run, args=(call, row), daemon=True, name="fraud-model")
        with self._lock:
            self._threads.add(t)
        t.start()
        if not call.done.wait(self._budget):
            return None
        return call.value

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str):
            raise ValueError("card_id must be a str")
        if not math.isfinite(amount):
            raise ValueError("amount must be finite")
        try:
            feats = self._store.read(card_id)
            store_up = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            feats, store_up = None, False
        if feats is None:
            feats = {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        count, total, mx, dm = (feats[k] for k in ("count", "total_amount", "max_amount", "distinct_merchants"))
        fired = frozenset(name for name, on in (
            ("velocity", count >= self._vel),
            ("card_testing", dm >= self._tm and mx <= self._small),
            ("large_amount", amount >= self._large),
        ) if on)
        rule = 1.0 if fired else 0.0
        source, s = "rules", rule
        if store_up:
            p = self._probability([[amount, count, total, mx, dm]])
            if p is None:
                self.model_fallbacks += 1
            else:
                source, s = "model", max(rule, p)
        return Decision(float(s), bool(s >= self._thr), source, fired)

    def close(self) -> None:
        while True:
            with self._lock:
                pending = list(self._threads)
            if not pending:
                return
            for t in pending:
                t.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
