"""Task 1: sticky weighted split with a keyed blake2b and a linear scan over fixed-order slices."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = list(weights.items())
        if not items:
            raise ValueError("at least one variant is needed")
        if any(math.isnan(w) or w < 0 or math.isinf(w) for _, w in items):
            raise ValueError("weights must be finite and >= 0")
        total = math.fsum(w for _, w in items)
        if total <= 0:
            raise ValueError("the weights must have a positive sum")
        self._salt = salt
        self._key = hashlib.sha256(salt.encode("utf-8", "surrogatepass")).digest()
        # Slices in reverse name order: any order fixed by the names alone keeps the ramp property.
        self._slices: list[tuple[float, str]] = []
        upper = 0.0
        for name, w in sorted(items, reverse=True):
            if w > 0:
                upper += w / total
                self._slices.append((upper, name))
        self._slices[-1] = (1.0, self._slices[-1][1])

    def route(self, user_id: str) -> str:
        digest = hashlib.blake2b(str(user_id).encode("utf-8", "surrogatepass"), key=self._key, digest_size=8).digest()
        point = int.from_bytes(digest, "little") / 2.0**64
        for upper, name in self._slices:
            if point < upper:
                return name
        return self._slices[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
