"""Task 1: a sticky, weighted traffic splitter (blake2b of a JSON pair, linear scan)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = sorted(weights.items())
        if not items:
            raise ValueError("at least one variant is needed")
        if any(math.isnan(w) or w < 0 for _, w in items):
            raise ValueError(f"weights must be >= 0: {dict(items)}")
        total = math.fsum(w for _, w in items)
        if total <= 0 or math.isinf(total):
            raise ValueError("the weights must add up to a positive number")
        self._salt = salt
        self._slices = [(name, w / total) for name, w in items if w > 0]

    def route(self, user_id: str) -> str:
        blob = json.dumps([self._salt, str(user_id)]).encode("utf-8", "surrogatepass")
        point = int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little") / 2.0**64
        upper = 0.0
        for name, share in self._slices:
            upper += share
            if point < upper:
                return name
        return self._slices[-1][0]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
