"""LRU cache: dict of key -> node in a doubly linked list with a sentinel."""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable
from decimal import Decimal
from typing import Any


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key: Any = None, value: Any = None) -> None:
        self.key = key
        self.value = value
        self.prev: _Node = self
        self.next: _Node = self


def _is_nan(x: Any) -> bool:
    try:
        return x != x  # NaN of every type is unequal to itself
    except Exception:
        return False


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, str) or not isinstance(capacity, (numbers.Number, Decimal)) and not hasattr(capacity, "__float__"):
            raise TypeError("capacity must be a number")
        if isinstance(capacity, Decimal) and capacity.is_nan():
            raise ValueError("capacity is NaN")
        if _is_nan(capacity):
            raise ValueError("capacity is NaN")
        if hasattr(capacity, "__index__"):
            limit: float = capacity.__index__()
        else:
            as_float = float(capacity)
            if math.isnan(as_float):
                raise ValueError("capacity is NaN")
            limit = math.inf if as_float == math.inf else math.floor(capacity if isinstance(capacity, (Decimal, numbers.Rational)) else as_float)
        if limit < 1:
            raise ValueError("capacity must be >= 1")
        self._limit = limit
        self._map: dict[Hashable, _Node] = {}
        self._head = _Node()  # head.next is the oldest, head.prev the newest

    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _append(self, node: _Node) -> None:
        last = self._head.prev
        last.next = node
        node.prev = last
        node.next = self._head
        self._head.prev = node

    def get(self, key: Hashable) -> Any | None:
        node = self._map.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._append(node)
        return node.value

    def put(self, key: Hashable, value: Any) -> None:
        node = self._map.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._append(node)
            return
        node = _Node(key, value)
        self._map[key] = node
        self._append(node)
        if len(self._map) > self._limit:
            oldest = self._head.next
            self._unlink(oldest)
            del self._map[oldest.key]
            oldest.key = oldest.value = None
            oldest.prev = oldest.next = oldest

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._map
