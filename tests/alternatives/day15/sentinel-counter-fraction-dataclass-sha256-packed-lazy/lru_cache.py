"""LRU cache as a hash map of key -> node in a doubly linked list with a sentinel."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key=None, value=None):
        self.key = key
        self.value = value
        self.prev: _Node = self
        self.next: _Node = self


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if capacity != capacity or not capacity >= 1:  # != is NaN's own test and never raises, not even for a Decimal
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self._capacity = capacity
        self._index: dict[Hashable, _Node] = {}
        self._head = _Node()  # head.next is the most recent, head.prev the least recent
        self._size = 0

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        node.prev = self._head
        node.next = self._head.next
        self._head.next.prev = node
        self._head.next = node

    def get(self, key: Hashable) -> Any | None:
        node = self._index.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value

    def put(self, key: Hashable, value: Any) -> None:
        node = self._index.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return
        node = _Node(key, value)
        self._index[key] = node
        self._push_front(node)
        self._size += 1
        if self._size > self._capacity:
            oldest = self._head.prev
            self._unlink(oldest)
            del self._index[oldest.key]
            oldest.prev = oldest.next = None
            self._size -= 1

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: Hashable) -> bool:
        return key in self._index
