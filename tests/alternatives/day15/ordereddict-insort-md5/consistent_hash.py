from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _pos(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8", "surrogatepass")).digest(), "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._ring: list[tuple[int, str]] = []
        self._nodes: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._nodes)

    def add_node(self, node: str) -> None:
        if node in self._nodes:
            raise ValueError(f"{node!r} is already on the ring")
        self._nodes.add(node)
        for i in range(self.vnodes):
            bisect.insort(self._ring, (_pos(f"{node}#{i}"), node))

    def remove_node(self, node: str) -> None:
        if node not in self._nodes:
            raise KeyError(node)
        self._nodes.remove(node)
        self._ring = [p for p in self._ring if p[1] != node]

    def get_node(self, key: str) -> str:
        if not self._ring:
            raise LookupError("the ring has no nodes")
        i = bisect.bisect_left(self._ring, (_pos(key),))
        if i == len(self._ring):
            i = 0
        return self._ring[i][1]
