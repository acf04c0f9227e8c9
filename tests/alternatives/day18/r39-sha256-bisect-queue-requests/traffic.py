"""Task 1: sticky weighted traffic splitter (hint-style: sha256 + bisect over sorted names)."""

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
            if not (w >= 0) or not math.isfinite(w):
                raise ValueError(f"bad weight for {name!r}: {w!r}")
        total = sum(weights.values())
        if not total > 0:
            raise ValueError("weights must have a positive sum")
        self.salt = salt
        self.weights = weights
        names, bounds, acc = [], [], 0.0
        for name in sorted(weights):
            w = weights[name]
            if w <= 0:
                continue
            acc += w / total
            names.append(name)
            bounds.append(acc)
        bounds[-1] = 1.0
        self._names, self._bounds = names, bounds

    def _point(self, user_id: str) -> float:
        text = f"{len(self.salt)}:{self.salt}:{user_id}".encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(text).digest()[:8]
        return int.from_bytes(digest, "big") / 2**64

    def route(self, user_id: str) -> str:
        i = bisect.bisect_right(self._bounds, self._point(user_id))
        return self._names[min(i, len(self._names) - 1)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
