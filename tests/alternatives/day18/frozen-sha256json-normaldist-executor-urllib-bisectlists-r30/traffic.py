"""Sticky weighted traffic split: a table of (name, cumulative weight) scanned in name order."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

_SCALE = 2**53


@dataclass(frozen=True)
class TrafficSplitter:
    weights: Mapping[str, float]
    salt: str = ""
    _table: tuple = field(init=False, repr=False, compare=False)
    _total: float = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        items = dict(self.weights)
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(items.values(), default=0)
        if top > 0:
            items = {name: w / top for name, w in items.items()}
        if len(items) == 0:
            raise ValueError("no variants")
        if any(math.isnan(w) or w < 0 or math.isinf(w) for w in items.values()):
            raise ValueError("weights must be finite numbers >= 0")
        total = math.fsum(items.values())
        if total <= 0:
            raise ValueError("weights must not all be 0")
        table, cumulative = [], 0.0
        for name, weight in sorted(items.items()):
            if weight > 0:
                cumulative += weight
                table.append((name, cumulative))
        object.__setattr__(self, "weights", items)
        object.__setattr__(self, "_table", tuple(table))
        object.__setattr__(self, "_total", cumulative)

    def _unit(self, user_id: str) -> float:
        # JSON of a two-item list keeps salt and user id apart, whatever characters they hold.
        raw = hashlib.sha256(json.dumps([self.salt, user_id]).encode("utf-8", "surrogatepass")).digest()
        return (int.from_bytes(raw[:8], "little") >> 11) / _SCALE

    def route(self, user_id: str) -> str:
        target = self._unit(user_id) * self._total
        for name, upper in self._table:
            if target < upper:
                return name
        return self._table[-1][0]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
