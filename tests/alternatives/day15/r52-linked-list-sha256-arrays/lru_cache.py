"""LRU cache: a dict of key -> node in a doubly linked list with a sentinel."""

from __future__ import annotations

import math
from collections.abc import Hashable
from numbers import Integral
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
        if isinstance(capacity, str):
            raise TypeError("capacity must be a number, not text")
        if isinstance(capacity, Integral) or hasattr(capacity, "__index__"):
            limit = int(capacity)
            if limit < 1:
                raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        else:
            try:
                too_small = not capacity >= 1
            except ArithmeticError:  # Decimal('NaN') >= 1 raises InvalidOperation
                too_small = True
            if too_small:
                raise ValueError(f"capacity must be at least 1 and not NaN, got {capacity!r}")
            limit = math.inf if capacity == math.inf else math.floor(capacity)
        self._limit = limit
        self._map: dict = {}
        self._head = _Node()  # head.next is the most recent, head.prev the least recent

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
        if len(self._map) > self._limit:
            oldest = self._head.prev
            self._unlink(oldest)
            del self._map[oldest.key]
            oldest.prev = oldest.next = None

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._map
