"""Consistent-hash ring: each node's points drawn from a PRNG seeded with its name
(random.Random seeds a str through SHA-512, so it is the same in every process)."""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left, insort
from collections.abc import Iterable


def _key_position(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class ConsistentHashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100) -> None:
        self._vnodes = vnodes
        self._owner: dict[int, str] = {}  # position -> node
        self._positions: list[int] = []  # sorted
        self._points_of: dict[str, list[int]] = {}
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> set[str]:
        return set(self._points_of)

    def add_node(self, node: str) -> None:
        if node in self._points_of:
            raise ValueError(f"{node!r} is already on the ring")
        draw = random.Random(node.encode("utf-8", "surrogatepass"))  # same seed as the str, lone surrogates too
        mine = []
        while len(mine) < self._vnodes:
            position = draw.getrandbits(64)
            if position in self._owner:
                continue  # taken (astronomically rare): draw the next one
            self._owner[position] = node
            insort(self._positions, position)
            mine.append(position)
        self._points_of[node] = mine

    def remove_node(self, node: str) -> None:
        mine = self._points_of.pop(node)
        for position in mine:
            del self._owner[position]
            del self._positions[bisect_left(self._positions, position)]

    def get_node(self, key: str) -> str:
        if not self._positions:
            raise LookupError("empty ring")
        i = bisect_left(self._positions, _key_position(key))
        if i == len(self._positions):
            i = 0
        return self._owner[self._positions[i]]
