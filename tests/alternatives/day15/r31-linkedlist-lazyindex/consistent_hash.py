from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable


def _where(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class ConsistentHashRing:
    """position -> names at it, plus a sorted index rebuilt lazily after a change."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._owners: dict[int, list[str]] = {}
        self._members: dict[str, list[int]] = {}
        self._index: list[int] | None = []
        for name in nodes:
            self.add_node(name)

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"node {node!r} already present")
        positions = [_where(f"{i}:{node}") for i in range(self.vnodes)]
        self._members[node] = positions
        for pos in positions:
            self._owners.setdefault(pos, []).append(node)
        self._index = None

    def remove_node(self, node: str) -> None:
        positions = self._members.pop(node)  # KeyError when absent
        for pos in positions:
            names = self._owners[pos]
            names.remove(node)
            if not names:
                del self._owners[pos]
        self._index = None

    def get_node(self, key: str) -> str:
        if self._index is None:
            self._index = sorted(self._owners)
        if not self._index:
            raise LookupError("no nodes on the ring")
        i = bisect_left(self._index, _where(key))
        if i == len(self._index):
            i = 0
        return min(self._owners[self._index[i]])
