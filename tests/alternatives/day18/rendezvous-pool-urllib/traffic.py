"""Weighted rendezvous hashing: every (user, variant) pair draws its own score."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping


class TrafficSplitter:
    def __init__(self, weights: Mapping[str, float], salt: str = "") -> None:
        clean = {}
        for name, weight in weights.items():
            weight = float(weight)
            if math.isnan(weight) or weight < 0 or math.isinf(weight):
                raise ValueError(f"bad weight for {name}: {weight}")
            clean[name] = weight
        if sum(clean.values()) <= 0:
            raise ValueError("weights must sum to more than zero")
        self._weights = clean
        self._salt = salt
        self._live = sorted(n for n, w in clean.items() if w > 0)

    def _uniform(self, user_id: str, variant: str) -> float:
        data = "\x1f".join((self._salt, variant, user_id)).encode("utf-8", "surrogatepass")
        value = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
        return (value + 0.5) / 2.0**64  # never 0, never 1

    def route(self, user_id: str) -> str:
        # Smallest -ln(u)/w wins: variant i wins with probability w_i / sum(w), and the
        # winner depends only on ratios of weights, so growing one variant keeps its users.
        return min(self._live, key=lambda v: (-math.log(self._uniform(user_id, v)) / self._weights[v], v))

    def with_weights(self, new_weights: Mapping[str, float]) -> TrafficSplitter:
        return type(self)(new_weights, salt=self._salt)
