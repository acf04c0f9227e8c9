"""Consistent-hash ring: dict node -> positions, a sorted position array rebuilt lazily on change."""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable


def _h(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self._positions_of: dict[str, list[int]] = {}
        self._sorted: list[tuple[int, str]] | None = None
        for node in list(nodes):
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._positions_of)

    def add_node(self, node: str) -> None:
        if node in self._positions_of:
            raise ValueError(f"{node!r} already on the ring")
        raw = node.encode("utf-8", "surrogatepass")
        # length-prefix the name so no label of one node equals a label of another
        self._positions_of[node] = [
            _h(len(raw).to_bytes(4, "big") + raw + i.to_bytes(4, "big")) for i in range(self.vnodes)
        ]
        self._sorted = None

    def remove_node(self, node: str) -> None:
        del self._positions_of[node]  # KeyError when absent, nothing changed
        self._sorted = None

    def _ring(self) -> list[tuple[int, str]]:
        if self._sorted is None:
            self._sorted = sorted((p, n) for n, ps in self._positions_of.items() for p in ps)
        return self._sorted

    def get_node(self, key: str) -> str:
        ring = self._ring()
        if not ring:
            raise LookupError("empty ring")
        i = bisect_left(ring, (_h(key.encode("utf-8", "surrogatepass")),))
        if i == len(ring):
            i = 0
        return ring[i][1]
