"""LRU as a hash map of key -> node in a doubly linked list with two sentinels."""
from __future__ import annotations

from collections.abc import Hashable
from typing import Any
from decimal import Decimal


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key=None, value=None):
        self.key = key
        self.value = value
        self.prev: _Node | None = None
        self.next: _Node | None = None


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if (isinstance(capacity, Decimal) and capacity.is_nan()) or not capacity >= 1:
            raise ValueError("capacity must be >= 1")
        self._cap = capacity
        self._map: dict = {}
        self._head = _Node()  # most recent side
        self._tail = _Node()  # least recent side
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
        if len(self._map) > self._cap:
            oldest = self._tail.prev
            self._unlink(oldest)
            del self._map[oldest.key]

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._map
