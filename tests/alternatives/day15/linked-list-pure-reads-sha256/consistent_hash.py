"""Ring as two parallel sorted lists (positions and owners), rebuilt on membership change."""
from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _h(s: str) -> int:
    return int(hashlib.sha256(s.encode("utf-8", "surrogatepass")).hexdigest()[:16], 16)


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._members: dict[str, list[int]] = {}
        self._positions: list[int] = []
        self._owners: list[str] = []
        for n in nodes:
            self.add_node(n)

    def _rebuild(self) -> None:
        points = sorted((p, n) for n, ps in self._members.items() for p in ps)
        self._positions = [p for p, _ in points]
        self._owners = [n for _, n in points]

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"node {node} exists")
        self._members[node] = [_h(f"{i}:{node}") for i in range(self._vnodes)]
        self._rebuild()

    def remove_node(self, node: str) -> None:
        del self._members[node]   # KeyError when absent
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect.bisect_left(self._positions, _h(key))
        return self._owners[i % len(self._owners)]
