"""Task 3: a consistent-hash ring, how a feature cache or model shard picks its server.

Contract (the tests check exactly this):
- `ConsistentHashRing(nodes=(), vnodes=100)`: each node gets `vnodes` points on the ring.
  `nodes` may be any iterable (a generator too). Keys past the last point wrap to the first.
- `add_node(node)` (already present: ValueError) places the ring's `vnodes` points too;
  `remove_node(node)` (absent: KeyError).
- `get_node(key)` returns the node that owns `key`; an empty ring raises LookupError.
- `nodes` is the set of node names, a copy (safe to loop over while adding or removing nodes).
- Placement is the same in every process: do not use the built-in `hash()`.
- Adding a node moves keys only onto it; removing one moves only its own keys.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _position(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._points: list[tuple[int, str]] = []
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
        for i in range(self._vnodes):
            bisect.insort(self._points, (_position(f"{node}#{i}"), node))

    def remove_node(self, node: str) -> None:
        if node not in self._nodes:
            raise KeyError(node)
        self._nodes.remove(node)
        self._points = [point for point in self._points if point[1] != node]

    def get_node(self, key: str) -> str:
        if not self._points:
            raise LookupError("the ring is empty")
        i = bisect.bisect_left(self._points, (_position(key),))
        return self._points[i % len(self._points)][1]
