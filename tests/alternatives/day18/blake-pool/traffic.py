from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping
from itertools import accumulate


class TrafficSplitter:
    """Slices laid out in name order; a user's point is a blake2b hash keyed by the salt."""

    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        # Divide by the largest weight first: 1e308 + 1e308 overflows a float sum.
        top = max(dict(weights).values(), default=0)
        if top > 0:
            weights = {name: w / top for name, w in dict(weights).items()}
        if len(weights) == 0:
            raise ValueError("no variants")
        items = sorted(weights.items())
        if any(math.isnan(w) or w < 0 or math.isinf(w) for _, w in items):
            raise ValueError("weights must be finite numbers >= 0")
        total = math.fsum(w for _, w in items)
        if total <= 0:
            raise ValueError("weights must not all be 0")
        self._salt = salt
        live = [(name, w) for name, w in items if w > 0]
        self._names = [name for name, _ in live]
        self._upper = [c / total for c in accumulate(w for _, w in live)]

    def route(self, user_id: str) -> str:
        # The key is the salt's digest (a key holds 64 bytes, a salt any length): never run into the user id.
        digest = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"),
                                 key=hashlib.blake2b(self._salt.encode("utf-8", "surrogatepass")).digest(),
                                 digest_size=8).digest()
        point = struct.unpack(">Q", digest)[0] / 18446744073709551616.0
        for name, upper in zip(self._names, self._upper):
            if point < upper:
                return name
        return self._names[-1]

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
