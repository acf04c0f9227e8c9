"""Task 1: sticky weighted split, keyed blake2b and a linear walk over cumulative weights."""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from fractions import Fraction


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        if len(weights) == 0:
            raise ValueError("empty weights")
        if any(not (w >= 0) for w in weights.values()):
            raise ValueError("negative or NaN weight")
        if not math.isfinite(sum(weights.values())) or sum(weights.values()) <= 0:
            raise ValueError("zero sum")
        self._salt = salt
        self._table = tuple(sorted((k, w) for k, w in weights.items()))
        self._total = math.fsum(w for _, w in self._table)

    @property
    def salt(self) -> str:
        return self._salt

    def _point(self, user_id: str) -> float:
        h = hashlib.blake2b(str(user_id).encode("utf-8", "surrogatepass"), digest_size=8,
                            key=hashlib.sha256(self._salt.encode("utf-8", "surrogatepass")).digest())
        return int.from_bytes(h.digest(), "big") / 2**64

    def route(self, user_id: str) -> str:
        target = self._point(user_id) * self._total
        running = 0.0
        last = None
        for name, w in self._table:
            if w <= 0:
                continue
            last = name
            running += w
            if target < running:
                return name
        return last

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
