"""Task 1: a sticky splitter: blake2b integer point, linear walk over cumulative integer cut points."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping

SCALE = 2**64


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = sorted(weights.items())
        if not items:
            raise ValueError("at least one variant is needed")
        if any(math.isnan(w) or w < 0 or math.isinf(w) for _, w in items):
            raise ValueError(f"weights must be finite numbers >= 0: {dict(items)}")
        total = math.fsum(w for _, w in items)
        if total <= 0:
            raise ValueError("the weights must have a positive sum")
        self._salt = salt
        # cut points as integers in [0, 2**64]: variant i owns [cut[i-1], cut[i])
        shares = itertools.accumulate(w / total for _, w in items)
        self._table = [(name, min(SCALE, int(share * SCALE))) for (name, _), share in zip(items, shares)]
        last_positive = max(i for i, (_, w) in enumerate(items) if w > 0)
        name, _ = self._table[last_positive]
        self._table[last_positive] = (name, SCALE)

    def _point(self, user_id: str) -> int:
        h = hashlib.blake2b(digest_size=8, person=b"split-v1")
        h.update(len(self._salt).to_bytes(8, "big"))
        h.update(self._salt.encode("utf-8", "surrogatepass"))
        h.update(user_id.encode("utf-8", "surrogatepass"))
        return int.from_bytes(h.digest(), "big")

    def route(self, user_id: str) -> str:
        point = self._point(user_id)
        for name, cut in self._table:
            if point < cut:
                return name
        raise AssertionError("unreachable: the last positive variant ends at 2**64")

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
