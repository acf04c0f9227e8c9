"""Task 1: sticky weighted splitter, alt style: keyed blake2b, integer point, linear scan of raw weights."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from fractions import Fraction


class TrafficSplitter:
    _SPACE = 1 << 64

    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        items = sorted(dict(weights).items())
        if not items:
            raise ValueError("at least one variant is needed")
        if any(not (w >= 0 and w != float("inf")) for _, w in items):
            raise ValueError(f"weights must be finite numbers >= 0: {dict(items)}")
        total = sum(Fraction(w) for _, w in items)  # exact: 1e308 + 1e308 would overflow a float sum
        if total <= 0:
            raise ValueError("the weights must have a positive sum")
        self._salt = salt
        # The salt becomes the hash key (hashed to a fixed 32 bytes), so no text glues salt and id together.
        self._key = hashlib.sha256(salt.encode("utf-8", "surrogatepass")).digest()
        # Integer thresholds on [0, 2**64): the slice of variant i ends at cumulative share * 2**64.
        self._table: list[tuple[int, str]] = []
        running = Fraction(0)
        for name, w in items:
            if w == 0:
                continue
            running += Fraction(w) / Fraction(total)
            self._table.append((int(running * self._SPACE), name))
        self._table[-1] = (self._SPACE, self._table[-1][1])

    def route(self, user_id: str) -> str:
        h = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), key=self._key, digest_size=8)
        point = int.from_bytes(h.digest(), "big")
        for upper, name in self._table:
            if point < upper:
                return name
        return self._table[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, self._salt)
