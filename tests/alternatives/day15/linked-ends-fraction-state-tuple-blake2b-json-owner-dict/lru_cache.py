from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class _Node:
    __slots__ = ("key", "value", "older", "newer")

    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.older = None
        self.newer = None


class LRUCache:
    """A dict of key -> node plus a doubly linked list from oldest to newest."""

    def __init__(self, capacity: int) -> None:
        if capacity != capacity or not capacity >= 1:  # != is NaN's own test and never raises, not even for a Decimal
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        self._capacity = capacity
        self._index: dict = {}
        self._oldest: _Node | None = None
        self._newest: _Node | None = None

    def _unlink(self, node: _Node) -> None:
        if node.older is None:
            self._oldest = node.newer
        else:
            node.older.newer = node.newer
        if node.newer is None:
            self._newest = node.older
        else:
            node.newer.older = node.older
        node.older = node.newer = None

    def _append(self, node: _Node) -> None:
        node.older = self._newest
        node.newer = None
        if self._newest is None:
            self._oldest = node
        else:
            self._newest.newer = node
        self._newest = node

    def get(self, key: Hashable) -> Any | None:
        node = self._index.get(key)
        if node is None:
            return None
        if node is not self._newest:
            self._unlink(node)
            self._append(node)
        return node.value

    def put(self, key: Hashable, value: Any) -> None:
        node = self._index.get(key)
        if node is not None:
            node.value = value
            if node is not self._newest:
                self._unlink(node)
                self._append(node)
            return
        node = _Node(key, value)
        self._index[key] = node
        self._append(node)
        if len(self._index) > self._capacity:
            victim = self._oldest
            self._unlink(victim)
            del self._index[victim.key]

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._index
