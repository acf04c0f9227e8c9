"""Style: blake2b keyed by salt (the salt is the hash key, so it cannot collide with the user id),
cumulative boundaries via itertools.accumulate and a linear scan."""
from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = sorted((str(k), v) for k, v in weights.items())
        if len(items) == 0:
            raise ValueError("at least one variant")
        if any(math.isnan(v) or v < 0 for _, v in items):
            raise ValueError("weights must be >= 0")
        total = math.fsum(v for _, v in items)
        if total <= 0 or math.isinf(total):
            raise ValueError("weights must have a positive finite sum")
        self._salt = salt
        self._weights = dict(items)
        live = [(k, v) for k, v in items if v > 0]
        self._layout = list(zip((k for k, _ in live), itertools.accumulate(v / total for _, v in live)))

    @property
    def salt(self) -> str:
        return self._salt

    def route(self, user_id: str) -> str:
        h = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), digest_size=8,
                            key=hashlib.sha256(self._salt.encode("utf-8", "surrogatepass")).digest())
        u = int.from_bytes(h.digest(), "big") / 2.0**64
        for name, upper in self._layout:
            if u < upper:
                return name
        return self._layout[-1][0]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
