from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _position(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _text(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._points: list[tuple[int, str]] = []
        self._names: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._names)

    def _node_points(self, node: str) -> list[tuple[int, str]]:
        raw = _text(node)
        prefix = len(raw).to_bytes(8, "big") + raw
        return [(_position(prefix + i.to_bytes(8, "big")), node) for i in range(self._vnodes)]

    def add_node(self, node: str) -> None:
        if node in self._names:
            raise ValueError(f"node {node!r} is already on the ring")
        new_points = self._node_points(node)
        for p in new_points:
            bisect.insort(self._points, p)
        self._names.add(node)

    def remove_node(self, node: str) -> None:
        if node not in self._names:
            raise KeyError(node)
        self._points = [p for p in self._points if p[1] != node]
        self._names.discard(node)

    def get_node(self, key: str) -> str:
        if not self._points:
            raise LookupError("the ring has no nodes")
        pos = _position(_text(key))
        i = bisect.bisect_left(self._points, (pos,))
        return self._points[i % len(self._points)][1]
