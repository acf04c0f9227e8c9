"""LRU cache as a dict of key -> node in a doubly linked list with two sentinels."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key=None, value=None):
        self.key = key
        self.value = value
        self.prev = None
        self.next = None


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, str):
            raise TypeError("capacity must be a number, not text")
        try:
            if capacity != capacity or not capacity >= 1:  # NaN fails every comparison
                raise ValueError(f"capacity must be a number of at least 1, got {capacity!r}")
        except ArithmeticError as exc:  # a Decimal NaN refuses to be ordered
            raise ValueError(f"capacity {capacity!r} is not a number") from exc
        # at least 1, so truncating is rounding down; infinity means no limit
        self._capacity = None if capacity == math.inf else int(capacity)
        self._map: dict = {}
        self._head = _Node()  # most recently used follows head
        self._tail = _Node()  # least recently used precedes tail
        self._head.next = self._tail
        self._tail.prev = self._head

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        first = self._head.next
        node.prev = self._head
        node.next = first
        first.prev = node
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
        if self._capacity is not None and len(self._map) > self._capacity:
            oldest = self._tail.prev
            self._unlink(oldest)
            del self._map[oldest.key]
            oldest.prev = oldest.next = None

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._map
