"""Task 1: sticky weighted traffic split (slices on [0,1) sorted by name)."""
from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        if not weights:
            raise ValueError("empty weights")
        ws = {}
        for name, w in dict(weights).items():
            fw = float(w)
            if not 0 <= fw < math.inf:
                raise ValueError(f"bad weight {w!r} for {name!r}")
            ws[name] = fw
        top = max(ws.values())
        if not top > 0:
            raise ValueError("weights sum to zero")
        self._weights = dict(ws)
        self.salt = salt
        names = sorted(n for n in ws if ws[n] > 0)
        scaled = [ws[n] / top for n in names]
        total = sum(scaled)
        bounds, acc = [], 0.0
        for s in scaled:
            acc += s
            bounds.append(acc / total)
        bounds[-1] = 1.0
        self._names = names
        self._bounds = bounds

    def _point(self, user_id: str) -> float:
        key = f"{len(self.salt)}:{self.salt}:{user_id}".encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(key, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def route(self, user_id: str) -> str:
        i = bisect.bisect_right(self._bounds, self._point(user_id))
        return self._names[min(i, len(self._names) - 1)]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return TrafficSplitter(new_weights, self.salt)
