"""Task 1: a sticky, weighted traffic splitter (sha256 point, bisect over sorted slices)."""

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
        weights = dict(weights)
        if not weights:
            raise ValueError("no variants")
        for name, w in weights.items():
            if not w >= 0 or math.isinf(w):
                raise ValueError(f"bad weight for {name!r}: {w!r}")
        total = sum(weights.values())
        if not total > 0:
            raise ValueError("weights must have a positive sum")
        self.salt = salt
        self.weights = weights
        self._names = [n for n in sorted(weights) if weights[n] > 0]
        bounds, running = [], 0.0
        for n in self._names:
            running += weights[n] / total
            bounds.append(running)
        bounds[-1] = 1.0
        self._bounds = bounds

    def _point(self, user_id: str) -> float:
        key = f"{len(self.salt)}:{self.salt}:{user_id}".encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(key).digest()[:8]
        return int.from_bytes(digest, "big") / 2**64

    def route(self, user_id: str) -> str:
        i = bisect.bisect_right(self._bounds, self._point(user_id))
        return self._names[min(i, len(self._names) - 1)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
