"""Consistent-hash ring: per-node point lists, a lazily rebuilt sorted index, sha256 positions."""

from __future__ import annotations

import hashlib
import operator
from bisect import bisect_left
from collections.abc import Iterable


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _position(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


def _point_label(node: str, i: int) -> bytes:
    name = _utf8(node)
    # length-prefixed name, fixed-width index: no two (node, i) pairs share a label
    return len(name).to_bytes(8, "big") + name + i.to_bytes(8, "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = operator.index(vnodes)
        self._points_of: dict[str, list[int]] = {}
        self._positions: list[int] = []
        self._owners: list[str] = []
        self._stale = False
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of)

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        points = [_position(_point_label(node, i)) for i in range(self._vnodes)]
        self._points_of[node] = points
        self._stale = True

    def remove_node(self, node: str) -> None:
        if node not in self._points_of:
            raise KeyError(node)
        del self._points_of[node]
        self._stale = True

    def _index(self) -> None:
        if self._stale:
            pairs = sorted((pos, node) for node, points in self._points_of.items() for pos in points)
            self._positions = [pos for pos, _ in pairs]
            self._owners = [node for _, node in pairs]
            self._stale = False

    def get_node(self, key: str) -> str:
        self._index()
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect_left(self._positions, _position(_utf8(key)))
        return self._owners[i % len(self._owners)]
