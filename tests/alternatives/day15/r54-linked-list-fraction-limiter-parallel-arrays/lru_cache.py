"""LRU cache: a dict of key -> node in a doubly linked list with a sentinel."""
from __future__ import annotations

import math
from decimal import Decimal
from collections.abc import Hashable
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
            raise TypeError("capacity must be a number")
        if isinstance(capacity, Decimal) and capacity.is_nan():
            raise ValueError("capacity must not be NaN")
        if capacity != capacity:
            raise ValueError("capacity must not be NaN")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._limit = math.inf if capacity == math.inf else math.floor(capacity)
        self._map: dict = {}
        self._head = _Node()  # head.next is the most recent, head.prev the least recent

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        head = self._head
        node.prev = head
        node.next = head.next
        head.next.prev = node
        head.next = node

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
