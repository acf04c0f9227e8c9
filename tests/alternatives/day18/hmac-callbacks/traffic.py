"""Task 1: HMAC-keyed point, bisect over float bounds."""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        if not weights:
            raise ValueError("no variants")
        if not all(0 <= w < float("inf") for w in weights.values()):
            raise ValueError("weights must be >= 0 (and numbers)")
        total = float(sum(weights.values()))
        if not total > 0:
            raise ValueError("weights must have a positive sum")
        self.salt = salt
        live = sorted(n for n, w in weights.items() if w > 0)
        self._names = live
        self._bounds = list(itertools.accumulate(weights[n] / total for n in live))
        self._bounds[-1] = 1.0

    def route(self, user_id: str) -> str:
        # key with a digest of the salt: HMAC pads a short key with NUL bytes, so "exp" and "exp\0" would collide
        key = hashlib.sha256(self.salt.encode("utf-8", "surrogatepass")).digest()
        digest = hmac.new(key, user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        point = (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)
        return self._names[min(bisect.bisect_right(self._bounds, point), len(self._names) - 1)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, self.salt)
