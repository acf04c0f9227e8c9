"""Task 1: a sticky, weighted traffic splitter (sha256 point + bisect over sorted slices)."""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Mapping


def _point(salt: str, user_id: str) -> float:
    digest = hashlib.sha256(f"{len(salt)}:{salt}:{user_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        weights = dict(weights)
        if not weights:
            raise ValueError("weights must not be empty")
        for name, w in weights.items():
            if not w >= 0 or math.isinf(w):
                raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
        total = sum(weights.values())
        if not total > 0:
            raise ValueError("weights must have a positive sum")
        self.salt = salt
        self.weights = weights
        self._names = [n for n in sorted(weights) if weights[n] > 0]
        bounds, running = [], 0.0
        for n in self._names:
            running += weights[n]
            bounds.append(running / total)
        bounds[-1] = 1.0
        self._bounds = bounds

    def route(self, user_id: str) -> str:
        u = _point(self.salt, user_id)
        return self._names[bisect.bisect_right(self._bounds, u)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
