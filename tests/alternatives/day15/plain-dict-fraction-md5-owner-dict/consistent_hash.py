"""Consistent hashing: dict position -> node plus a sorted list of positions, md5."""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._owner: dict[int, str] = {}
        self._points: list[int] = []
        self._names: set[str] = set()
        for n in nodes:
            self.add_node(n)

    @staticmethod
    def _hash(text: str) -> int:
        return int(hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest(), 16)

    @property
    def nodes(self) -> set[str]:
        return set(self._names)

    def add_node(self, node: str) -> None:
        if node in self._names:
            raise ValueError(node)
        self._names.add(node)
        for i in range(self.vnodes):
            self._owner[self._hash(f"{node}-{i}")] = node
        self._points = sorted(self._owner)

    def remove_node(self, node: str) -> None:
        if node not in self._names:
            raise KeyError(node)
        self._names.remove(node)
        self._owner = {p: n for p, n in self._owner.items() if n != node}
        self._points = sorted(self._owner)

    def get_node(self, key: str) -> str:
        if not self._points:
            raise LookupError("empty ring")
        i = bisect_left(self._points, self._hash(key)) % len(self._points)
        return self._owner[self._points[i]]
