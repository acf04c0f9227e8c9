from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Iterable


class ConsistentHashRing:
    """Points live in a dict position -> node; the sorted positions are rebuilt lazily."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._owner: dict[int, str] = {}
        self._members: dict[str, list[int]] = {}
        self._sorted: list[int] = []
        self._dirty = False
        for node in nodes:
            self.add_node(node)

    @staticmethod
    def _hash(text: str) -> int:
        return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(node)
        positions = [self._hash(json.dumps([node, i])) for i in range(self._vnodes)]
        self._members[node] = positions
        for p in positions:
            self._owner[p] = node
        self._dirty = True

    def remove_node(self, node: str) -> None:
        positions = self._members.pop(node)
        for p in positions:
            if self._owner.get(p) == node:
                del self._owner[p]
        self._dirty = True

    def get_node(self, key: str) -> str:
        if self._dirty:
            self._sorted = sorted(self._owner)
            self._dirty = False
        if not self._sorted:
            raise LookupError("empty ring")
        i = bisect_left(self._sorted, self._hash(key))
        if i == len(self._sorted):
            i = 0
        return self._owner[self._sorted[i]]
