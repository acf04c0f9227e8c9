from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable


class ConsistentHashRing:
    """Points kept in a dict position -> node; the sorted index is rebuilt lazily after a change."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._owner: dict[int, str] = {}
        self._points_of: dict[str, list[int]] = {}
        self._sorted: list[int] | None = []
        for node in list(nodes):
            self.add_node(node)

    @staticmethod
    def _hash(label: str) -> int:
        return int(hashlib.md5(label.encode("utf-8", "surrogatepass")).hexdigest()[:16], 16)

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of.keys())

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        points = [self._hash(json.dumps([node, i])) for i in range(self.vnodes)]
        self._points_of[node] = points
        for p in points:
            self._owner[p] = node
        self._sorted = None

    def remove_node(self, node: str) -> None:
        points = self._points_of.pop(node)  # KeyError when absent
        for p in points:
            if self._owner.get(p) == node:
                del self._owner[p]
        self._sorted = None

    def get_node(self, key: str) -> str:
        if not self._owner:
            raise LookupError("no nodes on the ring")
        if self._sorted is None:
            self._sorted = sorted(self._owner)
        i = bisect.bisect_left(self._sorted, self._hash(key))
        if i == len(self._sorted):
            i = 0
        return self._owner[self._sorted[i]]
