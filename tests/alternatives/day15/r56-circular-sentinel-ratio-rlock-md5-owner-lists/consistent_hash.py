"""Consistent-hash ring: md5 positions, dict position -> nodes, sorted position list."""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left, insort
from collections.abc import Iterable


def _pos(data: bytes) -> int:
    return struct.unpack(">Q", hashlib.md5(data).digest()[:8])[0]


def _text(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes.__index__()
        self._owners: dict[int, list[str]] = {}
        self._ring: list[int] = []
        self._members: dict[str, list[int]] = {}
        for n in nodes:
            self.add_node(n)

    @property
    def nodes(self) -> set[str]:
        return set(self._members)

    def _points_of(self, node: str) -> list[int]:
        name = _text(node)
        prefix = struct.pack(">Q", len(name)) + name  # length prefix: no name extends another
        return [_pos(prefix + struct.pack(">Q", i)) for i in range(self.vnodes)]

    def add_node(self, node: str) -> None:
        if node in self._members:
            raise ValueError(f"{node!r} already on the ring")
        points = self._points_of(node)
        for p in points:
            owners = self._owners.get(p)
            if owners is None:
                self._owners[p] = [node]
                insort(self._ring, p)
            else:
                insort(owners, node)
        self._members[node] = points

    def remove_node(self, node: str) -> None:
        points = self._members.pop(node)  # KeyError when absent, nothing changed
        gone = set()
        for p in points:
            owners = self._owners[p]
            owners.remove(node)
            if not owners:
                del self._owners[p]
                gone.add(p)
        if gone:
            self._ring = [p for p in self._ring if p not in gone]

    def get_node(self, key: str) -> str:
        if not self._ring:
            raise LookupError("empty ring")
        i = bisect_left(self._ring, _pos(_text(key)))
        if i == len(self._ring):
            i = 0
        return self._owners[self._ring[i]][0]
