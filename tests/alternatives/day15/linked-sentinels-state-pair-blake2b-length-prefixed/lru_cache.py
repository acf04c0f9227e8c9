"""Task 1: a least-recently-used cache, the thing in front of every feature store and model.

Contract (the tests check exactly this):
- `LRUCache(capacity)`; a capacity below 1 raises ValueError.
- `get(key)` returns the value or None, and makes the key the most recently used.
- `put(key, value)` inserts or updates, makes the key the most recently used, and
  evicts the least recently used key when the cache grows past its capacity.
- `len(cache)` counts entries; `key in cache` answers without touching recency.
- Every operation is O(1), `in` and eviction too: no scanning or copying of all keys.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key=None, value=None):
        self.key = key
        self.value = value
        self.prev: _Node | None = None
        self.next: _Node | None = None


class LRUCache:
    """dict of key -> node of a doubly linked list; head side is newest, tail side oldest."""

    def __init__(self, capacity: int) -> None:
        try:
            too_small = not capacity >= 1
        except ArithmeticError:  # Decimal('NaN') >= 1 raises InvalidOperation
            too_small = True
        if too_small:
            raise ValueError("capacity must be 1 or more")
        self.capacity = capacity
        self.index: dict = {}
        self.head = _Node()  # sentinel before the newest
        self.tail = _Node()  # sentinel after the oldest
        self.head.next, self.tail.prev = self.tail, self.head

    def _unlink(self, node: _Node) -> None:
        node.prev.next, node.next.prev = node.next, node.prev

    def _push_front(self, node: _Node) -> None:
        node.prev, node.next = self.head, self.head.next
        self.head.next.prev = node
        self.head.next = node

    def get(self, key: Hashable) -> Any | None:
        node = self.index.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value

    def put(self, key: Hashable, value: Any) -> None:
        node = self.index.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return
        node = _Node(key, value)
        self.index[key] = node
        self._push_front(node)
        if len(self.index) > self.capacity:
            oldest = self.tail.prev
            self._unlink(oldest)
            del self.index[oldest.key]

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.index
