from __future__ import annotations
import hashlib
import math
from collections.abc import Mapping


def _check(weights):
    table = {str(k) if not isinstance(k, str) else k: v for k, v in weights.items()}
    if len(table) == 0:
        raise ValueError("empty weights")
    if any(math.isnan(v) or v < 0 or math.isinf(v) for v in table.values()):
        raise ValueError("negative, NaN or infinite weight")
    if sum(table.values()) <= 0:
        raise ValueError("weights must have a positive sum")
    return table


class TrafficSplitter:
    """Slices of [0, 1) laid out in name order; a linear walk finds the user's slice."""

    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        self._table = dict(weights)
        _check(self._table)
        self._salt = salt
        total = math.fsum(self._table.values())
        self._layout = [(name, self._table[name] / total) for name in sorted(self._table)
                        if self._table[name] > 0]

    @property
    def salt(self):
        return self._salt

    def _unit(self, user_id: str) -> float:
        h = hashlib.blake2b(digest_size=8)
        salt_b = self._salt.encode("utf-8", "surrogatepass")
        h.update(len(salt_b).to_bytes(8, "little"))
        h.update(salt_b)
        h.update(user_id.encode("utf-8", "surrogatepass"))
        return int(h.hexdigest(), 16) / float(1 << 64)

    def route(self, user_id: str) -> str:
        u = self._unit(user_id)
        edge = 0.0
        for name, share in self._layout:
            edge += share
            if u < edge:
                return name
        return self._layout[-1][0]

    def with_weights(self, new_weights: Mapping[str, float]) -> "TrafficSplitter":
        return type(self)(new_weights, salt=self._salt)
