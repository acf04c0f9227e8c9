"""Task 1: keyed blake2b point, slices walked in name order."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from itertools import accumulate


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = sorted((str(k), float(v)) for k, v in weights.items())
        if not items:
            raise ValueError("no variants")
        if any(math.isnan(v) or v < 0 for _, v in items):
            raise ValueError("weights must be >= 0")
        total = math.fsum(v for _, v in items)
        if total <= 0 or math.isinf(total):
            raise ValueError("weights need a positive finite sum")
        live = [(name, v) for name, v in items if v > 0]
        self._slices = list(zip([name for name, _ in live], accumulate(v / total for _, v in live)))
        self._weights = dict(weights)
        self._salt = salt
        self._key = hashlib.blake2b(salt.encode("utf-8", "surrogatepass"), digest_size=32).digest()

    def route(self, user_id: str) -> str:
        digest = hashlib.blake2b(str(user_id).encode("utf-8", "surrogatepass"), digest_size=8, key=self._key).digest()
        point = int.from_bytes(digest, "little") / 18446744073709551616.0
        for name, upper in self._slices:
            if point < upper:
                return name
        return self._slices[-1][0]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
