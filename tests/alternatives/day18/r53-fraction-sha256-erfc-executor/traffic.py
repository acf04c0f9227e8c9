"""Task 1 (alt): exact Fraction arithmetic, sha256, length-prefixed bytes."""
from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from collections.abc import Mapping
from itertools import accumulate


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        items = sorted(dict(weights).items())
        if len(items) == 0:
            raise ValueError("no variants")
        exact = []
        for name, w in items:
            if isinstance(w, float) and not math.isfinite(w):
                raise ValueError("weight must be finite")
            fr = Fraction(w)
            if fr < 0:
                raise ValueError("negative weight")
            exact.append((name, fr))
        total = sum(fr for _, fr in exact)
        if total == 0:
            raise ValueError("zero sum")
        self._weights = {n: w for n, w in items}
        self._salt = salt
        live = [(n, fr) for n, fr in exact if fr > 0]
        uppers = [float(u) for u in accumulate(fr / total for _, fr in live)]
        uppers[-1] = 1.0
        self._table = list(zip(uppers, (n for n, _ in live)))
        self._salt_bytes = salt.encode("utf-8", "surrogatepass")

    @property
    def salt(self):
        return self._salt

    def route(self, user_id: str) -> str:
        h = hashlib.sha256()
        h.update(len(self._salt_bytes).to_bytes(8, "big"))
        h.update(self._salt_bytes)
        h.update(user_id.encode("utf-8", "surrogatepass"))
        point = int.from_bytes(h.digest()[:8], "big") / 2**64
        for upper, name in self._table:
            if point < upper:
                return name
        return self._table[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, self._salt)
