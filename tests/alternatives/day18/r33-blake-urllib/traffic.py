"""Keyed BLAKE2b (the salt's digest is the key), a linear walk over cumulative weights."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from fractions import Fraction
from itertools import accumulate


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        if len(weights) == 0:
            raise ValueError("at least one variant is needed")
        if any(not (w >= 0) or w == float("inf") for w in weights.values()):
            raise ValueError("weights must be finite numbers >= 0")
        positive = sorted((n, Fraction(w)) for n, w in weights.items() if w > 0)
        if not positive:
            raise ValueError("weights must not all be zero")
        total = sum(w for _, w in positive)
        self._salt = salt
        self._key = hashlib.blake2b(salt.encode("utf-8", "surrogatepass"), digest_size=32).digest()
        self._table = [(n, c / total) for (n, _), c in zip(positive, accumulate(w for _, w in positive))]

    @property
    def salt(self) -> str:
        return self._salt

    def route(self, user_id: str) -> str:
        h = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), key=self._key, digest_size=8).digest()
        point = Fraction(int.from_bytes(h, "little"), 2**64)
        for name, upper in self._table:
            if point < upper:
                return name
        return self._table[-1][0]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
