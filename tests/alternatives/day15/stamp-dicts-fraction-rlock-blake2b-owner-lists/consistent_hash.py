"""Consistent-hash ring kept as position -> owners, with a lazily rebuilt sorted index."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from hashlib import blake2b


def _hash(data: bytes) -> int:
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "little")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._points_of: dict[str, list[int]] = {}
        self._owners_at: dict[int, list[str]] = {}
        self._index: list[int] | None = []
        for node in list(nodes):
            self.add_node(node)

    def _labels(self, node: str) -> list[int]:
        # The vnode number has a fixed width, so no two (node, i) pairs share a label.
        name = node.encode("utf-8", "surrogatepass")
        return [_hash(name + b"\x00" + i.to_bytes(4, "big")) for i in range(self._vnodes)]

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of)

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        positions = self._labels(node)
        self._points_of[node] = positions
        for position in positions:
            self._owners_at.setdefault(position, []).append(node)
        self._index = None

    def remove_node(self, node: str) -> None:
        positions = self._points_of.pop(node)  # KeyError when absent
        for position in positions:
            owners = self._owners_at[position]
            owners.remove(node)
            if not owners:
                del self._owners_at[position]
        self._index = None

    def get_node(self, key: str) -> str:
        if not self._owners_at:
            raise LookupError("no nodes on the ring")
        if self._index is None:
            self._index = sorted(self._owners_at)
        i = bisect_left(self._index, _hash(key.encode("utf-8", "surrogatepass")))
        if i == len(self._index):
            i = 0
        return min(self._owners_at[self._index[i]])
