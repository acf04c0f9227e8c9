"""Consistent-hash ring: sha256 positions kept in parallel sorted arrays, rebuilt on every change."""
from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


def _point(node: str, index: int) -> int:
    name = node.encode("utf-8", "surrogatepass")
    # length-prefixed name, then the index: no two (node, index) pairs give the same bytes
    return _hash64(len(name).to_bytes(8, "big") + name + index.to_bytes(8, "big"))


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        if vnodes < 1:
            raise ValueError("vnodes must be 1 or more")
        self._vnodes = int(vnodes)
        self._owned: dict[str, list[int]] = {}
        self._positions: list[int] = []
        self._owners: list[str] = []
        for node in nodes:
            if node in self._owned:
                raise ValueError(f"node {node!r} listed twice")
            self._owned[node] = [_point(node, i) for i in range(self._vnodes)]
        self._rebuild()

    def _rebuild(self) -> None:
        points = sorted((pos, node) for node, positions in self._owned.items() for pos in positions)
        self._positions = [pos for pos, _ in points]
        self._owners = [node for _, node in points]

    @property
    def nodes(self) -> set[str]:
        return set(self._owned)

    def add_node(self, node: str) -> None:
        if node in self._owned:
            raise ValueError(f"node {node!r} is already on the ring")
        self._owned[node] = [_point(node, i) for i in range(self._vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        del self._owned[node]  # KeyError when absent, before anything changes
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        position = _hash64(key.encode("utf-8", "surrogatepass"))
        index = bisect_left(self._positions, position)
        if index == len(self._positions):
            index = 0
        return self._owners[index]
