"""Routing by HMAC-MD5 of the user id keyed by the salt, slices found by a linear walk."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate


@dataclass(frozen=True)
class TrafficSplitter:
    weights: Mapping[str, float]
    salt: str = ""
    _layout: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        items = sorted(dict(self.weights).items())
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max((w for _, w in items), default=0)
        if top > 0:
            items = [(name, w / top) for name, w in items]
        if not items:
            raise ValueError("at least one variant is needed")
        if any(not (0 <= w < float("inf")) for _, w in items):
            raise ValueError("weights must be numbers >= 0")
        total = sum(w for _, w in items)
        if total <= 0:
            raise ValueError("weights must have a positive sum")
        live = [(n, w) for n, w in items if w > 0]
        uppers = [c / total for c in accumulate(w for _, w in live)]
        object.__setattr__(self, "_layout", tuple(zip(uppers, (n for n, _ in live))))

    def route(self, user_id: str) -> str:
        # key with a digest of the salt: HMAC pads a short key with NUL bytes, so "exp" and "exp\0" would collide
        key = hashlib.sha256(self.salt.encode("utf-8", "surrogatepass")).digest()
        mac = hmac.new(key, user_id.encode("utf-8", "surrogatepass"), hashlib.md5).hexdigest()
        point = int(mac, 16) / 16**32
        for upper, name in self._layout:
            if point < upper:
                return name
        return self._layout[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
