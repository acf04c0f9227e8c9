"""Scorer: a short-lived daemon thread per model call, joined with the budget as timeout."""

import math
import numbers
import threading
from dataclasses import dataclass

from feature_store import StoreUnavailable


@dataclass(frozen=True)
class Decision:
    score: float
    flagged: bool
    source: str
    reasons: frozenset


class FraudScorer:
    def __init__(self, model, store, *, budget_s=0.05, threshold=0.5, velocity_count=5,
                 testing_merchants=3, small_amount=5.0, large_amount=1000.0):
        checks = [0 < budget_s < math.inf, 0 <= threshold <= 1, velocity_count >= 1, testing_merchants >= 1,
                  small_amount >= 0, large_amount > 0]
        if not all(checks):  # NaN fails every comparison
            raise ValueError("a setting is out of range")
        self.model, self.store = model, store
        self.budget_s, self.threshold = budget_s, threshold
        self.velocity_count, self.testing_merchants = velocity_count, testing_merchants
        self.small_amount, self.large_amount = small_amount, large_amount
        self.model_fallbacks = 0
        self.store_fallbacks = 0
        self._threads = []

    def _ask_model(self, row):
        box = {}

        def call():
            try:
                box["answer"] = self.model.predict_proba([row])[0][1]
            except Exception as error:  # noqa: BLE001
                box["error"] = error

        worker = threading.Thread(target=call, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [worker]
        worker.start()
        worker.join(self.budget_s)
        answer = box.get("answer")
        if worker.is_alive() or not isinstance(answer, numbers.Real):  # None, or text such as "0.9"
            return None
        answer = float(answer)
        return answer if 0.0 <= answer <= 1.0 else None

    def score(self, event):
        card, amount = event["card_id"], event["amount"]
        if not isinstance(card, str) or not math.isfinite(amount):
            raise ValueError("bad card_id or amount")
        reachable = True
        try:
            stored = self.store.read(card)
        except StoreUnavailable:
            self.store_fallbacks += 1
            reachable, stored = False, None
        f = stored or {"count": 1, "total_amount": amount, "max_amount": amount, "distinct_merchants": 1}
        reasons = []
        if f["count"] >= self.velocity_count:
            reasons.append("velocity")
        if f["distinct_merchants"] >= self.testing_merchants and f["max_amount"] <= self.small_amount:
            reasons.append("card_testing")
        if amount >= self.large_amount:
            reasons.append("large_amount")
        rule = 1.0 if reasons else 0.0
        p = None
        if reachable:
            p = self._ask_model([amount, f["count"], f["total_amount"], f["max_amount"], f["distinct_merchants"]])
            if p is None:
                self.model_fallbacks += 1
        final = rule if p is None else max(rule, p)
        return Decision(final, bool(final >= self.threshold), "rules" if p is None else "model", frozenset(reasons))

    def close(self):
        for t in self._threads:
            t.join()
        self._threads = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
