"""Task 3: ring kept as parallel sorted arrays (positions, owners), rebuilt from a dict of each node's points."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._points_of: dict[str, list[int]] = {}
        self._positions: list[int] = []
        self._owners: list[str] = []
        for node in nodes:
            self.add_node(node)

    @staticmethod
    def _hash(text: str) -> int:
        return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")

    def _rebuild(self) -> None:
        points = sorted((pos, node) for node, poss in self._points_of.items() for pos in poss)
        self._positions = [pos for pos, _ in points]
        self._owners = [node for _, node in points]

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of)

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} already on the ring")
        self._points_of[node] = [self._hash(f"vnode:{i}:{node}") for i in range(self._vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        if node not in self._points_of:
            raise KeyError(node)
        del self._points_of[node]
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect.bisect_left(self._positions, self._hash(key))
        if i == len(self._positions):
            i = 0
        return self._owners[i]
