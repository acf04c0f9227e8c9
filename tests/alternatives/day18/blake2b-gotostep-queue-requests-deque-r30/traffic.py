"""Sticky weighted traffic split."""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Mapping


def _point(salt: str, user_id: str) -> float:
    key = f"{len(salt)}:{salt}:{user_id}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        if not weights:
            raise ValueError("weights must not be empty")
        for name, w in weights.items():
            if not w >= 0:
                raise ValueError(f"weight of {name!r} must be >= 0, got {w!r}")
        total = sum(weights.values())
        if not total > 0 or not math.isfinite(total):
            raise ValueError("weights must have a positive finite sum")
        self.salt = salt
        self.weights = dict(weights)
        self._names = []
        self._bounds = []
        running = 0.0
        for name in sorted(weights):
            if weights[name] > 0:
                running += weights[name] / total
                self._names.append(name)
                self._bounds.append(running)
        self._bounds[-1] = 1.0

    def route(self, user_id: str) -> str:
        u = _point(self.salt, user_id)
        return self._names[bisect.bisect_right(self._bounds, u)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
