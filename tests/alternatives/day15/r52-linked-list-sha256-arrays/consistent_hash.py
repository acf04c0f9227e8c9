"""Consistent-hash ring: parallel sorted arrays of positions and owners, SHA-256 based."""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _key_position(key: str) -> int:
    return int.from_bytes(hashlib.sha256(_bytes(key)).digest()[:8], "little")


def _point_positions(node: str, count: int) -> list[int]:
    name_digest = hashlib.sha256(_bytes(node)).digest()  # fixed length: no name can extend another
    return [
        int.from_bytes(hashlib.sha256(name_digest + i.to_bytes(8, "big")).digest()[:8], "little")
        for i in range(count)
    ]


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        if vnodes < 1:
            raise ValueError("vnodes must be at least 1")
        self._vnodes = int(vnodes)
        self._positions: list[int] = []
        self._owners: list[str] = []
        self._members: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return self._members.copy()

    def _rebuild(self, points: list[tuple[int, str]]) -> None:
        points.sort()
        self._positions = [p for p, _ in points]
        self._owners = [n for _, n in points]

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"{node!r} is already on the ring")
        points = list(zip(self._positions, self._owners))
        points.extend((p, node) for p in _point_positions(node, self._vnodes))
        self._rebuild(points)
        self._members.add(node)

    def remove_node(self, node: str) -> None:
        if node not in self._members:
            raise KeyError(node)
        self._rebuild([(p, n) for p, n in zip(self._positions, self._owners) if n != node])
        self._members.remove(node)

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect_left(self._positions, _key_position(key))
        return self._owners[i % len(self._positions)]
