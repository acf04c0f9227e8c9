"""Task 1: a least-recently-used cache: a dict of key -> node in a circular doubly linked list."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key: Any = None, value: Any = None) -> None:
        self.key = key
        self.value = value
        self.prev: _Node = self
        self.next: _Node = self


class LRUCache:
    def __init__(self, capacity: int) -> None:
        try:
            too_small = not capacity >= 1
        except ArithmeticError:  # Decimal('NaN') >= 1 raises InvalidOperation
            too_small = True
        if too_small:
            raise ValueError("capacity must be 1 or more")
        self.capacity = capacity
        self._index: dict[Hashable, _Node] = {}
        self._head = _Node()  # sentinel: head.next is the most recent, head.prev the oldest
        self._size = 0

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        first = self._head.next
        node.prev, node.next = self._head, first
        first.prev = node
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
        if self._size > self.capacity:
            oldest = self._head.prev
            self._unlink(oldest)
            del self._index[oldest.key]
            self._size -= 1

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: Hashable) -> bool:
        return key in self._index
