"""LRU cache: a dict of key -> node in a hand-made doubly linked list with sentinels."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key: Any = None, value: Any = None) -> None:
        self.key = key
        self.value = value
        self.prev: _Node | None = None
        self.next: _Node | None = None


def _at_least_one(number) -> bool:
    """False for anything below 1 and for NaN of every type (a Decimal NaN raises on >=)."""
    try:
        return number >= 1
    except ArithmeticError:
        return False


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if not _at_least_one(capacity):
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._map: dict[Hashable, _Node] = {}
        # head.next is the most recently used, tail.prev the least recently used
        self._head = _Node()
        self._tail = _Node()
        self._head.next = self._tail
        self._tail.prev = self._head

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        node.prev = self._head
        node.next = self._head.next
        self._head.next.prev = node
        self._head.next = node

    def get(self, key: Hashable) -> Any | None:
        node = self._map.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value

    def put(self, key: Hashable, value: Any) -> None:
        node = self._map.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return
        node = _Node(key, value)
        self._map[key] = node
        self._push_front(node)
        if len(self._map) > self._capacity:
            oldest = self._tail.prev
            self._unlink(oldest)
            del self._map[oldest.key]

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._map
