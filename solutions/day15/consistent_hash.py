"""A consistent-hash ring with virtual nodes.

Each node owns `vnodes` points on a ring of 64-bit positions; a key belongs to the
first point at or clockwise from its own position. Positions come from BLAKE2b, not
the built-in `hash()`, which is salted per process and would move every key on restart.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _position(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        if vnodes < 1:
            raise ValueError(f"vnodes must be at least 1, got {vnodes}")
        self.vnodes = vnodes
        # Sorted (position, node) points; ties between colliding points fall to the
        # node name, so the ring never depends on the order nodes were added in.
        self._ring: list[tuple[int, str]] = []
        self._nodes: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._nodes)

    def add_node(self, node: str) -> None:
        if node in self._nodes:
            raise ValueError(f"node {node!r} is already on the ring")
        self._nodes.add(node)
        for i in range(self.vnodes):
            bisect.insort(self._ring, (_position(f"{node}#{i}"), node))

    def remove_node(self, node: str) -> None:
        if node not in self._nodes:
            raise KeyError(node)
        self._nodes.remove(node)
        self._ring = [point for point in self._ring if point[1] != node]

    def get_node(self, key: str) -> str:
        if not self._ring:
            raise LookupError("the ring has no nodes")
        index = bisect.bisect_left(self._ring, (_position(key),)) % len(self._ring)
        return self._ring[index][1]
