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
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._data: OrderedDict = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        if key not in self._data:
            return None
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data
