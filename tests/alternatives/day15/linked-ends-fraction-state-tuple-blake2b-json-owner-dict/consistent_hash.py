from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class ConsistentHashRing:
    """Sorted int positions plus a dict position -> owner; points labelled by JSON pairs."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._owner: dict[int, str] = {}
        self._positions: list[int] = []
        self._points_of: dict[str, list[int]] = {}
        for node in list(nodes):
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of)

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        mine = [_point(json.dumps([node, i])) for i in range(self._vnodes)]
        self._points_of[node] = mine
        for pos in mine:
            self._owner[pos] = node
            bisect.insort(self._positions, pos)

    def remove_node(self, node: str) -> None:
        mine = self._points_of.pop(node)
        gone = set(mine)
        for pos in mine:
            del self._owner[pos]
        self._positions = [p for p in self._positions if p not in gone]

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("no nodes on the ring")
        i = bisect.bisect_left(self._positions, _point(json.dumps(key)))
        if i == len(self._positions):
            i = 0
        return self._owner[self._positions[i]]
