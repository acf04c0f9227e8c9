"""Task 1: sticky weighted traffic split."""
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
            if not (0 <= w < math.inf):
                raise ValueError(f"bad weight {w!r} for {name!r}")
        total = sum(weights.values())
        if not total > 0:
            raise ValueError("weights sum to zero")
        self.salt = salt
        self._weights = weights
        names = [n for n in sorted(weights) if weights[n] > 0]
        bounds, acc = [], 0.0
        for n in names:
            acc += weights[n] / total
            bounds.append(acc)
        bounds[-1] = 1.0
        self._names = names
        self._bounds = bounds

    def _point(self, user_id: str) -> float:
        text = f"{len(self.salt)}:{self.salt}:{user_id}"
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8]
        return int.from_bytes(digest, "big") / 2**64

    def route(self, user_id: str) -> str:
        u = self._point(user_id)
        i = bisect.bisect_right(self._bounds, u)
        return self._names[min(i, len(self._names) - 1)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
