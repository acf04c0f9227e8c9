"""Task 3: consistent-hash ring kept as parallel sorted arrays of positions and owners."""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._points_of: dict[str, list[int]] = {}
        self._positions: list[int] = []
        self._owners: list[str] = []
        for node in nodes:
            self.add_node(node)

    @staticmethod
    def _hash(data: bytes) -> int:
        return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")

    @staticmethod
    def _utf8(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    def _point(self, node: str, replica: int) -> int:
        name = self._utf8(node)
        # length-prefixed, so no name can extend another into the same text
        return self._hash(len(name).to_bytes(8, "big") + name + replica.to_bytes(8, "big"))

    def _rebuild(self) -> None:
        points = sorted((pos, node) for node, positions in self._points_of.items() for pos in positions)
        self._positions = [pos for pos, _ in points]
        self._owners = [node for _, node in points]

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of)

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        self._points_of[node] = [self._point(node, i) for i in range(self.vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        if node not in self._points_of:
            raise KeyError(node)
        del self._points_of[node]
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect_left(self._positions, self._hash(self._utf8(key)))
        return self._owners[i if i < len(self._owners) else 0]
