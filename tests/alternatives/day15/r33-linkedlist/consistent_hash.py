from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Iterable


class ConsistentHashRing:
    """Positions in a sorted list, owners in a dict position -> node, sha256 truncated to 64 bits."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self.ring: dict[int, str] = {}
        self.sorted_positions: list[int] = []
        self.members: dict[str, list[int]] = {}
        for n in list(nodes):
            self.add_node(n)

    @staticmethod
    def _hash(text: str) -> int:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "little")

    @property
    def nodes(self) -> set[str]:
        return set(self.members)

    def add_node(self, node: str) -> None:
        if node in self.members:
            raise ValueError("duplicate node")
        positions = [self._hash(f"{len(node)}|{node}|{i}") for i in range(self.vnodes)]
        for pos in positions:
            if pos not in self.ring:
                insort(self.sorted_positions, pos)
            self.ring[pos] = node
        self.members[node] = positions

    def remove_node(self, node: str) -> None:
        positions = self.members.pop(node)
        gone = set()
        for pos in positions:
            if self.ring.get(pos) == node:
                del self.ring[pos]
                gone.add(pos)
        self.sorted_positions = [p for p in self.sorted_positions if p not in gone]

    def get_node(self, key: str) -> str:
        if not self.sorted_positions:
            raise LookupError("empty ring")
        idx = bisect_left(self.sorted_positions, self._hash(key))
        if idx == len(self.sorted_positions):
            idx = 0
        return self.ring[self.sorted_positions[idx]]
