"""Task 3: one thread per model call, answers handed back through a per-call slot; rules as functions."""
from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset[str]


def _bad(x) -> bool:
    return x != x


class _Call:
    def __init__(self, model, row) -> None:
        self.done = threading.Event()
        self.answer = None
        self.failed = False
        self.model, self.row = model, row

    def run(self) -> None:
        try:
            self.answer = self.model.predict_proba(self.row)
        except BaseException:
            self.failed = True
        finally:
            self.done.set()


class FraudScorer:
    def __init__(self, model, store, *, budget_s: float = 0.05, threshold: float = 0.5,
                 velocity_count: int = 5, testing_merchants: int = 3,
                 small_amount: float = 5.0, large_amount: float = 1000.0) -> None:
        checks = {"budget_s": 0 < budget_s < math.inf, "threshold": 0 <= threshold <= 1, "velocity_count": velocity_count >= 1,
                  "testing_merchants": testing_merchants >= 1, "small_amount": small_amount >= 0,
                  "large_amount": large_amount > 0}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name} out of range")
        self._model, self._store = model, store
        self._budget = budget_s
        self._threshold = threshold
        self._rules = (
            ("velocity", lambda w, amount: w[0] >= velocity_count),
            ("card_testing", lambda w, amount: w[3] >= testing_merchants and w[2] <= small_amount),
            ("large_amount", lambda w, amount: amount >= large_amount),
        )
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def _run(self, call: _Call) -> None:
        try:
            call.run()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _probability(self, row) -> float | None:
        call = _Call(self._model, row)
        thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        wait = self._budget
        if not call.done.wait(wait) or call.failed:
            return None
        try:
            p = call.answer[0][1]
        except Exception:
            return None
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
            return None
        p = float(p)
        if _bad(p) or p < 0 or p > 1:
            return None
        return p

    def score(self, event: Mapping) -> Decision:
        card_id, amount = event["card_id"], event["amount"]
        if not isinstance(card_id, str) or _bad(amount) or amount in (math.inf, -math.inf):
            raise ValueError("bad event")
        try:
            stored = self._store.read(card_id)
            reachable = True
        except StoreUnavailable:
            self.store_fallbacks += 1
            stored, reachable = None, False
        if stored is not None:
            w = tuple(stored[k] for k in ("count", "total_amount", "max_amount", "distinct_merchants"))
        else:
            w = (1, amount, amount, 1)
        reasons = frozenset(name for name, rule in self._rules if rule(w, amount))
        rule_score = float(len(reasons) > 0)
        if not reachable:
            return Decision(rule_score, bool(rule_score >= self._threshold), "rules", reasons)
        p = self._probability([[amount, w[0], w[1], w[2], w[3]]])
        if p is None:
            self.model_fallbacks += 1
            return Decision(rule_score, bool(rule_score >= self._threshold), "rules", reasons)
        final = max(rule_score, p)
        return Decision(final, bool(final >= self._threshold), "model", reasons)

    def close(self) -> None:
        with self._lock:
            running = list(self._threads)
        for thread in running:
            thread.join()

    def __enter__(self) -> "FraudScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
