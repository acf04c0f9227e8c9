from __future__ import annotations
import hashlib, math
from collections.abc import Mapping

SCALE = 2 ** 64


class TrafficSplitter:
    """Integer slices of [0, 2**64), scanned linearly in name order."""

    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        items = sorted((str(k), float(v)) for k, v in weights.items())
        if len(items) == 0:
            raise ValueError("empty")
        if any(math.isnan(v) or v < 0 or math.isinf(v) for _, v in items):
            raise ValueError("negative/NaN weight")
        total = math.fsum(v for _, v in items)
        if total <= 0:
            raise ValueError("zero sum")
        self._salt = salt
        self._weights = tuple(items)
        self._table = []
        acc = 0.0
        live = [(k, v) for k, v in items if v > 0]
        for idx, (k, v) in enumerate(live):
            acc += v
            upper = SCALE if idx == len(live) - 1 else int(acc / total * SCALE)
            self._table.append((upper, k))

    @property
    def salt(self):
        return self._salt

    def route(self, user_id: str) -> str:
        h = hashlib.blake2b(digest_size=8)
        salt = self._salt.encode("utf-8", "surrogatepass")
        h.update(len(salt).to_bytes(8, "big"))
        h.update(salt)
        h.update(user_id.encode("utf-8", "surrogatepass"))
        x = int.from_bytes(h.digest(), "big")
        for upper, name in self._table:
            if x < upper:
                return name
        return self._table[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> "TrafficSplitter":
        return type(self)(new_weights, self._salt)
