"""Task 1: blake2b keyed by salt, intervals scanned linearly."""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping


def _point(salt: str, user_id: str) -> float:
    h = hashlib.blake2b(digest_size=8, person=b"splitter")
    s = salt.encode("utf-8", "surrogatepass")
    h.update(len(s).to_bytes(8, "big"))
    h.update(s)
    h.update(user_id.encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "big") / 2.0**64


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = sorted(dict(weights).items())
        if not items:
            raise ValueError("no variants")
        if any(not (w >= 0) or math.isinf(w) for _, w in items):
            raise ValueError("weights must be finite and >= 0")
        total = sum(w for _, w in items)
        if total <= 0:
            raise ValueError("weights sum to 0")
        self.salt = salt
        self.weights = {k: w for k, w in items}
        self._intervals: list[tuple[float, float, str]] = []
        lo = 0.0
        positive = [(k, w) for k, w in items if w > 0]
        for i, (k, w) in enumerate(positive):
            hi = 1.0 if i == len(positive) - 1 else lo + w / total
            self._intervals.append((lo, hi, k))
            lo = hi

    def route(self, user_id: str) -> str:
        x = _point(self.salt, user_id)
        for lo, hi, name in self._intervals:
            if lo <= x < hi:
                return name
        return self._intervals[-1][2]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self.salt)
