from __future__ import annotations

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
    """dict of key -> node in a doubly linked list; head.next is the most recent, tail.prev the oldest."""

    def __init__(self, capacity: int) -> None:
        if capacity != capacity or capacity < 1:
            raise ValueError("capacity must be a whole number of at least 1")
        self.capacity = capacity
        self.map: dict = {}
        self.head = _Node()
        self.tail = _Node()
        self.head.next = self.tail
        self.tail.prev = self.head
        self.size = 0

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        node.prev = self.head
        node.next = self.head.next
        self.head.next.prev = node
        self.head.next = node

    def get(self, key: Hashable) -> Any | None:
        node = self.map.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value

    def put(self, key: Hashable, value: Any) -> None:
        node = self.map.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return
        node = _Node(key, value)
        self.map[key] = node
        self._push_front(node)
        self.size += 1
        if self.size > self.capacity:
            oldest = self.tail.prev
            self._unlink(oldest)
            del self.map[oldest.key]
            oldest.key = oldest.value = oldest.prev = oldest.next = None
            self.size -= 1

    def __len__(self) -> int:
        return self.size

    def __contains__(self, key: Hashable) -> bool:
        return key in self.map
