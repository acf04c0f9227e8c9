"""Consistent-hash ring: parallel sorted arrays of positions and owners, sha256, hand-rolled search."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _pos(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode("utf-8", "surrogatepass")).digest(), "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._positions: list[int] = []
        self._owners: list[str] = []
        self._members: dict[str, list[int]] = {}
        for name in list(nodes):
            self.add_node(name)

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def _rebuild(self) -> None:
        points = sorted((p, name) for name, ps in self._members.items() for p in ps)
        self._positions = [p for p, _ in points]
        self._owners = [name for _, name in points]

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"{node!r} already on the ring")
        self._members[node] = [_pos(f"{len(node)}:{node}:{i}") for i in range(self._vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        if node not in self._members:
            raise KeyError(node)
        del self._members[node]
        self._rebuild()

    def get_node(self, key: str) -> str:
        n = len(self._positions)
        if n == 0:
            raise LookupError("empty ring")
        target = _pos(key)
        lo, hi = 0, n
        while lo < hi:  # first index with position >= target
            mid = (lo + hi) // 2
            if self._positions[mid] < target:
                lo = mid + 1
            else:
                hi = mid
        return self._owners[lo if lo < n else 0]
