"""Task 3: a consistent-hash ring: a map of position -> owner plus a lazily sorted index."""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Iterable


def _spot(*parts: object) -> int:
    label = json.dumps(parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(label, digest_size=8).digest(), "little")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._owner: dict[int, str] = {}
        self._spots_of: dict[str, list[int]] = {}
        self._sorted: list[int] | None = []
        for node in list(nodes):
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._spots_of)

    def add_node(self, node: str) -> None:
        if node in self._spots_of:
            raise ValueError(f"{node!r} is on the ring already")
        spots = [_spot(node, i) for i in range(self.vnodes)]
        for spot in spots:
            # a (vanishingly rare) tie between two nodes goes to the smaller name, whatever the order
            holder = self._owner.get(spot)
            self._owner[spot] = node if holder is None else min(holder, node)
        self._spots_of[node] = spots
        self._sorted = None

    def remove_node(self, node: str) -> None:
        spots = self._spots_of.pop(node)  # KeyError for an absent node
        for spot in spots:
            if self._owner.get(spot) == node:
                del self._owner[spot]
        self._sorted = None

    def get_node(self, key: str) -> str:
        if not self._owner:
            raise LookupError("no nodes on the ring")
        if self._sorted is None:
            self._sorted = sorted(self._owner)
        i = bisect_left(self._sorted, _spot(key))
        if i == len(self._sorted):
            i = 0
        return self._owner[self._sorted[i]]
