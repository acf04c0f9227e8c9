from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate

_SCALE = 1 << 64


@dataclass(frozen=True)
class TrafficSplitter:
    weights: Mapping[str, float]
    salt: str = ""
    _layout: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = dict(self.weights)
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(weights.values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in weights.items()}
        if len(weights) == 0:
            raise ValueError("at least one variant is needed")
        if any(w < 0 or w != w for w in weights.values()):
            raise ValueError("weights must be >= 0")
        total = sum(weights.values())
        if total <= 0:
            raise ValueError("weights must not all be zero")
        live = [(name, weights[name]) for name in sorted(weights) if weights[name] > 0]
        edges = [int(c / total * _SCALE) for c in accumulate(w for _, w in live)]
        edges[-1] = _SCALE
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "_layout", tuple(zip(edges, (name for name, _ in live))))

    def _bucket(self, user_id: str) -> int:
        key = json.dumps([self.salt, user_id]).encode("utf-8", "surrogatepass")
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")

    def route(self, user_id: str) -> str:
        point = self._bucket(user_id)
        for edge, name in self._layout:
            if point < edge:
                return name
        return self._layout[-1][1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, salt=self.salt)
