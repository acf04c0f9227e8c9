"""LRU cache: dict of key -> node in a circular doubly linked list with one sentinel."""

from __future__ import annotations

from typing import Any


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key=None, value=None):
        self.key = key
        self.value = value
        self.prev = self
        self.next = self


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if capacity != capacity or not capacity >= 1:  # != is NaN's own test and never raises, not even for a Decimal
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        self._capacity = capacity
        self._index: dict = {}
        self._root = _Node()  # root.next is the most recent, root.prev the oldest

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        node.next = self._root.next
        node.prev = self._root
        self._root.next.prev = node
        self._root.next = node

    def get(self, key):
        node = self._index.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value

    def put(self, key, value: Any) -> None:
        node = self._index.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return
        node = _Node(key, value)
        self._index[key] = node
        self._push_front(node)
        if len(self._index) > self._capacity:
            oldest = self._root.prev
            self._unlink(oldest)
            del self._index[oldest.key]

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key) -> bool:
        return key in self._index
