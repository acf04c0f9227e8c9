"""Task 1: sticky weighted splitter, exact integer slices."""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from fractions import Fraction

_SPACE = 1 << 64


def _exact(weight) -> Fraction:
    if isinstance(weight, float):
        if math.isnan(weight) or math.isinf(weight):
            raise ValueError(f"weight {weight!r} is not finite")
    try:
        value = Fraction(weight)
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"weight {weight!r} is not a number") from exc
    if value < 0:
        raise ValueError(f"negative weight {weight!r}")
    return value


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        exact = {name: _exact(w) for name, w in weights.items()}
        if not exact:
            raise ValueError("empty weights")
        total = sum(exact.values(), Fraction(0))
        if total <= 0:
            raise ValueError("weights sum to zero")
        self._weights = dict(exact)
        self._salt = salt
        # integer upper bounds in [0, 2**64], in name order
        table = []
        running = Fraction(0)
        for name in sorted(exact):
            if exact[name] == 0:
                continue
            running += exact[name] / total
            table.append((math.floor(running * _SPACE), name))
        table[-1] = (_SPACE, table[-1][1])
        self._table = table

    @property
    def salt(self) -> str:
        return self._salt

    def route(self, user_id: str) -> str:
        key = json.dumps([self._salt, user_id], ensure_ascii=True).encode("ascii")
        point = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
        for upper, name in self._table:
            if point < upper:
                return name
        return self._table[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, self._salt)
