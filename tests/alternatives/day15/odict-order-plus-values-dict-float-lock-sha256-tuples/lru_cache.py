"""LRU cache: values in a plain dict, recency in an OrderedDict of keys."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


def _at_least_one(number) -> bool:
    """False for anything below 1 and for NaN of every type (a Decimal NaN raises on >=)."""
    try:
        return number >= 1
    except ArithmeticError:
        return False


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if not _at_least_one(capacity):
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        self._capacity = capacity
        self._values: dict = {}
        self._order: OrderedDict = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        if key not in self._order:
            return None
        self._order.move_to_end(key)
        return self._values[key]

    def put(self, key: Hashable, value: Any) -> None:
        self._values[key] = value
        self._order[key] = None
        self._order.move_to_end(key)
        if len(self._order) > self._capacity:
            oldest, _ = self._order.popitem(last=False)
            del self._values[oldest]

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._order
