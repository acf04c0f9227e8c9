"""Task 1: sticky weighted split, keyed BLAKE2b hash, linear scan over cumulative shares."""
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
        items = sorted(dict(weights).items())
        if not items:
            raise ValueError("at least one variant is needed")
        if any(not (w >= 0) or w == math.inf for _, w in items):
            raise ValueError(f"weights must be finite and >= 0: {dict(items)}")
        total = sum(w for _, w in items)
        if total <= 0:
            raise ValueError("the weights must have a positive sum")
        self._salt = salt
        # the salt keys the hash (digested first: a BLAKE2b key holds at most 64 bytes)
        self._key = hashlib.blake2b(salt.encode("utf-8", "surrogatepass"), digest_size=32).digest()
        self._table = []
        running = 0.0
        for name, w in items:
            if w > 0:
                running += w / total
                self._table.append((running, name))
        self._table[-1] = (1.0, self._table[-1][1])

    def route(self, user_id: str) -> str:
        h = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), key=self._key, digest_size=8).digest()
        point = int.from_bytes(h, "big") / 2**64
        for upper, name in self._table:
            if point < upper:
                return name
        return self._table[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
