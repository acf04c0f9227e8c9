"""Task 1: sticky weighted split by weighted rendezvous hashing.

Every variant draws its own uniform number for the user; the user goes to the variant
with the smallest -ln(u) / weight (an exponential race). Raising one weight while the
others keep their proportions only shrinks that variant's score relative to the rest, so a
growing variant never loses a user; a weight of 0 never wins.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping


def _uniform(salt: str, variant: str, user_id: str) -> float:
    key = "\x1f".join((str(len(salt)), salt, str(len(variant)), variant, user_id)).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(key).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64  # in (0, 1), never 0


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        items = list(weights.items())
        if not items:
            raise ValueError("no variants")
        if any(not 0 <= w < float("inf") for _, w in items):
            raise ValueError(f"weights must be >= 0: {dict(items)}")
        if not sum(w for _, w in items) > 0:
            raise ValueError("weights must sum to more than 0")
        self._salt = salt
        self._weights = {name: float(w) for name, w in items if w > 0}

    @property
    def salt(self) -> str:
        return self._salt

    def route(self, user_id: str) -> str:
        return min(self._weights,
                   key=lambda name: (-math.log(_uniform(self._salt, name, user_id)) / self._weights[name], name))

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
