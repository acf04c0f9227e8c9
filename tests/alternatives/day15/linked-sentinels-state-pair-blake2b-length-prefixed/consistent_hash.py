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

import hashlib
from bisect import bisect_left, insort
from collections.abc import Iterable


class ConsistentHashRing:
    """Sorted list of positions plus a dict position -> node; positions from blake2b of the
    node's name and the point number as separate, length-fixed fields."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._positions: list[int] = []
        self._owner: dict[int, str] = {}
        self._points_of: dict[str, list[int]] = {}
        for node in list(nodes):
            self.add_node(node)

    @staticmethod
    def _hash(data: bytes) -> int:
        return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "little")

    def _point(self, node: str, i: int) -> int:
        name = node.encode("utf-8", "surrogatepass")
        return self._hash(len(name).to_bytes(4, "big") + name + i.to_bytes(4, "big"))

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of.keys())

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        points = [self._point(node, i) for i in range(self.vnodes)]
        self._points_of[node] = points
        for position in points:
            self._owner[position] = node
            insort(self._positions, position)

    def remove_node(self, node: str) -> None:
        points = self._points_of.pop(node)  # KeyError when absent
        for position in points:
            del self._owner[position]
        gone = set(points)
        self._positions = [p for p in self._positions if p not in gone]

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("no nodes on the ring")
        position = self._hash(b"key:" + key.encode("utf-8", "surrogatepass"))
        index = bisect_left(self._positions, position)
        if index == len(self._positions):
            index = 0
        return self._owner[self._positions[index]]
