"""Consistent-hash ring: a sorted list of (position, node) tuples, blake2b positions."""

from __future__ import annotations

import bisect
import hashlib
import operator
from collections.abc import Iterable


def _position(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = operator.index(vnodes)
        self._names: set[str] = set()
        self._points: list[tuple[int, str]] = []
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._names)

    def add_node(self, node: str) -> None:
        if node in self._names:
            raise ValueError(f"node {node!r} is already on the ring")
        new = [(_position(f"{node}#{i}"), node) for i in range(self._vnodes)]
        self._names.add(node)
        self._points.extend(new)
        self._points.sort()

    def remove_node(self, node: str) -> None:
        if node not in self._names:
            raise KeyError(node)
        self._names.discard(node)
        self._points = [p for p in self._points if p[1] != node]

    def get_node(self, key: str) -> str:
        if not self._points:
            raise LookupError("the ring has no nodes")
        i = bisect.bisect_left(self._points, (_position(key),))
        if i == len(self._points):
            i = 0
        return self._points[i][1]
