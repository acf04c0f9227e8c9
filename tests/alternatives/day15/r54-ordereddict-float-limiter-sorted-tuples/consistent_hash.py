"""Consistent-hash ring: a sorted list of (position, node) points searched with bisect."""
from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _position(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        if vnodes < 1:
            raise ValueError("vnodes must be at least 1")
        self._vnodes = int(vnodes)
        self._points: list[tuple[int, str]] = []
        self._nodes: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._nodes)

    def add_node(self, node: str) -> None:
        if node in self._nodes:
            raise ValueError(f"node {node!r} is already on the ring")
        # the node name never holds the last '#', so labels of different nodes never coincide
        self._points.extend((_position(f"{node}#{i}"), node) for i in range(self._vnodes))
        self._points.sort()
        self._nodes.add(node)

    def remove_node(self, node: str) -> None:
        if node not in self._nodes:
            raise KeyError(node)
        self._points = [point for point in self._points if point[1] != node]
        self._nodes.discard(node)

    def get_node(self, key: str) -> str:
        if not self._points:
            raise LookupError("the ring has no nodes")
        index = bisect.bisect_left(self._points, (_position(key),)) % len(self._points)
        return self._points[index][1]
