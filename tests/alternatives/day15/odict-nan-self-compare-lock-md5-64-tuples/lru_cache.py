"""LRU cache on an OrderedDict: move_to_end and popitem(last=False) are both O(1)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any
from decimal import Decimal


class LRUCache:
    def __init__(self, capacity: int) -> None:
        if (isinstance(capacity, Decimal) and capacity.is_nan()) or not capacity >= 1:
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        self.capacity = capacity
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

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
