"""Consistent-hash ring: sorted list of (position, node) and bisect."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _position(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = int(vnodes)
        self._points: list[tuple[int, str]] = []
        self._nodes: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._nodes)

    def _node_points(self, node: str) -> list[tuple[int, str]]:
        # The text after the last '#' is the number, so labels of different nodes never coincide.
        return [(_position(f"{node}#{i}"), node) for i in range(self._vnodes)]

    def add_node(self, node: str) -> None:
        if node in self._nodes:
            raise ValueError(f"node {node!r} is already on the ring")
        new_points = self._node_points(node)
        self._points = sorted(self._points + new_points)
        self._nodes.add(node)

    def remove_node(self, node: str) -> None:
        if node not in self._nodes:
            raise KeyError(node)
        self._points = [p for p in self._points if p[1] != node]
        self._nodes.discard(node)

    def get_node(self, key: str) -> str:
        if not self._points:
            raise LookupError("the ring is empty")
        i = bisect.bisect_left(self._points, (_position(key),))
        return self._points[i % len(self._points)][1]
