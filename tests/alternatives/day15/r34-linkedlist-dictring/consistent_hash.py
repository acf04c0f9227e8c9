"""Consistent-hash ring: position -> owners in a dict, a sorted index rebuilt after changes."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _hash64(text: str) -> int:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._owners: dict[int, set[str]] = {}
        self._members: dict[str, list[int]] = {}
        self._index: list[int] | None = []
        for node in list(nodes):
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def _positions(self, node: str) -> list[int]:
        # length-prefixed label: no name can extend another into the same text
        return [_hash64(f"{len(node)}:{node}:{i}") for i in range(self.vnodes)]

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"{node!r} is already on the ring")
        positions = self._positions(node)
        for pos in positions:
            self._owners.setdefault(pos, set()).add(node)
        self._members[node] = positions
        self._index = None

    def remove_node(self, node: str) -> None:
        positions = self._members.pop(node)  # KeyError when absent, before any change
        for pos in positions:
            owners = self._owners.get(pos)
            if owners is not None:
                owners.discard(node)
                if not owners:
                    del self._owners[pos]
        self._index = None

    def get_node(self, key: str) -> str:
        if not self._owners:
            raise LookupError("no nodes on the ring")
        if self._index is None:
            self._index = sorted(self._owners)
        i = bisect.bisect_left(self._index, _hash64(key))
        pos = self._index[i if i < len(self._index) else 0]
        return min(self._owners[pos])
