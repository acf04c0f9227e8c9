"""Consistent hash ring: position -> node map plus a sorted position array, blake2b."""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left
from collections.abc import Iterable


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._owner: dict[int, str] = {}
        self._points: dict[str, list[int]] = {}
        self._sorted: list[int] = []
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._points)

    def _vnode_positions(self, node: str) -> list[int]:
        raw = node.encode("utf-8", "surrogatepass")
        return [_hash(raw + b"\x00" + struct.pack(">I", i)) for i in range(self._vnodes)]

    def _rebuild(self) -> None:
        self._owner = {}
        for node in sorted(self._points):
            for pos in self._points[node]:
                self._owner.setdefault(pos, node)
        self._sorted = sorted(self._owner)

    def add_node(self, node: str) -> None:
        if node in self._points:
            raise ValueError(f"{node!r} is already on the ring")
        self._points[node] = self._vnode_positions(node)
        self._rebuild()

    def remove_node(self, node: str) -> None:
        del self._points[node]  # KeyError for an absent node
        self._rebuild()

    def get_node(self, key: str) -> str:
        if not self._sorted:
            raise LookupError("empty ring")
        idx = bisect_left(self._sorted, _hash(key.encode("utf-8", "surrogatepass")))
        if idx == len(self._sorted):
            idx = 0
        return self._owner[self._sorted[idx]]
