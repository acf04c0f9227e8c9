"""Consistent hashing: two parallel sorted lists (positions, owners), sha256 positions."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _position(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._positions: list[int] = []
        self._owners: list[str] = []
        self._members: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"node {node!r} is already on the ring")
        self._members.add(node)
        for i in range(self._vnodes):
            pos = _position(f"{node}|vnode|{i}")
            at = bisect.bisect_left(self._positions, pos)
            # ties: keep (position, owner) order so lookups do not depend on insertion order
            while at < len(self._positions) and self._positions[at] == pos and self._owners[at] < node:
                at += 1
            self._positions.insert(at, pos)
            self._owners.insert(at, node)

    def remove_node(self, node: str) -> None:
        if node not in self._members:
            raise KeyError(node)
        self._members.discard(node)
        keep = [(p, o) for p, o in zip(self._positions, self._owners) if o != node]
        self._positions = [p for p, _ in keep]
        self._owners = [o for _, o in keep]

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("the ring has no nodes")
        at = bisect.bisect_left(self._positions, _position(key))
        if at == len(self._positions):
            at = 0
        return self._owners[at]
