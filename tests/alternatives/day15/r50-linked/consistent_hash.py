"""Consistent-hash ring: parallel sorted lists of positions and owners, sha256 of a length-prefixed label."""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _point_position(node: str, index: int) -> int:
    name = _bytes(node)
    label = len(name).to_bytes(8, "big") + name + index.to_bytes(8, "big")
    return int.from_bytes(hashlib.sha256(label).digest()[:8], "big")


def _key_position(key: str) -> int:
    return int.from_bytes(hashlib.sha256(_bytes(key)).digest()[:8], "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._members: dict[str, list[int]] = {}
        self._positions: list[int] = []
        self._owners: list[str] = []
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def _rebuild(self) -> None:
        points = sorted((pos, node) for node, positions in self._members.items() for pos in positions)
        self._positions = [pos for pos, _ in points]
        self._owners = [node for _, node in points]

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"{node!r} is already on the ring")
        self._members[node] = [_point_position(node, i) for i in range(self._vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        del self._members[node]  # KeyError when absent, before anything changes
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect_left(self._positions, _key_position(key))
        return self._owners[i % len(self._positions)]
