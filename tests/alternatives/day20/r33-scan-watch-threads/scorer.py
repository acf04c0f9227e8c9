"""One thread per model call, answer handed back through a queue; close joins them."""
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


def _bad(v) -> bool:
    return v != v


class FraudScorer:
    def __init__(self, model, store, *, budget_s=0.05, threshold=0.5, velocity_count=5,
                 testing_merchants=3, small_amount=5.0, large_amount=1000.0) -> None:
        if _bad(budget_s) or budget_s <= 0 or math.isinf(budget_s):
            raise ValueError("budget_s")
        if _bad(threshold) or not (0 <= threshold <= 1):
            raise ValueError("threshold")
        if _bad(velocity_count) or velocity_count < 1:
            raise ValueError("velocity_count")
        if _bad(testing_merchants) or testing_merchants < 1:
            raise ValueError("testing_merchants")
        if _bad(small_amount) or small_amount < 0:
            raise ValueError("small_amount")
        if _bad(large_amount) or large_amount <= 0:
            raise ValueError("large_amount")
        self._model, self._store = model, store
        self._budget, self._threshold = budget_s, threshold
        self._velocity, self._merchants = velocity_count, testing_merchants
        self._small, self._large = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _ask(self, row):
        box: queue.Queue = queue.Queue(maxsize=1)

        def run():
            try:
                box.put(("ok", self._model.predict_proba(row)))
            except Exception as e:  # noqa: BLE001
                box.put(("err", e))

        t = threading.Thread(target=run, daemon=True)
        with self._lock:
            self._threads = {x for x in self._threads if x.is_alive()}
            self._threads.add(t)
        t.start()
        try:
            kind, answer = box.get(timeout=self._budget)
        except queue.Empty:
            return None
        if kind != "ok":
            return None
        try:
            p = _real(answer[0][1])
        except Exception:  # noqa: BLE001
            return None
        return p if 0.0 <= p <= 1.0 else None

    def score(self, event: Mapping) -> Decision:
        if "card_id" not in event:
            raise KeyError("card_id")
        if "amount" not in event:
            raise KeyError("amount")
        card, amount = event["card_id"], event["amount"]
        if not isinstance(card, str) or not math.isfinite(amount):
            raise ValueError("bad event")
        try:
            f = self._store.read(card)
            reachable = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            f, reachable = None, False
        window = ((1, amount, amount, 1) if f is None else
                  (f["count"], f["total_amount"], f["max_amount"], f["distinct_merchants"]))
        count, total, largest, distinct = window
        reasons = frozenset(name for name, fired in (
            ("velocity", count >= self._velocity),
            ("card_testing", distinct >= self._merchants and largest <= self._small),
            ("large_amount", amount >= self._large),
        ) if fired)
        rule = 1.0 if reasons else 0.0
        p = None
        if reachable:
            p = self._ask([[amount, count, total, largest, distinct]])
            if p is None:
                self.model_fallbacks += 1
        s = rule if p is None else max(rule, p)
        return Decision(float(s), bool(s >= self._threshold),
                        "rules" if p is None else "model", reasons)

    def close(self) -> None:
        with self._lock:
            alive = list(self._threads)
        for t in alive:
            t.join()
        with self._lock:
            self._threads = {x for x in self._threads if x.is_alive()}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
