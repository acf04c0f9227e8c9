"""Weighted sticky routing: each variant owns an interval of a 2**64 integer ring."""
from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping

_SPACE = 2**64


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = sorted(weights.items(), reverse=True)  # descending names: any fixed order works
        if not items:
            raise ValueError("at least one variant is needed")
        if any(math.isnan(w) or w < 0 or math.isinf(w) for _, w in items):
            raise ValueError("weights must be finite numbers >= 0")
        total = math.fsum(w for _, w in items)
        if total <= 0:
            raise ValueError("the weights must have a positive sum")
        self._weights = dict(items)
        self._salt = salt
        self._key = hashlib.sha256(salt.encode("utf-8", "surrogatepass")).digest()  # blake2b keys are at most 64 bytes
        edges = list(itertools.accumulate(w / total for _, w in items))
        self._table = [(int(e * _SPACE) if i < len(items) - 1 else _SPACE, name)
                       for i, ((name, w), e) in enumerate(zip(items, edges))]
        self._table = [(edge, name) for (edge, name), (_, w) in zip(self._table, items) if w > 0]

    @property
    def salt(self) -> str:
        return self._salt

    def route(self, user_id: str) -> str:
        digest = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), key=self._key, digest_size=8).digest()
        point = int.from_bytes(digest, "little")
        for edge, name in self._table:
            if point < edge:
                return name
        return self._table[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
