from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left
from collections.abc import Iterable


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self.points_of: dict[str, list[int]] = {}
        self.positions: list[int] = []
        self.owners: list[str] = []
        for node in nodes:
            self.add_node(node)

    @staticmethod
    def _hash(text: str) -> int:
        return struct.unpack(">Q", hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8])[0]

    def _rebuild(self) -> None:
        ring = sorted((p, n) for n, ps in self.points_of.items() for p in ps)
        self.positions = [p for p, _ in ring]
        self.owners = [n for _, n in ring]

    @property
    def nodes(self) -> set[str]:
        return set(self.points_of)

    def add_node(self, node: str) -> None:
        if node in self.points_of:
            raise ValueError(f"{node!r} is already on the ring")
        self.points_of[node] = [self._hash(f"{node}#{i}") for i in range(self.vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        if node not in self.points_of:
            raise KeyError(node)
        del self.points_of[node]
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self.positions:
            raise LookupError("empty ring")
        i = bisect_left(self.positions, self._hash(key))
        return self.owners[i if i < len(self.positions) else 0]
