"""Task 1: sticky weighted split (sha256 + bisect)."""
from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        w = dict(weights)
        if not w:
            raise ValueError("empty weights")
        for k, v in w.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
                raise ValueError(f"bad weight {v!r}")
            if not float(v) >= 0 or not math.isfinite(float(v)):
                raise ValueError(f"bad weight {k}={v!r}")
        total = math.fsum(float(v) for v in w.values())
        if not total > 0:
            raise ValueError("zero sum")
        self.salt = salt
        self._weights = {k: float(v) for k, v in w.items()}
        self._names = []
        self._bounds = []
        acc = 0.0
        for name in sorted(self._weights):
            wv = self._weights[name]
            if wv > 0:
                acc += wv / total
                self._names.append(name)
                self._bounds.append(acc)
        self._bounds[-1] = 1.0

    def _point(self, user_id: str) -> float:
        data = f"{len(self.salt)}:{self.salt}:{user_id}".encode("utf-8", "surrogatepass")
        d = hashlib.sha256(data).digest()[:8]
        return int.from_bytes(d, "big") / 2**64

    def route(self, user_id: str) -> str:
        u = self._point(user_id)
        i = bisect.bisect_right(self._bounds, u)
        if i >= len(self._names):
            i = len(self._names) - 1
        return self._names[i]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
