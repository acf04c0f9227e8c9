"""Consistent hashing: per-node point lists, a sorted index rebuilt lazily after every change."""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left
from collections.abc import Iterable


def _digest64(data: bytes) -> int:
    return struct.unpack(">Q", hashlib.sha256(data).digest()[:8])[0]


def _point(node: str, replica: int) -> int:
    raw = node.encode("utf-8", "surrogatepass")
    return _digest64(struct.pack(">I", len(raw)) + raw + struct.pack(">I", replica))


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._points_of: dict[str, list[int]] = {}
        self._index: tuple[list[int], list[str]] | None = None
        for name in nodes:
            self.add_node(name)

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of.keys())

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        self._points_of[node] = [_point(node, r) for r in range(self._vnodes)]
        self._index = None

    def remove_node(self, node: str) -> None:
        del self._points_of[node]  # KeyError when absent
        self._index = None

    def _sorted(self) -> tuple[list[int], list[str]]:
        if self._index is None:
            pairs = sorted((p, n) for n, ps in self._points_of.items() for p in ps)
            self._index = ([p for p, _ in pairs], [n for _, n in pairs])
        return self._index

    def get_node(self, key: str) -> str:
        positions, owners = self._sorted()
        if not positions:
            raise LookupError("no nodes on the ring")
        where = bisect_left(positions, _digest64(key.encode("utf-8", "surrogatepass")))
        return owners[where % len(owners)]
