"""Task 1: sticky weighted traffic splitter."""
from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        items = dict(weights)
        if not items:
            raise ValueError("no variants")
        clean = {}
        for name, w in items.items():
            wf = float(w)
            if not (0 <= wf < math.inf):
                raise ValueError(f"bad weight {w!r} for {name!r}")
            clean[name] = wf
        top = max(clean.values())
        if not top > 0:
            raise ValueError("weights must have a positive sum")
        clean = {n: w / top for n, w in clean.items()}  # scale first: 1e308 + 1e308 must not overflow
        total = sum(clean.values())
        self._weights = clean
        self.salt = salt
        self._names = [n for n in sorted(clean) if clean[n] > 0]
        bounds = []
        acc = 0.0
        for n in self._names:
            acc += clean[n] / total
            bounds.append(acc)
        bounds[-1] = 1.0
        self._bounds = bounds

    def _point(self, user_id: str) -> float:
        key = f"{len(self.salt)}:{self.salt}:{user_id}".encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(key, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def route(self, user_id: str) -> str:
        u = self._point(user_id)
        i = bisect.bisect_right(self._bounds, u)
        if i >= len(self._names):
            i = len(self._names) - 1
        return self._names[i]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
