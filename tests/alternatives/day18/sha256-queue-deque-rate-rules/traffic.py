"""Task 1: a sticky, weighted traffic splitter (sha256 + bisect over sorted slices)."""

from __future__ import annotations

import bisect
import hashlib
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
            if not 0 <= w < float("inf"):
                raise ValueError(f"weight of {name!r} must be >= 0, got {w}")
        total = sum(weights.values())
        if not total > 0:
            raise ValueError("weights must have a positive sum")
        self.salt = salt
        self.weights = weights
        self._names = []
        self._bounds = []
        running = 0.0
        for name in sorted(weights):
            if weights[name] > 0:
                running += weights[name] / total
                self._names.append(name)
                self._bounds.append(running)
        self._bounds[-1] = 1.0

    def _point(self, user_id: str) -> float:
        key = f"{len(self.salt)}:{self.salt}:{user_id}".encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(key).digest()[:8]
        return int.from_bytes(digest, "big") / 2**64

    def route(self, user_id: str) -> str:
        return self._names[bisect.bisect_right(self._bounds, self._point(user_id))]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
