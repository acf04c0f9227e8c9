"""Consistent hashing with parallel sorted arrays of positions and owners."""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from hashlib import blake2b


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._owned: dict[str, list[int]] = {}
        self._positions: list[int] = []
        self._owners: list[str] = []
        for node in nodes:
            self.add_node(node)

    @staticmethod
    def _hash(data: bytes) -> int:
        return int.from_bytes(blake2b(data, digest_size=8).digest(), "little")

    def _vnode_position(self, node: str, i: int) -> int:
        raw = node.encode("utf-8", "surrogatepass")
        return self._hash(len(raw).to_bytes(4, "little") + raw + i.to_bytes(8, "little"))

    def _rebuild(self) -> None:
        points = sorted((pos, node) for node, positions in self._owned.items() for pos in positions)
        self._positions = [pos for pos, _ in points]
        self._owners = [node for _, node in points]

    @property
    def nodes(self) -> set[str]:
        return set(self._owned)

    def add_node(self, node: str) -> None:
        if node in self._owned:
            raise ValueError(f"{node!r} is already on the ring")
        self._owned[node] = [self._vnode_position(node, i) for i in range(self.vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        self._owned.pop(node)
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect_left(self._positions, self._hash(key.encode("utf-8", "surrogatepass")))
        return self._owners[i % len(self._owners)]
