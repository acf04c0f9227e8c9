"""Consistent-hash ring: a sorted list of (position, node) tuples, md5 positions."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _position(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._nodes: set[str] = set()
        self._points: list[tuple[int, str]] = []
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._nodes)

    def add_node(self, node: str) -> None:
        if node in self._nodes:
            raise ValueError(f"node {node!r} is already on the ring")
        self._nodes.add(node)
        for i in range(self.vnodes):
            bisect.insort(self._points, (_position(f"{node}#{i}"), node))

    def remove_node(self, node: str) -> None:
        if node not in self._nodes:
            raise KeyError(node)
        self._nodes.remove(node)
        self._points = [point for point in self._points if point[1] != node]

    def get_node(self, key: str) -> str:
        if not self._points:
            raise LookupError("the ring has no nodes")
        i = bisect.bisect_left(self._points, (_position(key),))
        return self._points[i % len(self._points)][1]
