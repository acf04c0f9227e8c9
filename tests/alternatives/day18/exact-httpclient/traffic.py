"""Task 1: exact rational slices, sha3 point."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from fractions import Fraction

SCALE = 1 << 64


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        clean = {}
        for name, weight in weights.items():
            if isinstance(weight, float) and math.isnan(weight):
                raise ValueError(f"weight of {name!r} is NaN")
            if weight == float("inf"):
                raise ValueError(f"weight of {name!r} is infinite")
            if weight < 0:
                raise ValueError(f"weight of {name!r} is negative")
            clean[name] = Fraction(weight)
        total = sum(clean.values(), Fraction(0))
        if not clean or total <= 0:
            raise ValueError("weights need a positive sum")
        self.salt = salt
        self._weights = dict(weights)
        self._table = []  # (exclusive integer upper bound on the 64-bit point, name)
        running = Fraction(0)
        for name in sorted(clean):
            if clean[name] == 0:
                continue
            running += clean[name]
            self._table.append((running / total * SCALE, name))

    def _point(self, user_id: str) -> int:
        data = f"{len(self.salt)}|{self.salt}|{user_id}".encode("utf-8", "surrogatepass")
        return int.from_bytes(hashlib.sha3_256(data).digest()[:8], "big")

    def route(self, user_id: str) -> str:
        point = self._point(user_id)
        for bound, name in self._table:
            if point < bound:
                return name
        return self._table[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
