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
        items = dict(weights)
        if not items:
            raise ValueError("no variants")
        for name, w in items.items():
            if not w >= 0 or math.isinf(w):
                raise ValueError(f"bad weight for {name!r}: {w!r}")
        total = sum(items.values())
        if not total > 0:
            raise ValueError("weights sum to zero")
        self.salt = salt
        self._weights = items
        self._names = []
        self._bounds = []
        acc = 0.0
        for name in sorted(items):
            if items[name] > 0:
                acc += items[name] / total
                self._names.append(name)
                self._bounds.append(acc)
        self._bounds[-1] = 1.0

    def _point(self, user_id: str) -> float:
        data = f"{len(self.salt)}:{self.salt}:{user_id}".encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(data).digest()[:8]
        return int.from_bytes(digest, "big") / 2**64

    def route(self, user_id: str) -> str:
        i = bisect.bisect_right(self._bounds, self._point(user_id))
        return self._names[min(i, len(self._names) - 1)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
